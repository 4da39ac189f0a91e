import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';

export class VerifyEmailDto {
  @ApiProperty({ description: 'The token from the verification link' })
  @IsString()
  // 32 random bytes in base64url; anything else cannot be a token, so it is refused before any lookup.
  @Matches(/^[A-Za-z0-9_-]{43}$/, { message: 'token must be a verification token' })
  token!: string;
}

export class VerificationRequestedDto {
  @ApiProperty({ format: 'date-time', description: 'When the link sent by email stops working' })
  expiresAt!: string;
}

export class EmailVerifiedDto {
  @ApiProperty({ format: 'uuid' }) userId!: string;
  @ApiProperty({ format: 'date-time' }) emailVerifiedAt!: string;
}
