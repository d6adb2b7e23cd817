import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAclErrors, loadAclFile } from '../bus/security/acl.js';
import { parseIdDatabase, resolveNames, resolverFrom, type NameLookupOptions } from '../bus/security/users.js';

let dir: string;
let names: NameLookupOptions;

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# a comment',
  '+nisuser::::::',
  'onvif:x:901:901:camera workers:/nonexistent:/usr/sbin/nologin',
  'recorder:x:902:902::/var/lib/recorder:/usr/sbin/nologin',
  'audit:x:903:903::/nonexistent:/usr/sbin/nologin',
  'onvif:x:999:999:a later duplicate is ignored:/:/bin/false',
  'broken-line',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'plugins:x:950:alice,bob', 'udsbus-admin:x:951:alice', ''].join('\n');

async function file(name: string, text: string, mode = 0o644): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  await chmod(p, mode);
  return p;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'udsbus-acl-'));
  names = { passwdPath: await file('passwd', PASSWD), groupPath: await file('group', GROUP), getent: false };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('users.ts', () => {
  it('parses passwd and group files: first entry wins, NIS and broken lines skipped', () => {
    expect(parseIdDatabase(PASSWD)).toEqual(
      new Map([
        ['root', 0],
        ['onvif', 901],
        ['recorder', 902],
        ['audit', 903],
      ]),
    );
    expect(parseIdDatabase(GROUP).get('udsbus-admin')).toBe(951);
  });

  it('resolves from the files', async () => {
    const r = await resolveNames({ users: ['onvif', 'nosuch'], groups: ['plugins', 'nogroup'] }, names);
    expect(r.users).toEqual(new Map([['onvif', 901]]));
    expect(r.groups).toEqual(new Map([['plugins', 950]]));
    expect(r.failures.size).toBe(0);
  });

  it('asks getent for names the files lack (NSS, LDAP, systemd-userdb)', async () => {
    const getent = await file(
      'fake-getent',
      ['#!/bin/sh', '# getent DATABASE -- NAME', '[ "$1" = passwd ] && [ "$3" = ldapuser ] && { echo "ldapuser:*:5000:5000::/:/bin/sh"; exit 0; }', '[ "$1" = group ] && [ "$3" = ldapgroup ] && { echo "ldapgroup:*:6000:"; exit 0; }', 'exit 2', ''].join('\n'),
      0o755,
    );
    const r = await resolveNames({ users: ['ldapuser', 'onvif', 'nosuch'], groups: ['ldapgroup'] }, { ...names, getent });
    expect(r.users).toEqual(
      new Map([
        ['onvif', 901],
        ['ldapuser', 5000],
      ]),
    );
    expect(r.groups).toEqual(new Map([['ldapgroup', 6000]]));
    expect(r.failures.size).toBe(0);
  });

  it('a getent that hangs is a lookup failure, reported as such by the parser', async () => {
    const getent = await file('slow-getent', '#!/bin/sh\nexec sleep 10\n', 0o755);
    const acl = await file('acl-slow', 'allow user onvif publish camera.>\nallow user ldapuser publish x\n');
    const r = await loadAclFile(acl, { names: { ...names, getent, timeoutMs: 200 } });
    expect(r).toEqual({ ok: false, errors: [{ line: 2, message: 'cannot look up user "ldapuser": getent passwd ldapuser timed out after 200 ms' }] });
  });

  it('a missing getent means files only', async () => {
    const r = await resolveNames({ users: ['nosuch'], groups: [] }, { ...names, getent: path.join(dir, 'no-such-getent') });
    expect(r.users.size).toBe(0);
    expect(r.failures.size).toBe(0);
  });

  it('the real system databases know root', async () => {
    const r = await resolveNames({ users: ['root'], groups: ['root'] });
    expect(r.users.get('root')).toBe(0);
    expect(r.groups.get('root')).toBe(0);
    expect(resolverFrom(r).resolveUser('root')).toBe(0);
  });
});

