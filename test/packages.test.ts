/**
 * The weight where it belongs (issue 16): the library package (`udsbus`, the repository root)
 * depends on cbor-x, rxjs and eventemitter3 and nothing else; everything the CLI, publishers,
 * subscribers, ops and schemas import is a dependency of `udsbus-nvr` (packages/udsbus-nvr), and
 * that package lists nothing they do not import. test/pack-install.test.ts checks the packed result.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NVR_DIRS, packageOf, specifiers, tsFiles } from './helpers/imports.js';

const ROOT = join(import.meta.dirname, '..');
type Pkg = {
  name: string;
  version: string;
  bin?: unknown;
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const read = (p: string): Pkg => JSON.parse(readFileSync(join(ROOT, p), 'utf8')) as Pkg;
const lib = read('package.json');
const nvr = read('packages/udsbus-nvr/package.json');

describe('package dependencies', () => {
  it('the library depends on cbor-x, rxjs and eventemitter3 only, plus the optional addon, and has no bin', () => {
    expect(Object.keys(lib.dependencies).sort()).toEqual(['cbor-x', 'eventemitter3', 'rxjs']);
    expect(lib.optionalDependencies).toEqual({ 'udsbus-peercred': 'file:native/peercred' });
    expect(lib.bin).toBeUndefined();
  });

  it('udsbus-nvr lists exactly the packages its code imports, at the ranges the checkout tests', () => {
    const used = new Map<string, string>(); // package -> first file importing it
    for (const dir of NVR_DIRS) {
      for (const f of tsFiles(join(ROOT, dir))) {
        for (const spec of specifiers(f)) {
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          if (!used.has(packageOf(spec))) used.set(packageOf(spec), relative(ROOT, f));
        }
      }
    }
    const listed = Object.keys(nvr.dependencies);
    const missing = [...used].filter(([p]) => !listed.includes(p)).map(([p, f]) => `${p} (imported by ${f})`);
    expect(missing, 'imported but not in packages/udsbus-nvr/package.json dependencies').toEqual([]);
    expect(listed.filter((p) => !used.has(p)), 'listed in udsbus-nvr but imported by nothing').toEqual([]);

    expect(nvr.version).toBe(lib.version);
    expect(nvr.dependencies['udsbus']).toBe(lib.version); // exact: the CLI and the library move together
    for (const [p, range] of Object.entries(nvr.dependencies)) {
      if (p === 'udsbus') continue;
      expect(lib.dependencies[p] ?? lib.devDependencies?.[p], `${p} in the root package.json`).toBe(range);
    }
  });

  it('every subpath the library exports maps, for TypeScript in the checkout, to its source', () => {
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };
    const expected: Record<string, string[]> = {};
    for (const [sub, target] of Object.entries(lib.exports)) {
      if (typeof target === 'string') continue;
      expected[sub === '.' ? lib.name : `${lib.name}/${sub.slice(2)}`] = [target.default.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts')];
      expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'));
    }
    expect(tsconfig.compilerOptions.paths).toEqual(expected);
  });
});
