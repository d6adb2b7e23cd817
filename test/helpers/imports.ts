/** What the source files import, for the structure and package tests. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The folders built into the udsbus-nvr package. */
export const NVR_DIRS = ['cli', 'publishers', 'subscribers', 'ops', 'schemas'];

/** Every module specifier a file imports or re-exports, static or dynamic, as written. */
export function specifiers(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) out.push(m[1]!);
  for (const m of src.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]!);
  for (const m of src.matchAll(/\bimport\('([^']+)'\)/g)) out.push(m[1]!);
  return out;
}

/** 'a/b' -> 'a', '@s/a/b' -> '@s/a'. */
export function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