describe('loadAclFile', () => {
  it('loads a file, resolving names once', async () => {
    const p = await file('acl-ok', 'allow user onvif publish camera.>\nallow group plugins subscribe camera.event.>\nquota user recorder connections=4\n');
    const r = await loadAclFile(p, { names });
    if (!r.ok) throw new Error(formatAclErrors(p, r.errors));
    expect(r.acl.allows({ uid: 901, gid: 901, groups: [901] }, 'publish', 'camera.x')).toBe(true);
    expect(r.acl.subscribeDecision({ uid: 5, gid: 5, groups: [5, 950] }, '>')).toBe('filter');
    expect(r.acl.quotaFor(902).connections).toBe(4);
  });

  it('reports errors with the file name and line, ready for a log', async () => {
    const p = await file('acl-bad', '# policy\nallow user nosuch publish x\nallow user onvif publish camera..x\n');
    const r = await loadAclFile(p, { names });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = formatAclErrors(p, r.errors).split('\n');
    expect(lines[0]).toBe(`${p}:2: unknown user "nosuch" (not in the passwd database; create it, fix the name, or use a numeric uid)`);
    expect(lines[1]?.startsWith(`${p}:3: invalid pattern "camera..x"`)).toBe(true);
    expect(r.errors.map((e) => e.line)).toEqual([2, 3]);
  });

  it('a reload sees the new file; a broken reload leaves the caller with errors to report', async () => {
    const p = await file('acl-reload', 'allow user onvif publish camera.>\n');
    const first = await loadAclFile(p, { names });
    await writeFile(p, 'allow user onvif publish camera.> recording.>\n');
    const second = await loadAclFile(p, { names });
    await writeFile(p, 'allow user onvif publsh camera.>\n');
    const third = await loadAclFile(p, { names });
    const onvif = { uid: 901, gid: 901, groups: [901] };
    expect(first.ok && first.acl.allows(onvif, 'publish', 'recording.x')).toBe(false);
    expect(second.ok && second.acl.allows(onvif, 'publish', 'recording.x')).toBe(true);
    expect(third).toEqual({ ok: false, errors: [{ line: 1, message: expect.stringMatching(/unknown action "publsh"/) }] });
  });

  it('refuses a world-writable file, a directory, a missing file and a huge file (line 0)', async () => {
    const writable = await file('acl-writable', 'allow any publish x\n', 0o666);
    const r1 = await loadAclFile(writable, { names });
    expect(r1).toEqual({ ok: false, errors: [{ line: 0, message: `${writable} is writable by every user (mode 0666), so anyone could grant themselves access: chmod o-w ${writable}` }] });
    expect(formatAclErrors(writable, r1.ok ? [] : r1.errors).startsWith(`${writable}: ${writable} is writable`)).toBe(true);

    expect(await loadAclFile(dir, { names })).toEqual({ ok: false, errors: [{ line: 0, message: `${dir} is not a regular file` }] });
    const missing = path.join(dir, 'nope');
    expect(await loadAclFile(missing, { names })).toEqual({ ok: false, errors: [{ line: 0, message: expect.stringMatching(/^cannot read .*nope: ENOENT/) }] });
    const huge = await file('acl-huge', '# padding\n'.repeat(120_000));
    expect(await loadAclFile(huge, { names })).toEqual({ ok: false, errors: [{ line: 0, message: `${huge} is larger than 1048576 bytes` }] });
  });

  it('a group-writable file is accepted (an admin group may own the policy)', async () => {
    const p = await file('acl-group', 'allow any publish x\n', 0o664);
    expect((await loadAclFile(p, { names })).ok).toBe(true);
  });

  it('a resolver can replace the system lookup', async () => {
    const p = await file('acl-resolver', 'allow user someone publish x\n');
    const r = await loadAclFile(p, { resolver: { resolveUser: (n) => (n === 'someone' ? 4242 : undefined), resolveGroup: () => undefined } });
    expect(r.ok && r.acl.allows({ uid: 4242, gid: 1, groups: [] }, 'publish', 'x')).toBe(true);
  });
});
