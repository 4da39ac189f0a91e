import { ApiProperty, PickType } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { CreateUserDto, UserDto } from '../users/users.dto.js';

/**
 * Passwords are capped here only to bound hashing work; the real length rules (12 to 128) are the
 * password policy's, which answers WEAK_PASSWORD with a reason. Login takes any length up to the
 * cap, so a policy change never locks out an existing password.
 */
const PASSWORD_INPUT_MAX = 1024;

/** Sign-up takes the email and name exactly as an admin-created user does, plus a password. */
export class RegisterDto extends PickType(CreateUserDto, ['email', 'name'] as const) {
  @ApiProperty({ format: 'password', minLength: 12, maxLength: 128, description: 'At least 12 characters; common or guessable passwords are refused' })
  @MaxLength(PASSWORD_INPUT_MAX)
  @IsString()
  password!: string;
}

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254 })
  @MaxLength(254)
  @IsString()
  email!: string;

  @ApiProperty({ format: 'password', maxLength: PASSWORD_INPUT_MAX })
  @MaxLength(PASSWORD_INPUT_MAX)
  @IsString()
  password!: string;
}

export class RefreshTokenDto {
  @ApiProperty({ description: 'The opaque refresh token of the last login or refresh', maxLength: 4096 })
  // Generous so that a mistaken value (an access token) is answered 401, not a validation error.
  @MaxLength(4096)
  @IsString()
  refreshToken!: string;
}

export class ChangePasswordDto {
  @ApiProperty({ format: 'password', maxLength: PASSWORD_INPUT_MAX })
  @MaxLength(PASSWORD_INPUT_MAX)
  @IsString()
  currentPassword!: string;

  @ApiProperty({ format: 'password', minLength: 12, maxLength: 128 })
  @MaxLength(PASSWORD_INPUT_MAX)
  @IsString()
  newPassword!: string;
}

export class TokenPairDto {
  @ApiProperty({ description: 'JWT (EdDSA, typ at+jwt); send as Authorization: Bearer' })
  accessToken!: string;

  @ApiProperty({ enum: ['Bearer'] })
  tokenType!: 'Bearer';

  @ApiProperty({ description: 'Seconds until the access token expires', example: 900 })
  expiresIn!: number;

  @ApiProperty({ description: 'Opaque, single use: each refresh returns a new one and retires this one' })
  refreshToken!: string;

  @ApiProperty({ format: 'date-time', description: 'Absolute end of the session; refreshing never extends it' })
  refreshTokenExpiresAt!: string;
}

export class AuthSessionDto extends TokenPairDto {
  @ApiProperty({ type: UserDto })
  user!: UserDto;
}

export class JwkDto {
  @ApiProperty({ enum: ['OKP'] }) kty!: 'OKP';
  @ApiProperty({ enum: ['Ed25519'] }) crv!: 'Ed25519';
  @ApiProperty() kid!: string;
  @ApiProperty({ description: 'Public key, base64url' }) x!: string;
  @ApiProperty({ enum: ['EdDSA'] }) alg!: 'EdDSA';
  @ApiProperty({ enum: ['sig'] }) use!: 'sig';
}

export class JwksDto {
  @ApiProperty({ type: [JwkDto] })
  keys!: JwkDto[];
}

/** Where a request came from, for audit rows and refresh-token metadata. */
export interface ClientInfo {
  ip: string;
  userAgent: string | null;
}
