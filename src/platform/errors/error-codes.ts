/**
 * The registry of every error code the service can return. Each code is declared once here with its
 * HTTP status, its gRPC status and the message a client sees; docs/errors.md documents each one and
 * test/unit/error-codes.spec.ts keeps the two in step.
 */

/** gRPC status codes (grpc/status.h), kept here so platform/errors needs no gRPC import. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorDefinition {
  readonly httpStatus: number;
  readonly grpcStatus: (typeof GrpcStatus)[keyof typeof GrpcStatus];
  readonly message: string;
}

export const errorCodes = {
  // Generic request errors, raised by the platform for any route.
  VALIDATION_FAILED: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The request is invalid.',
  },
  MALFORMED_REQUEST: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The request body could not be parsed.',
  },
  MALFORMED_URL: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The request URL is malformed.',
  },
  ROUTE_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.UNIMPLEMENTED,
    message: 'No route matches this method and path.',
  },
  URI_TOO_LONG: {
    httpStatus: 414,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'A path parameter is longer than the limit.',
  },
  PAYLOAD_TOO_LARGE: {
    httpStatus: 413,
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'The request body is larger than the limit.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    httpStatus: 415,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The request content type is not supported.',
  },
  SERVICE_UNAVAILABLE: {
    httpStatus: 503,
    grpcStatus: GrpcStatus.UNAVAILABLE,
    message: 'The service is temporarily unavailable. Retry later.',
  },
  INTERNAL: {
    httpStatus: 500,
    grpcStatus: GrpcStatus.INTERNAL,
    message: 'An unexpected error occurred.',
  },

  // Identity.
  USER_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'User not found.',
  },
  DUPLICATE_EMAIL: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.ALREADY_EXISTS,
    message: 'A user with this email already exists.',
  },
  ORGANIZATION_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Organization not found.',
  },
  DUPLICATE_ORGANIZATION_SLUG: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.ALREADY_EXISTS,
    message: 'An organization with this slug already exists.',
  },
  INVALID_CURSOR: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The pagination cursor is invalid or does not match the requested sort.',
  },

  // Authentication.
  INVALID_CREDENTIALS: {
    httpStatus: 401,
    grpcStatus: GrpcStatus.UNAUTHENTICATED,
    message: 'The email or password is incorrect.',
  },
  TOO_MANY_ATTEMPTS: {
    httpStatus: 429,
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'Too many failed attempts. Retry later.',
  },
  ACCOUNT_INACTIVE: {
    httpStatus: 403,
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'The account is not active.',
  },
  AUTHENTICATION_REQUIRED: {
    httpStatus: 401,
    grpcStatus: GrpcStatus.UNAUTHENTICATED,
    message: 'A valid access token is required.',
  },
  TOKEN_INVALID: {
    httpStatus: 401,
    grpcStatus: GrpcStatus.UNAUTHENTICATED,
    message: 'The token is invalid, expired or revoked.',
  },
  TOKEN_REUSED: {
    httpStatus: 401,
    grpcStatus: GrpcStatus.UNAUTHENTICATED,
    message: 'The refresh token was already used; the session has been revoked.',
  },
  // Authorization.
  FORBIDDEN: {
    httpStatus: 403,
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'You do not have permission to perform this action.',
  },
  WEAK_PASSWORD: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The password does not meet the password policy.',
  },
  // Commerce.
  PRODUCT_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Product not found.',
  },
  DUPLICATE_SKU: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.ALREADY_EXISTS,
    message: 'A product with this SKU already exists.',
  },
  INVENTORY_BELOW_RESERVED: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'Stock on hand cannot be set below the units reserved by open orders.',
  },
  INSUFFICIENT_INVENTORY: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'Not enough stock for one or more products.',
  },
  PRODUCT_UNAVAILABLE: {
    httpStatus: 422,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'One or more products do not exist or are not for sale.',
  },
  CURRENCY_MISMATCH: {
    httpStatus: 422,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'All products of an order must be priced in the same currency.',
  },
  ORDER_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Order not found.',
  },
  ORDER_NOT_CANCELLABLE: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'The order can no longer be cancelled.',
  },
  IDEMPOTENCY_KEY_REQUIRED: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'This request needs an Idempotency-Key header.',
  },
  IDEMPOTENCY_KEY_MISMATCH: {
    httpStatus: 422,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'This Idempotency-Key was already used with a different request body.',
  },
  IDEMPOTENCY_KEY_IN_USE: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.ABORTED,
    message: 'A request with this Idempotency-Key is still being processed. Retry later.',
  },
  // Background jobs: email verification, exports, notifications.
  VERIFICATION_TOKEN_INVALID: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'The verification token is not valid.',
  },
  VERIFICATION_TOKEN_EXPIRED: {
    httpStatus: 410,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'The verification token has expired; request a new one.',
  },
  VERIFICATION_TOKEN_USED: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'The verification token was already used.',
  },
  EMAIL_ALREADY_VERIFIED: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'The email address is already verified.',
  },
  EXPORT_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Export not found.',
  },
  EXPORT_NOT_READY: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'The export is not complete yet.',
  },
  JOB_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Job not found.',
  },
  NOTIFICATION_NOT_FOUND: {
    httpStatus: 404,
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'Notification not found.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value);
}
