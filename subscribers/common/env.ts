/**
 * `UDSBUS_<KEY>` environment overrides for a component's config file, named as the broker's are
 * (`envName`: `indexFile` → `UDSBUS_INDEX_FILE`), so one unit file's `Environment=` lines read the
 * same for the broker and every component. Precedence: flag > environment > file > default.
 *
 * Every top-level key of the component's schema has a variable. A key whose schema takes a string
 * takes the variable's text as it is; any other key (numbers, booleans, arrays, objects) takes a
 * JSON value: `UDSBUS_PRE_ROLL_MS=2000`, `UDSBUS_CAMERAS='["cam-1","cam-2"]'`,
 * `UDSBUS_CLIPS='{"dir":"/var/lib/clips"}'`. A JSON value replaces the file's whole value for
 * that key (no deep merge: what you see in the variable is what runs). Each value is checked
 * against its key's schema on its own, so a bad one is reported under the variable's name.
 * Variables for keys a component does not have are ignored: the broker and the components share
 * one naming scheme and often one environment.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { readableErrors } from '../../schemas/validate.js';
import { envName, LOG_LEVELS } from '../../ops/broker-config.js';
import { ConfigError, validateConfig, type ConfigProblem, type SemanticCheck } from './config.js';

export { envName };

/** The `logLevel` key every component config has: pino's levels, so a typo is refused, not thrown at start. */
export const LogLevelSchema = Type.Union(
  LOG_LEVELS.map((l) => Type.Literal(l)),
  { description: 'fatal, error, warn, info (default), debug, trace or silent; applied on SIGHUP without a restart.' },
);

export type EnvLayer = {
  /** Values by config key. */
  values: Record<string, unknown>;
  /** Variable name by config key, for messages ("logLevel from UDSBUS_LOG_LEVEL"). */
  sources: Record<string, string>;
  /** One line per bad variable: `UDSBUS_X: reason`. */
  problems: string[];
};

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();
function checker(schema: TSchema) {
  let c = compiled.get(schema);
  if (c === undefined) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  return c;
}

/** The `UDSBUS_*` values for the top-level keys of `schema` found in `env`, each checked against its key's schema. */
export function envLayer(schema: TObject, env: NodeJS.ProcessEnv = process.env): EnvLayer {
  const out: EnvLayer = { values: {}, sources: {}, problems: [] };
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (key === '$schema') continue;
    const name = envName(key);
    const text = env[name];
    if (text === undefined || text === '') continue;
    const c = checker(sub);
    let value: unknown = text;
    if (!c.Check(value)) {
      try {
        value = JSON.parse(text);
      } catch {
        out.problems.push(`${name}: ${firstError(c, text)} (values other than strings are JSON, e.g. 5000, true, ["a","b"], {"k":"v"})`);
        continue;
      }
      if (!c.Check(value)) {
        out.problems.push(`${name}: ${firstError(c, value)}`);
        continue;
      }
    }
    out.values[key] = value;
    out.sources[key] = name;
  }
  return out;
}

/** A `UDSBUS_*` variable with a value its key does not take; the message names each variable, as the broker's does. */
export class EnvError extends Error {
  override readonly name = 'EnvError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid environment:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

function firstError(c: ReturnType<typeof TypeCompiler.Compile>, value: unknown): string {
  const lines = readableErrors(c.Errors(value)).map((l) => l.replace(/^\/: /, ''));
  return lines.slice(0, 3).join('; ') || 'invalid value';
}

/**
 * A config loaded from its file with the environment laid over it, validated again as a whole
 * (a cross-key check may now fail because of a variable: such problems name it). Throws
 * ConfigError naming the variables; `label` names the file in messages.
 */
export function withEnv<C extends object>(config: C, schema: TObject, check: SemanticCheck<C> | undefined, label: string, env: NodeJS.ProcessEnv = process.env): C {
  const layer = envLayer(schema, env);
  if (layer.problems.length > 0) throw new EnvError(layer.problems);
  if (Object.keys(layer.values).length === 0) return config;
  const merged = { ...config, ...layer.values };
  try {
    return validateConfig(merged, label, schema, check as SemanticCheck<unknown> | undefined) as C;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(
      label,
      err.problems.map((p): ConfigProblem => {
        const top = p.path.split('/')[1] ?? '';
        const from = layer.sources[top];
        return from === undefined ? p : { ...p, message: `${p.message} (from ${from})` };
      }),
    );
  }
}
