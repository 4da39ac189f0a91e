import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configVariables } from '../../src/platform/config/config.schema.js';

// .env.example is the operator's list of knobs; it must name exactly the variables the config
// schema reads, or someone sets a variable that is ignored, or misses one that exists.

interface ExampleVariable {
  name: string;
  /** The comment block above the assignment line. */
  comment: string;
}

const EXAMPLE_FILE = path.resolve(import.meta.dirname, '../../.env.example');

/** Assignment lines, commented out (`# NAME=value`) or not, with the comment block above each. */
function parseEnvExample(text: string): ExampleVariable[] {
  const variables: ExampleVariable[] = [];
  let block: string[] = [];
  for (const line of text.split('\n')) {
    const assignment = /^#?\s?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (assignment?.[1]) {
      variables.push({ name: assignment[1], comment: block.join('\n') });
      block = [];
    } else if (line.startsWith('#')) {
      block.push(line.replace(/^#\s?/, ''));
    } else {
      block = [];
    }
  }
  return variables;
}

const example = parseEnvExample(readFileSync(EXAMPLE_FILE, 'utf8'));
const exampleNames = example.map((variable) => variable.name);
const schemaNames = configVariables.map((variable) => variable.name as string);

describe('.env.example', () => {
  it('names every variable of the config schema', () => {
    expect(schemaNames.filter((name) => !exampleNames.includes(name)), 'missing from .env.example').toEqual([]);
  });

  it('names no variable the config schema does not read', () => {
    expect(exampleNames.filter((name) => !schemaNames.includes(name)), 'not in config.schema.ts').toEqual([]);
  });

  it('names each variable once', () => {
    expect(exampleNames.filter((name, index) => exampleNames.indexOf(name) !== index)).toEqual([]);
  });

  it.each(example.filter((variable) => schemaNames.includes(variable.name)))('explains $name and its default', (variable) => {
    expect(variable.comment).toMatch(/Default: \S/);
    const sensitive = configVariables.find((v) => v.name === variable.name)?.sensitive ?? false;
    // The "Sensitive." marker tells operators which values belong in a secret store.
    expect(variable.comment.includes('Sensitive.'), `${variable.name} sensitivity marker`).toBe(sensitive);
  });
});
