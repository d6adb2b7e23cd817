import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../bus/protocol/errors.js';
import { DEFAULT_LIMITS } from '../bus/protocol/limits.js';
import { ROOT } from './helpers/harness.js';

const doc = readFileSync(`${ROOT}PROTOCOL.md`, 'utf8');

describe('PROTOCOL.md stays in sync with the code', () => {
  it('documents every error code with its number and name, and nothing else', () => {
    const rows = [...doc.matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(Object.fromEntries(rows)).toEqual(ErrorCodes);
  });

  it('documents every limit', () => {
    for (const key of Object.keys(DEFAULT_LIMITS)) expect(doc).toContain(`| \`${key}\` |`);
  });

  it('the handshake bytes in §16 are what the codec produces', async () => {
    const { encodeFrame } = await import('../bus/protocol/codec.js');
    expect(encodeFrame({ op: 'hello', v: 1, name: 'py' }).toString('hex')).toBe('00000015a3626f706568656c6c6f617601646e616d65627079');
  });
});
