import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsEmail,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  IsUrl,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
  ValidateIf,
} from 'class-validator';
import { PAGE_SIZE } from '../../platform/database/pagination.js';
import type { UserRole, UserStatus } from '../../platform/database/database.types.js';
import { HasNoNulCharacter, IsOptionalNotNull, IsSmallJsonObject } from '../../platform/errors/validators.js';

export const USER_STATUSES: readonly UserStatus[] = ['pending', 'active', 'inactive', 'suspended'];
export const USER_ROLES: readonly UserRole[] = ['user', 'moderator', 'admin'];

/** Sort fields a client may name; anything else is refused (never interpolated into SQL). */
export const USER_SORT_FIELDS = ['createdAt', 'updatedAt', 'email', 'name'] as const;
export type UserSortField = (typeof USER_SORT_FIELDS)[number];
export const USER_SORTS = USER_SORT_FIELDS.flatMap((field) => [field, `-${field}`]);

export class UserProfileInput {
  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @HasNoNulCharacter()
  @MaxLength(200)
  @IsString()
  displayName?: string;

  @ApiPropertyOptional({ maxLength: 2000 })
  @IsOptional()
  @HasNoNulCharacter()
  @MaxLength(2000)
  @IsString()
  bio?: string;

  @ApiPropertyOptional({ maxLength: 2048, example: 'https://example.com/avatar.png' })
  @IsOptional()
  // IsUrl lets U+0000 through in the path.
  @HasNoNulCharacter()
  @MaxLength(2048)
  @IsUrl({ protocols: ['https'], require_protocol: true })
  avatarUrl?: string;

  @ApiPropertyOptional({ example: 'en-GB' })
  @IsOptional()
  @Matches(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/, { message: 'locale must be a BCP 47 language tag' })
  locale?: string;

  @ApiPropertyOptional({ example: 'Europe/Berlin' })
  @IsOptional()
  @Matches(/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+){0,2}$/, { message: 'timezone must be an IANA time zone name' })
  timezone?: string;
}

export class CreateUserDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254 })
  @MaxLength(254)
  @IsEmail({}, { message: 'email must be a valid email address' })
  email!: string;

  @ApiProperty({ example: 'Ada Lovelace', minLength: 1, maxLength: 200 })
  @HasNoNulCharacter()
  @Length(1, 200)
  @IsString()
  name!: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  organizationId?: string;

  @ApiPropertyOptional({ enum: USER_ROLES, default: 'user' })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ enum: USER_STATUSES, default: 'pending' })
  @IsOptional()
  @IsIn(USER_STATUSES)
  status?: UserStatus;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form JSON, at most 8 KiB' })
  @IsOptional()
  @IsSmallJsonObject()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ type: () => UserProfileInput })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UserProfileInput)
  profile?: UserProfileInput;
}

export class UpdateUserDto {
  // IsOptionalNotNull: null would reach a NOT NULL column; only organizationId may be cleared.
  @ApiPropertyOptional({ maxLength: 254 })
  @IsOptionalNotNull()
  @MaxLength(254)
  @IsEmail({}, { message: 'email must be a valid email address' })
  email?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IsOptionalNotNull()
  @HasNoNulCharacter()
  @Length(1, 200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ format: 'uuid', nullable: true, description: 'null removes the user from its organization' })
  @ValidateIf((_, value) => value !== null && value !== undefined)
  @IsUUID()
  organizationId?: string | null;

  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptionalNotNull()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ enum: USER_STATUSES })
  @IsOptionalNotNull()
  @IsIn(USER_STATUSES)
  status?: UserStatus;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Replaces the whole metadata object' })
  @IsOptionalNotNull()
  @IsSmallJsonObject()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ type: () => UserProfileInput, description: 'Fields given replace the stored ones' })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => UserProfileInput)
  profile?: UserProfileInput;
}

export class ListUsersQueryDto {
  @ApiPropertyOptional({ enum: USER_STATUSES })
  @IsOptional()
  @IsIn(USER_STATUSES)
  status?: UserStatus;

  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  organizationId?: string;

