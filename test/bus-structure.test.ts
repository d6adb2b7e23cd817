/**
 * The shape of bus/ (issue 14): no import circles, type imports included — a connection talks to
 * the broker through host.ts, durable delivery and statistics see connections through interfaces
 * — bus/ depends on no package but cbor-x, rxjs and eventemitter3, and code outside bus/ reaches
 * it only through the names the udsbus package exports ('udsbus', 'udsbus/core', ...), never by path.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NVR_DIRS, packageOf, specifiers, tsFiles } from './helpers/imports.js';

const ROOT = resolve(import.meta.dirname, '..');

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) {
    out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  }
  for (const m of src.matchAll(/await import\('(\.[^']+)'\)/g)) out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return out;
}

describe('bus/ structure', () => {
  it('has no import circles (type imports count too)', () => {
    const files = tsFiles(join(ROOT, 'bus'));
    const graph = new Map(files.map((f) => [f, imports(f).filter((x) => x.startsWith(join(ROOT, 'bus')))]));
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 2) return;
      if (state.get(f) === 1) {
        cycles.push([...path.slice(path.indexOf(f)), f].map((x) => relative(ROOT, x)).join(' -> '));
        return;
      }
      state.set(f, 1);
      for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
      state.set(f, 2);
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('bus/ imports only node:*, cbor-x, rxjs and eventemitter3, and nothing outside bus/', () => {
    const allowed = new Set(['cbor-x', 'rxjs', 'eventemitter3']);
    const offenders: string[] = [];
    for (const f of tsFiles(join(ROOT, 'bus'))) {
      for (const spec of specifiers(f)) {
        if (spec.startsWith('.')) {
          const rel = relative(join(ROOT, 'bus'), resolve(dirname(f), spec));
          if (rel.startsWith('..')) offenders.push(`${relative(ROOT, f)} -> ${spec}`);
        } else if (!spec.startsWith('node:') && !allowed.has(packageOf(spec))) {
          offenders.push(`${relative(ROOT, f)} -> ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('code outside bus/ reaches the library only through the package names it exports', () => {
    // The udsbus-nvr package (packages/udsbus-nvr) ships cli/, publishers/, subscribers/, ops/
    // and schemas/ built, beside no copy of bus/: their imports must name the installed `udsbus`
    // package. Its faces: the library, the light core (the CLI at start-up must not load the client
    // and rxjs into the broker's process, 8 MB of idle RSS), the daemon shell, the peer-credential
    // probe, the default socket path and the limits table.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const faces = new Set(Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'udsbus' : `udsbus/${k.slice(2)}`)));
    expect([...faces].sort()).toEqual(['udsbus', 'udsbus/core', 'udsbus/limits', 'udsbus/paths', 'udsbus/peercred', 'udsbus/server']);
    const offenders: string[] = [];
    for (const dir of NVR_DIRS) {
      for (const f of tsFiles(join(ROOT, dir))) {
        for (const spec of specifiers(f)) {
          if (spec.startsWith('.')) {
            const rel = relative(ROOT, resolve(dirname(f), spec));
            // `udsbus bench` loads bench/ on use and says so when it is absent: source-checkout tooling.
            if (rel === 'bench/index.js' && relative(ROOT, f) === 'cli/commands/bench.ts') continue;
            if (!NVR_DIRS.some((d) => rel.startsWith(`${d}/`))) offenders.push(`${relative(ROOT, f)} -> ${spec}`);
          } else if (packageOf(spec) === 'udsbus' && !faces.has(spec)) {
            offenders.push(`${relative(ROOT, f)} -> ${spec}`);
          }
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
