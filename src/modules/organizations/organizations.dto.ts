import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches } from 'class-validator';
import { HasNoNulCharacter } from '../../platform/errors/validators.js';

export class CreateOrganizationDto {
  @ApiProperty({ example: 'Acme Corporation', minLength: 1, maxLength: 200 })
  @HasNoNulCharacter()
  @Length(1, 200)
  @IsString()
  name!: string;

  @ApiProperty({ example: 'acme', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'slug must be lowercase letters, digits and dashes, at most 63' })
  slug!: string;
}

export class OrganizationDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() slug!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class OrganizationStatsDto {
  @ApiProperty({ format: 'uuid' }) organizationId!: string;
  @ApiProperty() totalUsers!: number;
  @ApiProperty() activeUsers!: number;
  @ApiProperty() inactiveUsers!: number;
  @ApiProperty() pendingUsers!: number;
  @ApiProperty() suspendedUsers!: number;
  @ApiProperty({ description: 'Users created in the last 30 days' }) newUsers30d!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Mean seconds from sign-up to first login; null when nobody has logged in' })
  avgSecondsToFirstLogin!: number | null;
}
