/**
 * Writes or checks the committed API contracts.
 *   npm run contracts         regenerate contracts/openapi.json from the code
 *   npm run contracts:check   fail (exit 1) when the code and the committed file differ
 * The app is built in Nest's preview mode: routes and DTO metadata are scanned, but no provider
 * runs, so no database is needed.
 */
import 'reflect-metadata';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { AppModule } from '../src/app.module.js';
import { buildOpenApi } from '../src/app.factory.js';
import { loadConfig } from '../src/platform/config/config.schema.js';

const OPENAPI_FILE = path.resolve('contracts', 'openapi.json');

/** Stable JSON: keys sorted, two-space indent, trailing newline, so diffs show real changes only. */
function stableStringify(value: unknown): string {
  const sort = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(sort);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node as Record<string, unknown>)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, child]) => [key, sort(child)]),
      );
    }
    return node;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

export async function generateOpenApi(): Promise<string> {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, pino({ level: 'silent' })), new FastifyAdapter(), {
    preview: true,
    logger: false,
  });
  try {
    return stableStringify(buildOpenApi(app));
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'write';
  const generated = await generateOpenApi();
  if (mode === 'check') {
    const committed = await readFile(OPENAPI_FILE, 'utf8').catch(() => '');
    if (committed !== generated) {
      console.error(`${path.relative(process.cwd(), OPENAPI_FILE)} is out of date with the code. Run: npm run contracts`);
      process.exit(1);
    }
    console.log(`${path.relative(process.cwd(), OPENAPI_FILE)} matches the code`);
    return;
  }
  await mkdir(path.dirname(OPENAPI_FILE), { recursive: true });
  await writeFile(OPENAPI_FILE, generated);
  console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
