/**
 * The Python client as a package: clients/python is pip-installed (offline, no build isolation)
 * into a fresh venv that sees Debian's cbor2 (`--system-site-packages`), and a script outside
 * the repository imports `udsbus` from the venv and talks to a real broker in both encodings:
 * a publish/subscribe round trip, a request answered by the TypeScript client, and a message the
 * TypeScript side receives. A second run hides cbor2 to show that JSON mode needs only the
 * standard library (cbor2 is the optional `cbor` extra) and that CBOR then fails with a clear
 * error.
 *
 * Needs /usr/bin/python3 with venv, pip, setuptools, wheel and cbor2 (Debian: python3-venv
 * python3-setuptools python3-wheel python3-cbor2); skipped with a printed reason without them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startTestBus, takeN, tempDir, type TestBus } from './helpers/harness.js';
import { pythonSkipReason, runTool, SYSTEM_PYTHON } from './conformance/runner.js';

function skipReason(): string | undefined {
  const base = pythonSkipReason();
  if (base !== undefined) return base;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import venv, ensurepip, setuptools, wheel'], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) {
    const why = (r.stderr ?? String(r.error)).trim().split('\n').pop();
    return `${SYSTEM_PYTHON} cannot build and install packages offline (apt-get install -y python3-venv python3-setuptools python3-wheel): ${why}`;
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.warn(`python-package: skipping: ${skip}`);

const SCRIPT = `
import json, sys
if "--no-cbor2" in sys.argv:
    sys.modules["cbor2"] = None  # as if cbor2 were not installed
import udsbus

def out(**kv):
    print(json.dumps(kv), flush=True)

out(event="imported", file=udsbus.__file__)
encoding = sys.argv[1]
if "--no-cbor2" in sys.argv:
    try:
        udsbus.connect(name="pip-check")
        out(event="cbor-without-cbor2", error=None)
    except udsbus.UdsbusError as e:
        out(event="cbor-without-cbor2", error=e.name)
bus = udsbus.connect(name="pip-" + encoding, encoding=encoding)
with bus.subscribe("pip.loop.*") as sub:
    bus.publish("pip.loop.a", {"n": 1, "s": "ünï"}, wait=True)
    m = sub.next(timeout=5)
    out(event="loop", topic=m.topic, value=m.value)
out(event="reply", value=bus.request("pip.svc.echo", {"x": 2}, timeout=5))
bus.publish("pip.from-python", {"encoding": encoding, "file": udsbus.__file__}, wait=True)
bus.close()
out(event="done")
`;

describe.skipIf(skip !== undefined)('clients/python installed with pip', () => {
  const tmp = tempDir('udsbus-pip-');
  const venv = join(tmp.dir, 'venv');
  let bus: TestBus;

  beforeAll(async () => {
    // A copy, so the in-tree build (build/, *.egg-info) lands in the temp dir, not the checkout.
    cpSync(join(ROOT, 'clients/python'), join(tmp.dir, 'python'), {
      recursive: true,
      filter: (src) => !/(__pycache__|build|\.egg-info)$/.test(src),
    });
    await runTool(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', venv], tmp.dir);
    await runTool(join(venv, 'bin/pip'), ['install', '--no-build-isolation', '--no-deps', '--no-index', './python'], tmp.dir, {
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    });
    writeFileSync(join(tmp.dir, 'script.py'), SCRIPT);
    bus = await startTestBus();
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    tmp.cleanup();
  });

  async function runScript(args: string[]): Promise<Array<Record<string, unknown>>> {
    // cwd is the temp dir and PYTHONPATH is unset: `import udsbus` can only find the installed copy.
    const env = { UDSBUS_SOCKET: bus.socket, PYTHONPATH: '', PYTHONDONTWRITEBYTECODE: '1' };
    const out = await runTool(join(venv, 'bin/python'), ['-I', join(tmp.dir, 'script.py'), ...args], tmp.dir, env, 60_000);
    return out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('installs the module and its metadata (cbor2 an optional extra), not the tests', async () => {
    const probe = 'import json, importlib.metadata as m; d = m.distribution("udsbus"); '
      + 'print(json.dumps({"name": d.metadata["Name"], "version": d.version, "extras": d.metadata.get_all("Provides-Extra"), '
      + '"requires": d.requires, "files": sorted(str(f) for f in d.files if not str(f).startswith("udsbus-"))}))';
    const meta = JSON.parse(await runTool(join(venv, 'bin/python'), ['-I', '-c', probe], tmp.dir)) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(meta).toMatchObject({ name: 'udsbus', version: pkg.version, extras: ['cbor'] });
    expect(meta.requires).toEqual([expect.stringMatching(/^cbor2 ?\(?>=[\d.]+\)? ?; ?extra == ["']cbor["']$/)]);
    expect((meta.files as string[]).filter((f) => !f.startsWith('__pycache__'))).toEqual(['udsbus.py']);
  });

  for (const encoding of ['cbor', 'json'] as const) {
    it(`a script outside the repository imports it and round-trips through the broker (${encoding})`, async () => {
      const watcher = await bus.client({ name: 'watcher' });
      watcher.serve('pip.svc.echo', (m) => ({ echoed: m.payload }));
      const fromPython = takeN(watcher.subscribe('pip.from-python'), 1, 30_000);
      await watcher.flush();
      try {
        const lines = await runScript([encoding]);
        const file = lines.find((l) => l.event === 'imported')?.file;
        expect(String(file).startsWith(join(venv, 'lib'))).toBe(true);
        expect(lines.find((l) => l.event === 'loop')).toEqual({ event: 'loop', topic: 'pip.loop.a', value: { n: 1, s: 'ünï' } });
        expect(lines.find((l) => l.event === 'reply')).toEqual({ event: 'reply', value: { echoed: { x: 2 } } });
        expect(lines.at(-1)).toEqual({ event: 'done' });
        const [m] = await fromPython;
        expect(m!.payload).toEqual({ encoding, file });
      } finally {
        await watcher.close();
      }
    }, 60_000);
  }

  it('without cbor2, JSON mode works and CBOR fails with UNSUPPORTED_CBOR', async () => {
    const watcher = await bus.client({ name: 'watcher' });
    watcher.serve('pip.svc.echo', (m) => ({ echoed: m.payload }));
    await watcher.flush();
    try {
      const lines = await runScript(['json', '--no-cbor2']);
      expect(lines.find((l) => l.event === 'cbor-without-cbor2')).toEqual({ event: 'cbor-without-cbor2', error: 'UNSUPPORTED_CBOR' });
      expect(lines.at(-1)).toEqual({ event: 'done' });
    } finally {
      await watcher.close();
    }
  }, 60_000);
});
