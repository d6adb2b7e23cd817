/**
 * Issue 16: why the peer-credential addon is unavailable, told truthfully. Each case lays the
 * package out in a temp dir the way an install leaves it and loads it with the real require().
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPeerCred, loadPeerCredFrom } from '../bus/security/peercred.js';
import { ROOT, tempDir } from './helpers/harness.js';

const SRC = join(ROOT, 'native/peercred');
const built = loadPeerCred();
const isLinux = process.platform === 'linux';
if (!isLinux) console.warn('skipping the addon load cases: the addon is Linux-only');

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** node_modules/udsbus-peercred in a fresh temp dir with the given files copied from native/peercred. */
function layout(files: string[]): string {
  const t = tempDir('udsbus-peercred-layout-');
  cleanups.push(t.cleanup);
  const dir = join(t.dir, 'node_modules', 'udsbus-peercred');
  mkdirSync(dir, { recursive: true });
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    copyFileSync(join(SRC, f), join(dir, f));
  }
  return dir;
}

const PACKAGE = ['package.json', 'index.js', 'binding.gyp', 'peercred.c'];

function reason(specifier: string): string {
  const r = loadPeerCredFrom(specifier);
  expect(r.available).toBe(false);
  return (r as { reason: string }).reason;
}

describe.skipIf(!isLinux)('why the peercred addon did not load', () => {
  it('not installed: npm skipped the optional dependency; no word about compilers as the cause', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const r = reason(join(t.dir, 'node_modules', 'udsbus-peercred'));
    expect(r).toMatch(/is not installed: npm skipped it \(installed with --omit=optional, or its build failed and npm removed it\)/);
    expect(r).toContain('npm install --include=optional');
  });

  it('installed, sources present, never built: says the build did not run and how to rebuild', () => {
    const dir = layout(PACKAGE);
    const r = reason(dir);
    expect(r).toContain(`is installed but not built: its native build never ran`);
    expect(r).toContain('npm rebuild udsbus-peercred');
    expect(r).toContain('--nodedir=/usr');
  });

  it('installed, a build directory without the binary: says the build failed', () => {
    const dir = layout(PACKAGE);
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Makefile'), '# what node-gyp configure leaves when make fails\n');
    expect(reason(dir)).toContain('its native build ran and failed (a build/ directory without peercred.node)');
  });

  it('installed without sources and without a binary', () => {
    const dir = layout(['package.json', 'index.js']);
    expect(reason(dir)).toMatch(/is installed without its sources \(no binding.gyp\)/);
  });

  it('a binary that does not load: names the dlopen error and suggests a rebuild for this Node', () => {
    const dir = layout(PACKAGE);
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Release', 'peercred.node'), 'not an ELF object');
    const r = reason(dir);
    expect(r).toMatch(/failed to load \(ERR_DLOPEN_FAILED\): .*(invalid ELF header|file too short)/);
    expect(r).toContain('built for another Node version or architecture');
    expect(r).toContain('npm rebuild udsbus-peercred');
  });

  it.skipIf(!built.available)('the same layout with the built binary loads', () => {
    const dir = layout([...PACKAGE, 'build/Release/peercred.node']);
    expect(loadPeerCredFrom(dir).available).toBe(true);
  });
});
