/**
 * Config files for subscriber processes: JSON, validated against a TypeBox schema at start-up,
 * every problem reported as `file:line:column: /json/pointer: reason` so the operator can go
 * straight to it. Unknown keys are errors (closed objects), which catches typos such as
 * `cooldownMS` that would otherwise be silently ignored.
 */
import { readFileSync } from 'node:fs';
import stripJsonComments from 'strip-json-comments';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { readableErrors } from '../../schemas/validate.js';

export type ConfigProblem = { path: string; message: string; line?: number; column?: number };

/** A config that cannot be used; `problems` are sorted by position in the file. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`);
  }
}

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
  return `${where}: ${p.path === '' ? '/' : p.path}: ${p.message}`;
}

/** Extra checks a schema cannot express (patterns, cross references); return problems found. */
export type SemanticCheck<T> = (config: T) => Array<{ path: string; message: string }>;

/** Read, parse, validate. Throws ConfigError naming the file, line and JSON path of every problem. */
export function loadJsonConfig<S extends TSchema>(file: string, schema: S, check?: SemanticCheck<Static<S>>): Static<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseJsonConfig(text, file, schema, check);
}

/** Validate a config built in code (library use); problems name JSON paths under `name`. */
export function validateConfig<S extends TSchema>(value: unknown, name: string, schema: S, check?: SemanticCheck<Static<S>>): Static<S> {
  const compiled = TypeCompiler.Compile(schema);
  if (!compiled.Check(value)) {
    throw new ConfigError(name, readableErrors(compiled.Errors(value)).map((line) => splitProblem(line)));
  }
  const problems = check?.(value as Static<S>) ?? [];
  if (problems.length > 0) throw new ConfigError(name, problems);
  return value as Static<S>;
}

function splitProblem(line: string): ConfigProblem {
  const i = line.indexOf(': ');
  return { path: i < 0 ? '' : line.slice(0, i), message: i < 0 ? line : line.slice(i + 2) };
}

/** Like loadJsonConfig, for text already in memory (`file` only names it in messages). */
export function parseJsonConfig<S extends TSchema>(text: string, file: string, schema: S, check?: SemanticCheck<Static<S>>): Static<S> {
  let value: unknown;
  try {
    // JSON with comments: comments and trailing commas become spaces, so positions stay the file's.
    text = stripJsonComments(text, { whitespace: true, trailingCommas: true });
    value = JSON.parse(text);
  } catch (err) {
    const pos = syntaxErrorPosition(err as Error, text);
    throw new ConfigError(file, [{ path: '', message: `not valid JSON: ${(err as Error).message}`, ...pos }]);
  }
  const compiled = TypeCompiler.Compile(schema);
  const problems: ConfigProblem[] = [];
  if (!compiled.Check(value)) {
    for (const line of readableErrors(compiled.Errors(value))) problems.push(splitProblem(line));
  } else if (check !== undefined) {
    problems.push(...check(value as Static<S>));
  }
  if (problems.length === 0) return value as Static<S>;
  const positions = locateJson(text);
  for (const p of problems) {
    const at = nearestOffset(positions, p.path);
    if (at !== undefined) Object.assign(p, lineColumn(text, at));
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new ConfigError(file, problems);
}

function syntaxErrorPosition(err: Error, text: string): { line?: number; column?: number } {
  const m = /position (\d+)/.exec(err.message) ?? /line (\d+) column (\d+)/.exec(err.message);
  if (m === null) return {};
  if (m.length === 3) return { line: Number(m[1]), column: Number(m[2]) };
  return lineColumn(text, Number(m[1]));
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** A missing property is reported at its own path; fall back to the enclosing value. */
function nearestOffset(positions: Map<string, number>, pointer: string): number | undefined {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const at = positions.get(p);
    if (at !== undefined) return at;
    if (p === '') return undefined;
  }
}

/**
 * Offsets by JSON pointer ('' for the root): where an object member's key starts, or where an
 * array element starts. The text has already passed JSON.parse, so this scanner only has to
 * find where things start.
 */
export function locateJson(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (ptr: string): void => {
    ws();
    out.set(ptr, i);
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const keyAt = i;
        const key = str();
        ws();
        i++; // ':'
        const member = `${ptr}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        value(member);
        out.set(member, keyAt); // a member is reported where its key starts
        ws();
        if (text[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${ptr}/${n}`);
        ws();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !',]} \t\r\n'.includes(text[i]!)) i++;
    }
  };
  value('');
  return out;
}
