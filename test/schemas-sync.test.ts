import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EMIT_COMMAND, renderJsonSchemas } from '../schemas/emit.js';

// The committed JSON Schema files are what Python/Go clients use; they must match the TypeBox source.
const jsonDir = fileURLToPath(new URL('../schemas/json/', import.meta.url));
const regenerate = `regenerate with: ${EMIT_COMMAND}`;

describe('schemas/json is in sync with the TypeBox definitions', () => {
  const expected = renderJsonSchemas();

  for (const [name, content] of expected) {
    it(name, () => {
      const path = join(jsonDir, name);
      if (!existsSync(path)) expect.fail(`schemas/json/${name} is missing; ${regenerate}`);
      if (readFileSync(path, 'utf8') !== content) expect.fail(`schemas/json/${name} is stale; ${regenerate}`);
    });
  }

  it('has no leftover files', () => {
    const extra = readdirSync(jsonDir).filter((f) => f.endsWith('.json') && !expected.has(f));
    if (extra.length > 0) expect.fail(`schemas/json has files the emitter no longer produces: ${extra.join(', ')}; ${regenerate}`);
  });

  it('every schema file has a unique $id and a title', () => {
    const ids = new Set<string>();
    for (const [name, content] of expected) {
      if (name === 'index.json') continue;
      const doc = JSON.parse(content) as { $id?: unknown; title?: unknown };
      expect(typeof doc.$id, name).toBe('string');
      expect(typeof doc.title, name).toBe('string');
      ids.add(doc.$id as string);
    }
    expect(ids.size).toBe(expected.size - 1);
  });
});
