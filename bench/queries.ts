/**
 * The SQL the service runs for the benchmarked endpoints, taken from the repositories themselves
 * rather than written a second time: UsersRepository's reads and the two reads authentication does
 * on every request (AuthService.authenticate: the user's credentials by id, and whether the
 * session's refresh-token family is live) run against a Kysely instance whose driver records each
 * compiled query instead of sending it. The baseline server executes exactly these strings, so a
 * change to a repository changes both sides of the comparison.
 *
 * This runs once at startup; nothing here is on a request's path.
 */
import 'reflect-metadata'; // @Injectable() on the repository writes Reflect metadata when the class loads
import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { Database } from '../src/platform/database/database.types.js';
import { AuthRepository } from '../src/modules/auth/auth.repository.js';
import { UsersRepository } from '../src/modules/users/users.repository.js';

/** Where each bind parameter of a captured query comes from at request time. */
export type ParameterSlot =
  | { kind: 'id' }
  | { kind: 'limitPlusOne' }
  | { kind: 'offset' }
  /** The access token's subject (the caller's user id). */
  | { kind: 'subject' }
  /** The access token's session id (its refresh-token family). */
  | { kind: 'session' }
  | { kind: 'constant'; value: string | number | boolean | null };

export interface QueryTemplate {
  sql: string;
  parameters: ParameterSlot[];
}

export interface UserQueries {
  /** GET /users/:id: UsersRepository.findById. */
  findById: QueryTemplate;
  /** GET /users (offset mode, default sort -createdAt, no filter): the page query of findPage. */
  page: QueryTemplate;
  /** ... and its count(*) query, run in parallel with the page query as findPage does. */
  count: QueryTemplate;
  /** Every authenticated request: UsersRepository.findCredentialsById for the token's subject... */
  credentialsById: QueryTemplate;
  /** ... and, in parallel, AuthRepository.familyIsLive for the token's session. */
  familyIsLive: QueryTemplate;
}

// Values nobody would pass, so each one can be found again among the captured parameters.
const SENTINEL_ID = '00000000-0000-7000-8000-00000000beef';
const SENTINEL_LIMIT = 4241;
const SENTINEL_OFFSET = 7919;
const SENTINEL_SUBJECT = '00000000-0000-7000-8000-0000000cafe5';
const SENTINEL_SESSION = '00000000-0000-7000-8000-00000005e551';

/** Answers every query with one row that satisfies findById and the count(*) read. */
class CapturingConnection implements DatabaseConnection {
  constructor(private readonly captured: CompiledQuery[]) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    this.captured.push(compiledQuery);
    return Promise.resolve({ rows: [{ total: 0 }] as R[] });
  }

  // The captured repository methods never stream.
  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streamQuery is not supported while capturing SQL');
  }
}

class CapturingDriver implements Driver {
  private readonly connection: CapturingConnection;

  constructor(captured: CompiledQuery[]) {
    this.connection = new CapturingConnection(captured);
  }

  init(): Promise<void> {
    return Promise.resolve();
  }
  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(this.connection);
  }
  beginTransaction(): Promise<void> {
    return Promise.resolve();
  }
  commitTransaction(): Promise<void> {
    return Promise.resolve();
  }
  rollbackTransaction(): Promise<void> {
    return Promise.resolve();
  }
  releaseConnection(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

function toTemplate(query: CompiledQuery): QueryTemplate {
  const parameters = query.parameters.map((value): ParameterSlot => {
    if (value === SENTINEL_ID) return { kind: 'id' };
    if (value === SENTINEL_LIMIT + 1) return { kind: 'limitPlusOne' };
    if (value === SENTINEL_OFFSET) return { kind: 'offset' };
    if (value === SENTINEL_SUBJECT) return { kind: 'subject' };
    if (value === SENTINEL_SESSION) return { kind: 'session' };
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return { kind: 'constant', value };
    }
    throw new Error(`unexpected bind parameter in captured query: ${JSON.stringify(value)}`);
  });
  // A value inlined into the text instead of bound would make the baseline's SQL differ per request.
  for (const sentinel of [SENTINEL_ID, String(SENTINEL_LIMIT + 1), String(SENTINEL_OFFSET), SENTINEL_SUBJECT, SENTINEL_SESSION]) {
    if (query.sql.includes(sentinel)) throw new Error(`captured SQL inlines a request value: ${query.sql}`);
  }
  return { sql: query.sql, parameters };
}

/**
 * Captures the SQL of UsersRepository.findById and findPage as the service's GET handlers call
 * them, and of the two reads AuthService.authenticate runs for every request with a bearer token.
 */
export async function captureUserQueries(): Promise<UserQueries> {
  const captured: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new CapturingDriver(captured),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  const repository = new UsersRepository();
  const authRepository = new AuthRepository();
  try {
    await repository.findById(db, SENTINEL_ID);
    const findById = captured.splice(0);
    // UsersService.list for `?limit=N` in offset mode: no filter, sort -createdAt, page 1.
    await repository.findPage(db, {}, { column: 'createdAt', direction: 'desc' }, { offset: SENTINEL_OFFSET, limit: SENTINEL_LIMIT });
    const findPage = captured.splice(0);

    const [byId] = findById;
    const page = findPage.find((q) => q.parameters.includes(SENTINEL_OFFSET));
    const count = findPage.find((q) => q !== page);
    if (findById.length !== 1 || byId === undefined) throw new Error(`findById ran ${findById.length} queries, expected 1`);
    if (findPage.length !== 2 || page === undefined || count === undefined) throw new Error(`findPage ran ${findPage.length} queries, expected 2`);

    // AuthService.authenticate, after the token verified: both reads, as it calls them.
    await repository.findCredentialsById(db, SENTINEL_SUBJECT);
    const credentials = captured.splice(0);
    await authRepository.familyIsLive(db, SENTINEL_SESSION);
    const family = captured.splice(0);
    const [credentialsById] = credentials;
    const [familyIsLive] = family;
    if (credentials.length !== 1 || credentialsById === undefined) throw new Error(`findCredentialsById ran ${credentials.length} queries, expected 1`);
    if (family.length !== 1 || familyIsLive === undefined) throw new Error(`familyIsLive ran ${family.length} queries, expected 1`);
    return {
      findById: toTemplate(byId),
      page: toTemplate(page),
      count: toTemplate(count),
      credentialsById: toTemplate(credentialsById),
      familyIsLive: toTemplate(familyIsLive),
    };
  } finally {
    await db.destroy();
  }
}

/** Bind values for one request; `limit` is the page size the client asked for. */
export function bindParameters(
  template: QueryTemplate,
  values: { id?: string; limit?: number; offset?: number; subject?: string; session?: string },
): Array<string | number | boolean | null> {
  return template.parameters.map((slot) => {
    switch (slot.kind) {
      case 'id':
        if (values.id === undefined) throw new Error('query needs an id');
        return values.id;
      case 'limitPlusOne':
        if (values.limit === undefined) throw new Error('query needs a limit');
        return values.limit + 1;
      case 'offset':
        if (values.offset === undefined) throw new Error('query needs an offset');
        return values.offset;
      case 'subject':
        if (values.subject === undefined) throw new Error('query needs the token subject');
        return values.subject;
      case 'session':
        if (values.session === undefined) throw new Error('query needs the token session');
        return values.session;
      case 'constant':
        return slot.value;
    }
  });
}