  @ApiPropertyOptional({ description: 'Case-insensitive substring of the email', maxLength: 254 })
  @IsOptional()
  @HasNoNulCharacter()
  @Length(1, 254)
  @IsString()
  email?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'created at or after (inclusive)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  createdFrom?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'created before (exclusive)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  createdTo?: string;

  @ApiPropertyOptional({ enum: USER_SORTS, default: '-createdAt', description: 'A leading - sorts descending' })
  @IsOptional()
  @IsIn(USER_SORTS)
  sort?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: PAGE_SIZE.max, default: PAGE_SIZE.default })
  @IsOptional()
  @Type(() => Number)
  @Max(PAGE_SIZE.max)
  @Min(1)
  @IsInt()
  limit?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 10000, default: 1, description: 'Offset mode page; not with cursor' })
  @IsOptional()
  @Type(() => Number)
  @Max(10000)
  @Min(1)
  @IsInt()
  page?: number;

  @ApiPropertyOptional({ description: 'Keyset mode: empty for the first page, then meta.nextCursor' })
  @IsOptional()
  @MaxLength(2048)
  @IsString()
  cursor?: string;
}

export class LookupUserQueryDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254, description: 'Exact email, case-insensitive' })
  @MaxLength(254)
  @IsEmail({}, { message: 'email must be a valid email address' })
  email!: string;
}

export class BatchCreateUsersDto {
  @ApiProperty({ type: () => [CreateUserDto], minItems: 1, maxItems: 100, description: 'Each item is validated on its own' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsObject({ each: true, message: 'each item in users must be an object' })
  users!: Record<string, unknown>[];
}

export class UserProfileDto {
  @ApiProperty({ nullable: true, type: String }) displayName!: string | null;
  @ApiProperty({ nullable: true, type: String }) bio!: string | null;
  @ApiProperty({ nullable: true, type: String }) avatarUrl!: string | null;
  @ApiProperty({ nullable: true, type: String }) locale!: string | null;
  @ApiProperty({ nullable: true, type: String }) timezone!: string | null;
}

export class UserDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() email!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: USER_STATUSES }) status!: UserStatus;
  @ApiProperty({ enum: USER_ROLES }) role!: UserRole;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) organizationId!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata!: Record<string, unknown>;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) emailVerifiedAt!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastLoginAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ type: () => UserProfileDto, nullable: true }) profile!: UserProfileDto | null;
}

export class PageMetaDto {
  @ApiProperty() limit!: number;
  @ApiProperty() hasNext!: boolean;
  @ApiPropertyOptional({ description: 'Offset mode only' }) total?: number;
  @ApiPropertyOptional({ description: 'Offset mode only' }) page?: number;
  @ApiProperty({ nullable: true, type: String, description: 'Pass as ?cursor= for the next page' })
  nextCursor!: string | null;
}

export class UserPageDto {
  @ApiProperty({ type: () => [UserDto] }) data!: UserDto[];
  @ApiProperty({ type: () => PageMetaDto }) meta!: PageMetaDto;
}

export class BatchItemErrorDto {
  @ApiProperty() code!: string;
  @ApiProperty() message!: string;
  @ApiPropertyOptional() details?: unknown;
}

export class BatchItemResultDto {
  @ApiProperty() index!: number;
  @ApiProperty({ example: 201 }) status!: number;
  @ApiPropertyOptional({ type: () => UserDto }) data?: UserDto;
  @ApiPropertyOptional({ type: () => BatchItemErrorDto }) error?: BatchItemErrorDto;
}

export class BatchSummaryDto {
  @ApiProperty() total!: number;
  @ApiProperty() succeeded!: number;
  @ApiProperty() failed!: number;
}

export class BatchCreateResultDto {
  @ApiProperty({ type: () => [BatchItemResultDto] }) results!: BatchItemResultDto[];
  @ApiProperty({ type: () => BatchSummaryDto }) summary!: BatchSummaryDto;
}
