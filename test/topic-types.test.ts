/**
 * Type tests for the typed client (bus/client/topic-types.ts), run by the project's own tsc:
 *
 * - test/types/topic-types.ts with every `@ts-expect-error` disarmed must fail on exactly the line
 *   after each one and nowhere else: the negative cases fail for real, the positive ones compile
 *   (`npm run typecheck` compiles the fixture armed, too);
 * - the README's "Typed topics" example compiles as written (imports pointed at this checkout);
 * - the schemas' type map has exactly the patterns and roles of SCHEMA_ENTRIES;
 * - the library alone (no schemas in the program) types every payload as `unknown`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/harness.js';
import { SCHEMA_ENTRIES } from '../schemas/index.js';

const run = promisify(execFile);
const DIRECTIVE = '// @ts-expect-error';

type Diagnostic = { file: string; line: number; text: string };

let dir: string;
beforeAll(() => {
  // Inside the checkout, so that rxjs and @types/node resolve from its node_modules.
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.tmp', 'types-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first ```ts block after the heading (as test/readme-example.test.ts reads it). */
function extractExample(readme: string, heading: string): string {
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no "${heading}" section`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null || m[1] === undefined) throw new Error(`no ts code block under "${heading}"`);
  return m[1];
}

/** Point the fixture's relative imports and the README's package imports at this checkout. */
function absolute(code: string): string {
  return code
    .replaceAll("'../../", `'${ROOT}`)
    .replaceAll("'udsbus-nvr/schemas'", `'${join(ROOT, 'schemas/index.js')}'`)
    .replaceAll("'udsbus/schemas'", `'${join(ROOT, 'schemas/index.js')}'`);
}

/** Compiles `files` (name -> source) in a fresh project with the repository's compiler options. */
async function compile(name: string, files: Record<string, string>): Promise<Diagnostic[]> {
  const project = mkdtempSync(join(dir, `${name}-`));
  for (const [file, code] of Object.entries(files)) writeFileSync(join(project, file), code);
  writeFileSync(join(project, 'package.json'), '{"type":"module"}');
  const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> & { paths: Record<string, string[]> } };
  // 'udsbus' (imported by the README example, augmented by schemas/registry.ts) resolves to this
  // checkout's sources, as in the repository's own tsconfig.
  const paths = Object.fromEntries(Object.entries(base.compilerOptions.paths).map(([k, v]) => [k, v.map((p) => join(ROOT, p))]));
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...base.compilerOptions, paths, noEmit: true, rootDir: ROOT },
    files: Object.keys(files),
  }));
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: project }).then(
    (r) => r.stdout,
    (e: { stdout?: string; code?: number }) => {
      if (e.code !== 2 || e.stdout === undefined) throw e as Error; // 2: compiled, with errors
      return e.stdout;
    },
  );
  const diagnostics: Diagnostic[] = [];
  for (const line of out.split('\n')) {
    const m = /^(.*)\((\d+),\d+\): error (.*)$/.exec(line);
    if (m !== null) diagnostics.push({ file: m[1]!.replace(`${project}/`, ''), line: Number(m[2]), text: m[3]! });
    else if (line.trim() !== '' && !line.startsWith(' ')) diagnostics.push({ file: '?', line: 0, text: line });
  }
  return diagnostics;
}

/** Each SCHEMA_ENTRIES pattern in the type map of its role, and no other key there. */
function keysCheck(): string {
  const union = (roles: string[]) => SCHEMA_ENTRIES.filter((e) => roles.includes(e.role)).map((e) => `'${e.pattern}'`).join(' | ');
  return `import type { TaxonomyPayloads, TaxonomyReplies } from '${join(ROOT, 'schemas/index.js')}';
type Same<X, Y> = [X] extends [Y] ? ([Y] extends [X] ? true : false) : false;
export const payloads: Same<keyof TaxonomyPayloads, ${union(['payload', 'request'])}> = true;
export const replies: Same<keyof TaxonomyReplies, ${union(['reply'])}> = true;
`;
}

describe('typed publish/subscribe/request', () => {
  it('fails on exactly the lines marked @ts-expect-error, compiles everything else, the README example and the schema map', async () => {
    const fixture = readFileSync(join(ROOT, 'test/types/topic-types.ts'), 'utf8').split('\n');
    const expected: number[] = [];
    const disarmed = fixture.map((line, i) => {
      if (!line.trimStart().startsWith(DIRECTIVE)) return line;
      expected.push(i + 2); // 1-based number of the next line
      return line.replace(DIRECTIVE, '// (expected error)');
    });
    expect(expected.length).toBeGreaterThanOrEqual(10);
    const positives = fixture.filter((l) => /^(bus\.|void bus\.|const |expectType<)/.test(l)).length;
    expect(positives).toBeGreaterThan(30);

    const readme = extractExample(readFileSync(join(ROOT, 'README.md'), 'utf8'), '### Typed topics');
    const found = await compile('fixture', {
      'fixture.ts': absolute(disarmed.join('\n')),
      'readme.ts': absolute(readme),
      'keys.ts': keysCheck(),
    });
    const outside = found.filter((d) => d.file !== 'fixture.ts');
    expect(outside, 'errors outside the fixture (README example or schema map)').toEqual([]);
    const lines = [...new Set(found.map((d) => d.line))].sort((a, b) => a - b);
    const describeLines = (ns: number[]) => ns.map((n) => `${n}: ${fixture[n - 1]?.trim()}`);
    expect(describeLines(lines.filter((n) => !expected.includes(n))), 'lines that should compile').toEqual([]);
    expect(describeLines(expected.filter((n) => !lines.includes(n))), 'lines that should fail').toEqual([]);
  }, 120_000);

  it('without a registry (the library alone) every payload is unknown', async () => {
    const code = `import { connect, type Message, type PayloadFor, type ResultFor } from '${join(ROOT, 'bus/index.js')}';
import type { Observable } from 'rxjs';
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
const bus = await connect();
bus.publish('camera.event.cam-01.motion', 42);
bus.publish('camera.status.cam-01', 'online', { retain: true });
export const sub: Observable<Message<unknown>> = bus.subscribe('camera.event.*.motion');
export const a: Equal<PayloadFor<'camera.event.cam-01.motion'>, unknown> = true;
export const b: Equal<ResultFor<'camera.rpc.cam-01.stream-uri'>, unknown> = true;
export const c: Equal<Awaited<ReturnType<typeof bus.request<never, 'camera.rpc.x.info'>>>, unknown> = true;
`;
    expect(await compile('plain', { 'plain.ts': code })).toEqual([]);
  }, 120_000);
});
