/**
 * `udsbus broker` loads only what the broker needs: the CLI registers every subcommand but loads a
 * subcommand's modules when it runs, and TypeBox (~12 MB of RSS) only when there is a config file
 * to validate. A module-load hook in the spawned process lists every ES module it loads; the test
 * waits for the broker's start line, then checks that list. cbor-x's native string extractor (a
 * shared object, ~5 MB of RSS) is loaded with createRequire, which the hook does not see; the
 * test reads the process's memory map for it instead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, ROOT, tempDir } from './helpers/harness.js';
import { CliProcess } from './helpers/cli.js';

const HOOK = `export async function load(url, ctx, next) { process._rawDebug('LOAD ' + url); return next(url, ctx); }\n`;
const REGISTER = (hook: string) => `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`;

// What a broker never needs: camera, subscriber, schema and bridge code and their packages.
const NOT_FOR_A_BROKER = [
  /\/node_modules\/@sinclair\/typebox\//,
  /\/node_modules\/onvif\//,
  /\/node_modules\/fast-xml-parser\//,
  /\/node_modules\/mqtt\//,
  /\/node_modules\/rxjs\//,
  /\/node_modules\/playwright-core\//,
  /\/dist\/(publishers|subscribers|schemas|bench)\//,
];

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const NATIVE_CBOR = /cbor-extract/;

function nativeCborLoadable(): string | undefined {
  try {
    createRequire(join(ROOT, 'package.json'))('cbor-extract');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function loadedBy(args: string[], maps?: (text: string) => void): Promise<string[]> {
  const { dir, cleanup } = tempDir('udsbus-lazy-');
  cleanups.push(cleanup);
  const hook = join(dir, 'hook.mjs');
  const register = join(dir, 'register.mjs');
  writeFileSync(hook, HOOK);
  writeFileSync(register, REGISTER(hook));
  const cli = new CliProcess(
    spawn(process.execPath, ['--import', register, CLI, 'broker', '--socket', join(dir, 'bus.sock'), ...args.map((a) => a.replace('$DIR', dir))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  cleanups.push(() => cli.child.kill('SIGKILL'));
  await cli.waitOut((l) => l.includes('"evt":"start"'));
  maps?.(readFileSync(`/proc/${cli.child.pid}/maps`, 'utf8'));
  cli.child.kill('SIGTERM');
  await cli.exited;
  return cli.err.filter((l) => l.startsWith('LOAD ')).map((l) => l.slice(5));
}

describe('udsbus broker loads only the broker', () => {
  it('started from flags: no TypeBox, no ONVIF, subscriber, schema or client code', async () => {
    const loaded = await loadedBy([]);
    expect(loaded.some((u) => u.endsWith('/dist/bus/broker/server.js'))).toBe(true);
    expect(loaded.filter((u) => NOT_FOR_A_BROKER.some((re) => re.test(u)))).toEqual([]);
  });

  it('started with a config file: TypeBox is loaded to validate it (the hook sees what it should)', async () => {
    const { dir, cleanup } = tempDir('udsbus-lazy-conf-');
    cleanups.push(cleanup);
    const conf = join(dir, 'broker.jsonc');
    writeFileSync(conf, '{ // comment\n  "maxConnections": 100,\n}\n');
    const loaded = await loadedBy(['--config', conf]);
    expect(loaded.some((u) => /\/node_modules\/@sinclair\/typebox\//.test(u))).toBe(true);
    expect(loaded.filter((u) => /\/node_modules\/onvif\/|\/dist\/(publishers|subscribers\/(?!common))/.test(u))).toEqual([]);
  });

  const noAddon = nativeCborLoadable();
  it.skipIf(noAddon !== undefined)('without --strict the native CBOR decoder stays out; with it, and in a client, it is in', async () => {
    let plain = '';
    await loadedBy([], (m) => (plain = m));
    expect(plain).toContain('/node'); // the map was read
    expect(NATIVE_CBOR.test(plain)).toBe(false);
    let strict = '';
    await loadedBy(['--strict', 'camera.>'], (m) => (strict = m));
    expect(NATIVE_CBOR.test(strict)).toBe(true);
    // A client decodes application payloads: loading the library turns the extractor on.
    const on = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "await import('./dist/bus/index.js'); const c = await import('cbor-x/decode'); console.log(c.isNativeAccelerationEnabled)"],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(on.trim()).toBe('true');
  });
  if (noAddon !== undefined) console.log(`skipping the native CBOR check: cbor-extract does not load here (${noAddon})`);
});
