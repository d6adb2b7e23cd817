/**
 * User and group names → ids, for ACL files that say `user recorder` or `group plugins`.
 *
 * Names are resolved once, when the file is loaded (and again on every reload); the broker then
 * compares numbers only. Lookups read /etc/passwd and /etc/group first and ask `getent` (so NSS
 * sources such as LDAP, sssd or systemd-userdb work) only for names those files lack. Everything
 * here is asynchronous so a slow directory service cannot stall the broker's event loop during a
 * SIGHUP reload; `getent` gets a timeout.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { NameResolver } from './acl-parse.js';

export type NameLookupOptions = {
  /** Default /etc/passwd. */
  passwdPath?: string;
  /** Default /etc/group. */
  groupPath?: string;
  /** The getent binary, or false to use the files only. Default "getent" (from PATH). */
  getent?: string | false;
  /** Per getent call; default 2000 ms. */
  timeoutMs?: number;
};

export type ResolvedNames = {
  readonly users: ReadonlyMap<string, number>;
  readonly groups: ReadonlyMap<string, number>;
  /** Names whose lookup failed for a reason other than "no such name" (e.g. getent timed out). */
  readonly failures: ReadonlyMap<string, string>;
};

/**
 * Parse passwd(5) or group(5) text into name → id (the third field in both). The first entry of
 * a name wins, as in getpwnam(3); NIS compat lines (`+`/`-`) and malformed lines are skipped.
 */
export function parseIdDatabase(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const id = fields[2];
    if (name === undefined || name === '' || id === undefined || !/^[0-9]+$/.test(id)) continue;
    if (!out.has(name)) out.set(name, Number(id));
  }
  return out;
}

/** Resolve the given names, files first, then getent for the rest. Never rejects. */
export async function resolveNames(names: { users: Iterable<string>; groups: Iterable<string> }, opts: NameLookupOptions = {}): Promise<ResolvedNames> {
  const wantUsers = new Set(names.users);
  const wantGroups = new Set(names.groups);
  const users = new Map<string, number>();
  const groups = new Map<string, number>();
  const failures = new Map<string, string>();
  const [passwd, group] = await Promise.all([
    wantUsers.size > 0 ? readDb(opts.passwdPath ?? '/etc/passwd') : new Map<string, number>(),
    wantGroups.size > 0 ? readDb(opts.groupPath ?? '/etc/group') : new Map<string, number>(),
  ]);
  const lookups: Promise<void>[] = [];
  const getent = opts.getent ?? 'getent';
  const timeoutMs = opts.timeoutMs ?? 2000;
  for (const [want, db, out, database] of [
    [wantUsers, passwd, users, 'passwd'],
    [wantGroups, group, groups, 'group'],
  ] as const) {
    for (const name of want) {
      const id = db.get(name);
      if (id !== undefined) out.set(name, id);
      else if (getent !== false) {
        lookups.push(
          getentId(getent, database, name, timeoutMs).then((r) => {
            if (typeof r === 'number') out.set(name, r);
            else if (r !== undefined) failures.set(`${database}:${name}`, r);
          }),
        );
      }
    }
  }
  await Promise.all(lookups);
  return { users, groups, failures };
}

/** A resolver over resolved names; a name whose lookup failed throws with the reason. */
export function resolverFrom(resolved: ResolvedNames): NameResolver {
  return {
    resolveUser: (name) => lookup(resolved, resolved.users, 'passwd', name),
    resolveGroup: (name) => lookup(resolved, resolved.groups, 'group', name),
  };
}

function lookup(resolved: ResolvedNames, map: ReadonlyMap<string, number>, database: string, name: string): number | undefined {
  const id = map.get(name);
  if (id !== undefined) return id;
  const failure = resolved.failures.get(`${database}:${name}`);
  if (failure !== undefined) throw new Error(failure);
  return undefined;
}

async function readDb(path: string): Promise<Map<string, number>> {
  try {
    return parseIdDatabase(await readFile(path, 'utf8'));
  } catch {
    // No such file (a minimal container): getent may still know the name.
    return new Map();
  }
}

/** The id, undefined when the name does not exist, or a text saying why the lookup failed. */
function getentId(getent: string, database: 'passwd' | 'group', name: string, timeoutMs: number): Promise<number | string | undefined> {
  return new Promise((resolve) => {
    // `--` keeps a name that starts with "-" from being read as an option.
    execFile(getent, [database, '--', name], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
      if (err !== null) {
        const e = err as Error & { code?: string | number | null; killed?: boolean };
        // getent exits 2 when the key is not found; a missing getent means "files only".
        if (e.code === 2 || e.code === 'ENOENT') return resolve(undefined);
        if (e.killed === true) return resolve(`getent ${database} ${name} timed out after ${timeoutMs} ms`);
        return resolve(`getent ${database} ${name} failed: ${e.message.split('\n')[0] ?? String(e.code)}`);
      }
      const entry = parseIdDatabase(stdout).get(name);
      resolve(entry);
    });
  });
}
