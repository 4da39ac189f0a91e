import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import type { UserRole, UserStatus } from '../../platform/database/database.types.js';
import { USER_ROLES, USER_STATUSES } from '../users/users.dto.js';

export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class UserExportFiltersDto {
  @ApiPropertyOptional({ enum: USER_STATUSES })
  @IsOptional()
  @IsIn(USER_STATUSES)
  status?: UserStatus;

  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ description: 'Users whose email contains this text (case-insensitive)', maxLength: 254 })
  @IsOptional()
  @IsString()
  @MaxLength(254)
  email?: string;
}

export class CreateExportDto {
  @ApiProperty({ enum: ['users'] })
  @IsIn(['users'])
  resource!: 'users';

  @ApiProperty({ enum: EXPORT_FORMATS })
  @IsIn(EXPORT_FORMATS)
  format!: ExportFormat;

  @ApiPropertyOptional({ type: UserExportFiltersDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UserExportFiltersDto)
  filters?: UserExportFiltersDto;
}

export class ExportDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ['users'] }) resource!: 'users';
  @ApiProperty({ enum: EXPORT_FORMATS }) format!: ExportFormat;
  @ApiProperty({ type: UserExportFiltersDto }) filters!: UserExportFiltersDto;
  @ApiProperty({ enum: ['queued', 'running', 'completed', 'failed'] }) status!: 'queued' | 'running' | 'completed' | 'failed';
  @ApiProperty({ minimum: 0, maximum: 100, description: 'Percent of the matching rows written so far' }) progress!: number;
  @ApiProperty({ description: 'Rows written' }) rowCount!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) completedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'Where to download the file once completed' }) downloadUrl!: string | null;
}
