/**
 * The README's "Using it from code" example, extracted and run as written: compiled with a strict
 * TypeScript config (importing 'udsbus' through the package's own exports), run against the real
 * broker it starts, and checked to clean up after itself. A second run wraps the same code's broker
 * in strict mode (schemas/) for every topic it uses, so its payloads must pass `--strict`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/harness.js';
import { validatorFor } from '../schemas/index.js';

const run = promisify(execFile);

/** The first ```ts block after the heading. */
export function extractExample(readme: string, heading: string): string {
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no "${heading}" section`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null || m[1] === undefined) throw new Error(`no ts code block under "${heading}"`);
  return m[1];
}

// udsbus-nvr/schemas in an installation; in the checkout, the built schemas beside the library
// (src/ and out/ are three levels below the repository root).
const STRICT_PRELUDE = `import { validatorFor } from '../../../dist/schemas/index.js';
const STRICT = {
  patterns: ['camera.>', 'recording.>', 'alert.>'],
  validate: (topic: string, payload: unknown) => {
    const v = validatorFor(topic);
    if (v === undefined) return undefined;
    const r = v(payload);
    return r.ok ? undefined : r.errors;
  },
};
`;

function strictVariant(code: string): string {
  const broker = "startBroker({ socket: join(dir, 'bus.sock'), mode: 0o660 })";
  const connectLine = /^(const bus = await connect\(.*\);.*)$/m;
  if (!code.includes(broker) || !connectLine.test(code)) throw new Error('README example changed shape: update strictVariant()');
  const lines = code.replace(broker, "startBroker({ socket: join(dir, 'bus.sock'), mode: 0o660, strict: STRICT })")
    .replace(connectLine, `$1\nbus.on('error', (e: Error) => { console.error('BUS ERROR', e.message); process.exitCode = 1; });`);
  // imports first, then the prelude (its import must stay at the top level too)
  return `${STRICT_PRELUDE}${lines}`;
}

let work: string;
let tmp: string;

beforeAll(async () => {
  // Inside the package so that `import 'udsbus'` resolves to this checkout via its exports.
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  work = mkdtempSync(join(ROOT, '.tmp', 'readme-'));
  tmp = mkdtempSync(join(tmpdir(), 'udsbus-readme-'));
  const code = extractExample(readFileSync(join(ROOT, 'README.md'), 'utf8'), '## Using it from code');
  mkdirSync(join(work, 'src'));
  writeFileSync(join(work, 'src/example.ts'), code);
  writeFileSync(join(work, 'src/example-strict.ts'), strictVariant(code));
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  delete tsconfig.compilerOptions['paths']; // 'udsbus' must resolve as a user's would: through the package's exports
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...tsconfig.compilerOptions, outDir: 'out', rootDir: 'src', declaration: false, sourceMap: false, typeRoots: [join(ROOT, 'node_modules/@types')] },
    include: ['src'],
  }));
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', work], { cwd: work }).catch((e: { stdout?: string }) => {
    throw new Error(`the README example does not compile under the strict config:\n${e.stdout ?? String(e)}`);
  });
}, 60_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('README example', () => {
  for (const file of ['example.js', 'example-strict.js']) {
    it(`${file} runs as written, prints the status and the stream URI, and leaves nothing behind`, async () => {
      const r = await run(process.execPath, [join(work, 'out', file)], { cwd: work, env: { ...process.env, TMPDIR: tmp }, timeout: 20_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('camera.status.cam-01');
      expect(r.stdout).toContain("stream { uri: 'rtsp://192.0.2.10/main', profile: 'main' }");
      expect(readdirSync(tmp)).toEqual([]);
    }, 30_000);
  }
});

describe('payloads in the README and docs/debugging-with-tap.md', () => {
  // Every `udsbus pub [--flags] TOPIC 'JSON'` line: what `--strict` checks (the same validators).
  const PUB = /udsbus pub (?:--\S+(?: \d+)? )*(\S+) '(\{.*\})'/g;
  for (const doc of ['README.md', 'docs/debugging-with-tap.md']) {
    it(`${doc}: every pub payload with a schema passes it`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const found = [...text.matchAll(PUB)].map((m) => ({ topic: m[1]!, json: m[2]! }));
      let checked = 0;
      for (const { topic, json } of found) {
        const v = validatorFor(topic);
        if (v === undefined) continue;
        const r = v(JSON.parse(json));
        expect(r.ok ? [] : r.errors, `${doc}: ${topic} ${json}`).toEqual([]);
        checked++;
      }
      if (doc === 'docs/debugging-with-tap.md') expect(checked).toBeGreaterThanOrEqual(2);
    });
  }
});
