import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/errors/app-error.js';
import { errorCodes, GrpcStatus, type ErrorCode } from '../../src/platform/errors/error-codes.js';
import { mapErrorToRest } from '../../src/platform/errors/rest-error.mapper.js';

// Keeps the registry, its docs page and the REST mapper in step (STYLE.md habit 5): a code without
// a doc row, a doc row without a code, or a status that disagrees fails here, not in a client.

interface DocumentedCode {
  code: string;
  httpStatus: number;
  grpcName: string;
  message: string;
  when: string;
}

const DOC_FILE = path.resolve(import.meta.dirname, '../../docs/errors.md');

/** Reads the rows of the codes table: lines whose first cell is a backticked code. */
function parseErrorDoc(markdown: string): DocumentedCode[] {
  const rows: DocumentedCode[] = [];
  for (const line of markdown.split('\n')) {
    if (!/^\|\s*`[A-Z][A-Z0-9_]*`\s*\|/.test(line)) continue;
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    const [code = '', http = '', grpc = '', message = '', when = ''] = cells;
    rows.push({
      code: code.replaceAll('`', ''),
      httpStatus: Number.parseInt(http, 10),
      grpcName: /`?([A-Z_]+)`?/.exec(grpc)?.[1] ?? grpc,
      message,
      when,
    });
  }
  return rows;
}

const documented = parseErrorDoc(readFileSync(DOC_FILE, 'utf8'));
const registered = Object.keys(errorCodes) as ErrorCode[];
const grpcNameOf = (value: number): string | undefined =>
  Object.entries(GrpcStatus).find(([, number]) => number === value)?.[0];

describe('docs/errors.md', () => {
  it('has a table of codes', () => {
    expect(documented.length).toBeGreaterThan(0);
  });

  it('documents each code once', () => {
    const seen = documented.map((row) => row.code);
    expect(seen.filter((code, index) => seen.indexOf(code) !== index)).toEqual([]);
  });

  it('has a row for every registered code', () => {
    const missing = registered.filter((code) => !documented.some((row) => row.code === code));
    expect(missing, 'registered codes without a row in docs/errors.md').toEqual([]);
  });

  it('documents only registered codes', () => {
    const unknown = documented.filter((row) => !Object.hasOwn(errorCodes, row.code)).map((row) => row.code);
    expect(unknown, 'rows in docs/errors.md for codes that are not registered').toEqual([]);
  });

  describe.each(documented.filter((row) => Object.hasOwn(errorCodes, row.code)))('$code', (row) => {
    const definition = errorCodes[row.code as ErrorCode];

    it('has the registered HTTP status', () => {
      expect(row.httpStatus).toBe(definition.httpStatus);
    });

    it('has the registered gRPC status', () => {
      expect(row.grpcName).toBe(grpcNameOf(definition.grpcStatus));
    });

    it('has the registered message', () => {
      expect(row.message).toBe(definition.message);
    });

    it('says when it happens', () => {
      expect(row.when.length).toBeGreaterThan(10);
    });
  });
});

describe('error-code registry', () => {
  it.each(registered)('%s uses a known gRPC status and an error HTTP status', (code) => {
    const definition = errorCodes[code];
    expect(grpcNameOf(definition.grpcStatus)).toBeDefined();
    expect(definition.grpcStatus).not.toBe(GrpcStatus.OK);
    expect(definition.httpStatus).toBeGreaterThanOrEqual(400);
    expect(definition.httpStatus).toBeLessThan(600);
  });
});

describe('REST mapper', () => {
  it.each(registered)('maps AppError(%s) to its registered status and message', (code) => {
    const mapped = mapErrorToRest(new AppError(code));
    expect(mapped.code).toBe(code);
    expect(mapped.status).toBe(errorCodes[code].httpStatus);
    expect(mapped.message).toBe(errorCodes[code].message);
  });

  it('keeps the details an AppError carries', () => {
    const details = [{ field: 'email', message: 'email is already registered' }];
    expect(mapErrorToRest(new AppError('DUPLICATE_EMAIL', { details })).details).toEqual(details);
  });
});
