/**
 * Reading a broker config file: JSON with comments, checked against the closed schema of
 * broker-config.ts, with file:line:column problems. Its own module because the validator and the
 * schema registry behind the messages cost the broker's process ~15 MB: a broker started without
 * a config file never loads them.
 */
import { readFileSync } from 'node:fs';
import stripJsonComments from 'strip-json-comments';
import { ConfigError, parseJsonConfig } from '../subscribers/common/config.js';
import { Type } from '@sinclair/typebox';
import { BROKER_SETTINGS, brokerConfigSchema, semanticProblems, type BrokerSettings } from './broker-config.js';

export { ConfigError };

/** Parse JSON-with-comments text; line and column numbers in errors are those of the original. */
export function parseBrokerConfig(source: string, file: string): BrokerSettings {
  // Comments become spaces (offsets and lines kept), so positions in errors still point into the file.
  const json = stripJsonComments(source, { whitespace: true, trailingCommas: true });
  let value: BrokerSettings & { $schema?: string };
  try {
    value = parseJsonConfig(json, file, brokerConfigSchema(Type), (v) => semanticProblems(v as BrokerSettings)) as BrokerSettings & { $schema?: string };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // A typo is the usual unknown key: name the setting it was probably meant to be.
    throw new ConfigError(
      file,
      err.problems.map((p) => {
        const key = p.path.slice(1);
        const near = p.message === 'Unexpected property' && !key.includes('/') ? closestKey(key) : undefined;
        return near === undefined ? p : { ...p, message: `unknown setting (did you mean "${near}"?)` };
      }),
    );
  }
  const { $schema: _ignored, ...settings } = value;
  return settings;
}

/** The setting within edit distance 3 (case-insensitive) of `key`, if one is clearly closest. */
function closestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const s of BROKER_SETTINGS) {
    const d = distance(key.toLowerCase(), s.key.toLowerCase());
    if (d < bestD) {
      best = s.key;
      bestD = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Read and parse a broker config file. Throws ConfigError (with file:line:column problems). */
export function loadBrokerConfig(file: string): BrokerSettings {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseBrokerConfig(source, file);
}

/** Read a file, or say what is wrong with it (file:line:column lines) without throwing. */
export function readBrokerConfig(file: string): { ok: true; settings: BrokerSettings } | { ok: false; message: string } {
  try {
    return { ok: true, settings: loadBrokerConfig(file) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}
