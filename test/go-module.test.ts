/**
 * clients/go as a Go module real users can depend on: its go.mod names upstream versions only (no
 * replace lines, no system paths), go.sum has an entry for each of them (the /go.mod hashes are
 * checked against Debian's copies of those go.mod files, which are the upstream ones), and a
 * program outside the repository that does `go get github.com/udsbus/udsbus/clients/go@v0.1.0`
 * builds with no replace, fetching every module from a module proxy — here a file:// proxy
 * made from this checkout and Debian's sources, in a private module cache — and publishes to a
 * real broker.
 *
 * Needs Go, Debian's golang-github-fxamacker-cbor-dev and python3 (to write the module zips);
 * skipped with a printed reason without them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startTestBus, takeN, tempDir, type TestBus } from './helpers/harness.js';
import { anyPython, goSkipReason, runTool } from './conformance/runner.js';

const MODULE = 'github.com/udsbus/udsbus/clients/go';
const DEBIAN = '/usr/share/gocode/src';
/** What clients/go requires, and where Debian keeps each module's source. */
const DEPS: Record<string, string> = {
  'github.com/fxamacker/cbor/v2': join(DEBIAN, 'github.com/fxamacker/cbor'),
  'github.com/x448/float16': join(DEBIAN, 'github.com/x448/float16'),
};

const python = anyPython();
const skip = goSkipReason() ?? (python === undefined ? 'no python3 to write module zips with' : undefined);
if (skip) console.warn(`go-module: skipping the build from a module proxy: ${skip}`);

const goMod = () => readFileSync(join(ROOT, 'clients/go/go.mod'), 'utf8');

