import type { NewEvent } from '../../platform/events/event-envelope.js';
import type { UserDto } from './users.dto.js';

/** Topic (aggregate type) of every users event. */
export const USER_AGGREGATE = 'user';

export const UserEvents = {
  created: 'UserCreated',
  updated: 'UserUpdated',
  deleted: 'UserDeleted',
} as const;

/** The user as consumers see it: identity and state, never credentials or free-form metadata. */
export interface UserEventSnapshot {
  id: string;
  email: string;
  name: string;
  status: UserDto['status'];
  role: UserDto['role'];
  organizationId: string | null;
}

export interface UserCreatedPayload extends Record<string, unknown> {
  user: UserEventSnapshot;
}
export interface UserUpdatedPayload extends Record<string, unknown> {
  user: UserEventSnapshot;
  /** Names of the fields the write set (whether or not the value differed). */
  changed: string[];
}
export interface UserDeletedPayload extends Record<string, unknown> {
  id: string;
  organizationId: string | null;
}

function snapshot(user: UserDto): UserEventSnapshot {
  return { id: user.id, email: user.email, name: user.name, status: user.status, role: user.role, organizationId: user.organizationId };
}

export function userCreated(user: UserDto): NewEvent {
  const payload: UserCreatedPayload = { user: snapshot(user) };
  return { eventType: UserEvents.created, aggregateType: USER_AGGREGATE, aggregateId: user.id, payload };
}

export function userUpdated(user: UserDto, changed: string[]): NewEvent {
  const payload: UserUpdatedPayload = { user: snapshot(user), changed };
  return { eventType: UserEvents.updated, aggregateType: USER_AGGREGATE, aggregateId: user.id, payload };
}

export function userDeleted(id: string, organizationId: string | null): NewEvent {
  const payload: UserDeletedPayload = { id, organizationId };
  return { eventType: UserEvents.deleted, aggregateType: USER_AGGREGATE, aggregateId: id, payload };
}
