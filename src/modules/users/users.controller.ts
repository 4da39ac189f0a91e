import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { AppError } from '../../platform/errors/app-error.js';
import { HttpCache } from '../../platform/http-cache/http-cache.js';
import type { Principal } from '../../platform/security/access-tokens.js';
import { Authenticated, RequirePermissions } from '../../platform/security/authorization.decorators.js';
import { CurrentPrincipal } from '../../platform/security/current-principal.js';
import { uuidPipe } from '../../platform/errors/validation.js';
import { validatePlain } from '../../platform/errors/validators.js';
import {
  BatchCreateResultDto,
  BatchCreateUsersDto,
  CreateUserDto,
  ListUsersQueryDto,
  LookupUserQueryDto,
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
  @RequirePermissions('users:read')
  @HttpCache({ scope: 'private' })
  @ApiOkResponse({ type: UserPageDto, description: "Users of the caller's organization (every one for platform admins). Offset mode by default; keyset mode when ?cursor= is given" })
  list(@CurrentPrincipal() caller: Principal, @Query() query: ListUsersQueryDto): Promise<UserPageDto> {
    return this.users.list(caller, query);
  }

  @Get('lookup')
  @RequirePermissions('users:read')
  @HttpCache({ scope: 'private' })
  // The email is a query parameter, not a path segment: request lines are logged without the query.
  @ApiOkResponse({ type: UserDto, description: "The user with this email, in the caller's organization (any, for platform admins)" })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND, also for users of other organizations' })
  lookup(@CurrentPrincipal() caller: Principal, @Query() query: LookupUserQueryDto): Promise<UserDto> {
    return this.users.findByEmail(caller, query.email);
  }

  @Get(':id')
  // Any signed-in user may read itself; others need users:read in the same organization (service).
  @Authenticated()
  @HttpCache({ scope: 'private' })
  @ApiOkResponse({ type: UserDto })
  @ApiForbiddenResponse({ description: 'FORBIDDEN: another user of the organization, without users:read' })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND, also for users of other organizations' })
  findOne(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<UserDto> {
    return this.users.findOne(caller, id);
  }

  @Post()
  @RequirePermissions('users:create')
  @HttpCode(201)
  @ApiCreatedResponse({ type: UserDto, description: "Created in the caller's organization unless organizationId says otherwise (platform admins only)" })
  @ApiConflictResponse({ description: 'DUPLICATE_EMAIL' })
  @ApiNotFoundResponse({ description: 'ORGANIZATION_NOT_FOUND' })
  create(@CurrentPrincipal() caller: Principal, @Body() body: CreateUserDto): Promise<UserDto> {
    return this.users.create(caller, body);
  }

  @Post('batch')
  @RequirePermissions('users:create')
  @HttpCode(207)
  @ApiResponse({ status: 207, type: BatchCreateResultDto, description: 'Per-item result: 201 with data, or the error' })
  async batchCreate(@CurrentPrincipal() caller: Principal, @Body() body: BatchCreateUsersDto): Promise<BatchCreateResultDto> {
    // Items are validated one by one so a bad item fails alone instead of failing the batch.
    const items = await Promise.all(
      body.users.map(async (plain) => {
        const checked = await validatePlain(CreateUserDto, plain);
        return checked.value ? { input: checked.value } : { error: AppError.validation(checked.problems) };
      }),
    );
    return this.users.batchCreate(caller, items);
  }

  @Patch(':id')
  // Any signed-in user may update itself; others need users:update in the same organization, and
  // role, status and organizationId need users:manage-roles (service).
  @Authenticated()
  @ApiOkResponse({ type: UserDto })
  @ApiForbiddenResponse({ description: 'FORBIDDEN: role, status or organizationId without users:manage-roles, or another user without users:update' })
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND (also for users of other organizations) or ORGANIZATION_NOT_FOUND' })
  @ApiConflictResponse({ description: 'DUPLICATE_EMAIL' })
  update(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string, @Body() body: UpdateUserDto): Promise<UserDto> {
    return this.users.update(caller, id, body);
  }

  @Delete(':id')
  @RequirePermissions('users:delete')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'USER_NOT_FOUND, also for users of other organizations' })
  async remove(@CurrentPrincipal() caller: Principal, @Param('id', uuidPipe) id: string): Promise<void> {
    await this.users.delete(caller, id);
  }
}
