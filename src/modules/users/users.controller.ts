import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { AppError } from '../../platform/errors/app-error.js';
import { uuidPipe } from '../../platform/errors/validation.js';
import { validatePlain } from '../../platform/errors/validators.js';
import {
  BatchCreateResultDto,
  BatchCreateUsersDto,
  CreateUserDto,
  ListUsersQueryDto,
  UpdateUserDto,
  UserDto,
  UserPageDto,
} from './users.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBadRequestResponse({ description: 'VALIDATION_FAILED, with one detail per field' })
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOkResponse({ type: UserPageDto, description: 'Offset mode by default; keyset mode when ?cursor= is given' })
  list(@Query() query: ListUsersQueryDto): Promise<UserPageDto> {
    return this.users.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND' })
  findOne(@Param('id', uuidPipe) id: string): Promise<UserDto> {
    return this.users.findById(id);
  }

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: UserDto })
  @ApiConflictResponse({ description: 'DUPLICATE_EMAIL' })
  @ApiNotFoundResponse({ description: 'ORGANIZATION_NOT_FOUND' })
  create(@Body() body: CreateUserDto): Promise<UserDto> {
    return this.users.create(body);
  }

  @Post('batch')
  @HttpCode(207)
  @ApiResponse({ status: 207, type: BatchCreateResultDto, description: 'Per-item result: 201 with data, or the error' })
  async batchCreate(@Body() body: BatchCreateUsersDto): Promise<BatchCreateResultDto> {
    // Items are validated one by one so a bad item fails alone instead of failing the batch.
    const items = await Promise.all(
      body.users.map(async (plain) => {
        const checked = await validatePlain(CreateUserDto, plain);
        return checked.value ? { input: checked.value } : { error: AppError.validation(checked.problems) };
      }),
    );
    return this.users.batchCreate(items);
  }

  @Patch(':id')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND or ORGANIZATION_NOT_FOUND' })
  @ApiConflictResponse({ description: 'DUPLICATE_EMAIL' })
  update(@Param('id', uuidPipe) id: string, @Body() body: UpdateUserDto): Promise<UserDto> {
    return this.users.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND' })
  async remove(@Param('id', uuidPipe) id: string): Promise<void> {
    await this.users.delete(id);
  }
}