/** `require` lines of a go.mod: module -> version. */
function requires(mod: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of mod.matchAll(/^\s*(?:require\s+)?([a-z0-9.\-/]+\.[a-z]+\/[^\s]+)\s+(v\d+\.\d+\.\d+\S*)/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** The go.sum hash of a single go.mod file (golang.org/x/mod/sumdb/dirhash Hash1 over one file). */
function goModHash(content: Buffer): string {
  const line = `${createHash('sha256').update(content).digest('hex')}  go.mod\n`;
  return `h1:${createHash('sha256').update(line).digest('base64')}`;
}

describe('clients/go as a module', () => {
  it('go.mod has a real module path, upstream versions only, and no replace lines or system paths', () => {
    const mod = goMod();
    expect(mod).toMatch(new RegExp(`^module ${MODULE.replaceAll('.', '\\.')}$`, 'm'));
    expect(mod).not.toMatch(/^\s*replace\b/m);
    expect(mod).not.toContain('/usr/');
    expect([...requires(mod).keys()].sort()).toEqual(Object.keys(DEPS).sort());
    for (const ex of ['go-publisher', 'go-backend']) {
      const exMod = readFileSync(join(ROOT, 'examples', ex, 'go.mod'), 'utf8');
      expect(exMod, ex).not.toContain('/usr/');
      expect([...exMod.matchAll(/^replace (.*)$/gm)].map((m) => m[1]), ex).toEqual([`${MODULE} => ../../clients/go`]);
    }
  });

  it('go.sum has both hashes of every requirement; the go.mod hashes match the upstream go.mod files', () => {
    const sum = readFileSync(join(ROOT, 'clients/go/go.sum'), 'utf8');
    for (const [mod, version] of requires(goMod())) {
      expect(sum, mod).toMatch(new RegExp(`^${mod.replaceAll('.', '\\.')} ${version} h1:[A-Za-z0-9+/]{43}=$`, 'm'));
      const goModLine = new RegExp(`^${mod.replaceAll('.', '\\.')} ${version}/go.mod (h1:\\S+)$`, 'm').exec(sum);
      expect(goModLine, `${mod} ${version}/go.mod`).not.toBeNull();
      if (goSkipReason() === undefined) expect(goModLine![1], mod).toBe(goModHash(readFileSync(join(DEPS[mod]!, 'go.mod'))));
    }
    for (const ex of ['go-publisher', 'go-backend']) expect(readFileSync(join(ROOT, 'examples', ex, 'go.sum'), 'utf8'), ex).toBe(sum);
  });
});

describe.skipIf(skip !== undefined)('a program outside the repository depends on it through a module proxy', () => {
  const tmp = tempDir('udsbus-gomod-');
  const proxy = join(tmp.dir, 'proxy');
  const app = join(tmp.dir, 'app');
  let bus: TestBus;
  let env: NodeJS.ProcessEnv;

  /** Writes MODULE@VERSION (source dir `dir`) into the file proxy: list, .info, .mod, .zip. */
  async function publish(mod: string, version: string, dir: string): Promise<void> {
    const at = join(proxy, mod, '@v');
    mkdirSync(at, { recursive: true });
    writeFileSync(join(at, 'list'), `${version}\n`);
    writeFileSync(join(at, `${version}.info`), JSON.stringify({ Version: version, Time: '2026-01-01T00:00:00Z' }));
    writeFileSync(join(at, `${version}.mod`), readFileSync(join(dir, 'go.mod')));
    const zip = `import os, sys, zipfile
src, prefix, out = sys.argv[1:4]
with zipfile.ZipFile(out, "w") as z:
    for d, dirs, files in os.walk(src):
        dirs[:] = sorted(x for x in dirs if x not in (".git", "vendor"))
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, prefix + "/" + os.path.relpath(p, src))
`;
    await runTool(python!, ['-c', zip, dir, `${mod}@${version}`, join(at, `${version}.zip`)], tmp.dir);
  }

  beforeAll(async () => {
    const versions = requires(goMod());
    for (const [mod, dir] of Object.entries(DEPS)) await publish(mod, versions.get(mod)!, dir);
    await publish(MODULE, 'v0.1.0', join(ROOT, 'clients/go'));
    // A private module cache: the zips made from Debian's sources are not byte-identical to the
    // upstream ones, so they must never reach the real cache (or this checkout's go.sum).
    env = {
      GOPROXY: `file://${proxy}`,
      GOSUMDB: 'off',
      GONOSUMDB: '',
      GOPRIVATE: '',
      GOFLAGS: '-modcacherw',
      GOWORK: 'off',
      GOMODCACHE: join(tmp.dir, 'modcache'),
      CGO_ENABLED: '0',
      GOTOOLCHAIN: 'local',
    };
    mkdirSync(app);
    writeFileSync(join(app, 'go.mod'), 'module example.com/app\n\ngo 1.19\n');
    writeFileSync(join(app, 'main.go'), `package main

import (
	"context"
	"log"
	"time"

	udsbus "${MODULE}"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := udsbus.Connect(ctx, udsbus.Options{Name: "go-get-app"})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	if err := bus.PublishSync(ctx, "gomod.hello", map[string]any{"from": "go get"}); err != nil {
		log.Fatal(err)
	}
}
`);
    bus = await startTestBus();
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    tmp.cleanup();
  });

  it('go get + go build with no replace, then a publish reaches a TypeScript subscriber', { timeout: 180_000 }, async () => {
    await runTool('go', ['get', `${MODULE}@v0.1.0`], app, env);
    const mod = readFileSync(join(app, 'go.mod'), 'utf8');
    expect(requires(mod).get(MODULE), mod).toBe('v0.1.0');
    expect(mod).not.toMatch(/^\s*replace\b/m);
    await runTool('go', ['build', '-o', join(tmp.dir, 'app-bin'), '.'], app, env);
    expect(readdirSync(join(tmp.dir, 'modcache', 'cache', 'download'))).toContain('github.com');

    const watcher = await bus.client({ name: 'watcher' });
    const got = takeN(watcher.subscribe('gomod.hello'), 1, 20_000);
    await watcher.flush();
    await runTool(join(tmp.dir, 'app-bin'), [], tmp.dir, { UDSBUS_SOCKET: bus.socket }, 30_000);
    const [m] = await got;
    expect(m!.payload).toEqual({ from: 'go get' });
    await watcher.close();
  });
});
