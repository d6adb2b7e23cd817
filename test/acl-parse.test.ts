import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAcl, type AclError, type NameResolver } from '../bus/security/acl.js';

const USERS: Record<string, number> = { root: 0, onvif: 901, recorder: 902, audit: 903 };
const GROUPS: Record<string, number> = { plugins: 950, 'udsbus-admin': 951 };
const resolver: NameResolver = {
  resolveUser: (n) => USERS[n],
  resolveGroup: (n) => GROUPS[n],
};

function errorsOf(text: string): AclError[] {
  const r = parseAcl(text, resolver);
  if (r.ok) throw new Error('expected errors');
  return [...r.errors];
}

function oneError(text: string): AclError {
  const errors = errorsOf(text);
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

describe('ACL parsing: every error has its line and its reason', () => {
  it('reports all errors of a file, each with its line number', () => {
    const text = [
      '# a comment', //                                      1
      '', //                                                 2
      'allow user onvif publish camera.>', //                3 ok
      'allow user onvif pub camera.>', //                    4 unknown action
      'allow user nosuch subscribe camera.>', //             5 unknown user
      'allow group nogroup subscribe camera.>', //           6 unknown group
      'allow user recorder subscribe camera..event', //      7 invalid pattern
      'quota user recorder connections=4', //                8 ok
      'quota user 902 subscriptions=4', //                   9 duplicate (same uid)
      'permit user onvif publish x', //                      10 unknown directive
      '   allow   user audit   subscribe   >   # trailing', // 11 ok
    ].join('\n');
    expect(errorsOf(text)).toEqual([
      { line: 4, message: expect.stringMatching(/unknown action "pub" \(expected publish, subscribe, request, serve, durable or admin\)/) },
      { line: 5, message: expect.stringMatching(/unknown user "nosuch"/) },
      { line: 6, message: expect.stringMatching(/unknown group "nogroup"/) },
      { line: 7, message: expect.stringMatching(/invalid pattern "camera\.\.event"/) },
      { line: 9, message: expect.stringMatching(/^duplicate quota for uid 902: line 8 already sets it$/) },
      { line: 10, message: 'unknown directive "permit" (expected allow, quota or root allow-all)' },
    ]);
  });

  it.each([
    ['allow user onvif publish camera.>.x', /invalid pattern "camera\.>\.x"/],
    ['allow user onvif publish camera.ev*nt', /invalid pattern/],
    ['allow user onvif publish kamera.ü', /invalid pattern/],
    ['allow user onvif publish camera/event', /invalid pattern/],
    ['allow user onvif publish', /missing topic pattern\(s\) after "publish"/],
    ['allow user onvif', /missing action after the principal/],
    ['allow', /missing principal/],
    ['allow users onvif publish x', /unknown principal "users"/],
    ['allow user', /missing user name or uid after "user"/],
    ['allow group', /missing group name or gid after "group"/],
    ['allow user 4294967295 publish x', /uid 4294967295 is out of range/],
    ['allow user onvif publish, x', /empty action in "publish,"/],
    ['allow user onvif publish,publish x', /action "publish" listed twice/],
    ['allow user onvif publish x x', /"x" listed twice/],
    ['allow user onvif admin,subscribe x', /"admin" takes no patterns: put it on a line of its own/],
    ['allow user onvif admin $SYS.>', /"admin" takes no patterns/],
    ['allow user onvif durable', /missing durable subscription name/],
    ['allow user onvif durable,subscribe audit', /"durable" takes durable subscription names/],
    ['allow user onvif durable $audit', /names starting with "\$" belong to the broker/],
    ['allow user onvif durable a.b', /durable name "a\.b": durable names are single tokens \(PROTOCOL\.md §17\), so write a name or "\*"/],
    ['allow user onvif durable a/b', /durable name: invalid pattern "a\/b"/],
    ['allow user onvif subscribe $SYS.>', /topics starting with "\$" belong to the broker; reading them is granted by "admin" alone/],
    ['allow user onvif publish $SYS.x', /belong to the broker/],
    ['deny user onvif publish camera.>', /there are no deny rules: everything not allowed is denied/],
    ['root', /expected "root allow-all"/],
    ['root allow-all please', /expected "root allow-all"/],
    ['quota', /missing quota subject/],
    ['quota group plugins connections=1', /quotas are per user \(uid\)/],
    ['quota everyone connections=1', /unknown quota subject "everyone"/],
    ['quota default', /missing quota values/],
    ['quota default connections', /expected KEY=VALUE, got "connections"/],
    ['quota default =5', /expected KEY=VALUE, got "=5"/],
    ['quota default sockets=5', /unknown quota "sockets" \(expected connections, subscriptions, queue-bytes, retained-bytes, retained or durable-bytes\)/],
    ['quota default connections=1 connections=2', /quota "connections" set twice on one line/],
    ['quota default connections=many', /invalid connections "many": a whole number or "unlimited"/],
    ['quota default connections=4K', /invalid connections "4K"/],
    ['quota default queue-bytes=4TB', /invalid queue-bytes "4TB": a whole number of bytes, optionally with K\/KiB, M\/MiB or G\/GiB/],
    ['quota default queue-bytes=-1', /invalid queue-bytes "-1"/],
    ['quota user nosuch connections=1', /unknown user "nosuch"/],
  ])('%s', (line, message) => {
    const e = oneError(`# header\n${line}\n`);
    expect(e.line).toBe(2);
    expect(e.message).toMatch(message);
  });

  it('rejects repeated root allow-all and duplicate default/anonymous quotas, naming the first line', () => {
    expect(errorsOf('root allow-all\n\nroot allow-all\n')).toEqual([{ line: 3, message: '"root allow-all" repeated (first on line 1)' }]);
    expect(errorsOf('quota default connections=1\nquota default subscriptions=2\n')).toEqual([
      { line: 2, message: 'duplicate quota: line 1 already sets the default quota' },
    ]);
    expect(errorsOf('quota anonymous connections=0\nquota anonymous connections=1\n')[0]?.line).toBe(2);
  });

  it('a resolver that throws becomes an error on that line', () => {
    const r = parseAcl('\nallow user x publish a\n', {
      resolveUser: () => {
        throw new Error('directory unreachable');
      },
      resolveGroup: () => undefined,
    });
    expect(r).toEqual({ ok: false, errors: [{ line: 2, message: 'cannot look up user "x": directory unreachable' }] });
  });

  it('numeric ids are accepted without a lookup', () => {
    const r = parseAcl('allow user 12345 publish a\nallow group 0 subscribe b\nquota user 4294967294 connections=1\n', {
      resolveUser: () => {
        throw new Error('must not be called');
      },
      resolveGroup: () => {
        throw new Error('must not be called');
      },
    });
    expect(r.ok).toBe(true);
  });

  it('accepts CRLF line endings, tabs, a BOM, comments anywhere, and an empty file', () => {
    const r = parseAcl('\uFEFFallow\tuser onvif publish camera.> # workers\r\n#\r\n\r\nallow group plugins subscribe camera.event.>\r\n', resolver);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.acl.rules.map((x) => [x.line, x.action, x.targets])).toEqual([
      [1, 'publish', ['camera.>']],
      [4, 'subscribe', ['camera.event.>']],
    ]);
    expect(parseAcl('', resolver).ok).toBe(true);
  });

  it('a line with several actions gives one rule per action on the same line', () => {
    const r = parseAcl('allow any publish,subscribe a.> b\n', resolver);
    expect(r.ok && r.acl.rules.map((x) => [x.line, x.action, x.targets])).toEqual([
      [1, 'publish', ['a.>', 'b']],
      [1, 'subscribe', ['a.>', 'b']],
    ]);
  });

  it('checks pattern lengths only when limits are given', () => {
    const long = Array(20).fill('a').join('.');
    expect(parseAcl(`allow any subscribe ${long}`, resolver).ok).toBe(true);
    const r = parseAcl(`allow any subscribe ${long}`, resolver, { limits: { maxTopicBytes: 256, maxTopicTokens: 16 } });
    expect(r.ok ? [] : r.errors).toEqual([{ line: 1, message: expect.stringMatching(/more than 16 tokens/) }]);
  });

  it('stops after 100 errors', () => {
    const errors = errorsOf('nonsense\n'.repeat(500));
    expect(errors).toHaveLength(101);
    expect(errors[100]).toEqual({ line: 101, message: 'stopped after 100 errors' });
  });
});

describe('quotas', () => {
  it('user line, then default line, then unlimited, key by key; sizes in powers of 1024', () => {
    const r = parseAcl(
      ['quota default connections=8 queue-bytes=16MiB', 'quota user recorder connections=16 retained-bytes=2K', 'quota user 1000 subscriptions=unlimited durable-bytes=1G', 'quota anonymous connections=0'].join('\n'),
      resolver,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const acl = r.acl;
    expect(acl.quotaFor(902)).toEqual({ connections: 16, subscriptions: Infinity, queueBytes: 16 * 1024 ** 2, retainedBytes: 2048, retained: Infinity, durableBytes: Infinity });
    expect(acl.quotaFor(1000)).toEqual({ connections: 8, subscriptions: Infinity, queueBytes: 16 * 1024 ** 2, retainedBytes: Infinity, retained: Infinity, durableBytes: 1024 ** 3 });
    expect(acl.quotaFor(4242)).toEqual({ connections: 8, subscriptions: Infinity, queueBytes: 16 * 1024 ** 2, retainedBytes: Infinity, retained: Infinity, durableBytes: Infinity });
    expect(acl.quotaFor('anonymous')).toMatchObject({ connections: 0, queueBytes: 16 * 1024 ** 2 });
    // The same numbers through a bound identity.
    expect(acl.bind({ uid: 902, gid: 902, groups: [902] }).quota).toEqual(acl.quotaFor(902));
    expect(acl.bind({ anonymous: true }).quota).toEqual(acl.quotaFor('anonymous'));
  });

  it('without quota lines everything is unlimited', () => {
    const r = parseAcl('allow any publish a\n', resolver);
    expect(r.ok && r.acl.quotaFor(0)).toEqual({ connections: Infinity, subscriptions: Infinity, queueBytes: Infinity, retainedBytes: Infinity, retained: Infinity, durableBytes: Infinity });
  });
});

describe('docs/acl.example', () => {
  const directives = (text: string): string[] =>
    text
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().replace(/\s+/g, ' '))
      .filter((l) => l !== '');

  it('is the policy SECURITY.md shows', () => {
    const doc = readFileSync(new URL('../SECURITY.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## An NVR policy'));
    const block = /```\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    expect(directives(block!)).toEqual(directives(readFileSync(new URL('../docs/acl.example', import.meta.url), 'utf8')));
  });

  it('parses, and means what SECURITY.md says', () => {
    const text = readFileSync(new URL('../docs/acl.example', import.meta.url), 'utf8');
    const r = parseAcl(text, resolver);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const acl = r.acl;
    const onvif = { uid: 901, gid: 901, groups: [901] };
    const recorder = { uid: 902, gid: 902, groups: [902] };
    const audit = { uid: 903, gid: 903, groups: [903] };
    const plugin = { uid: 2001, gid: 2001, groups: [2001, 950] };
    const admin = { uid: 1000, gid: 1000, groups: [1000, 951] };
    const root = { uid: 0, gid: 0, groups: [0] };

    expect(acl.allows(onvif, 'publish', 'camera.event.cam-01.motion')).toBe(true);
    expect(acl.allows(onvif, 'serve', 'camera.rpc.>')).toBe(true);
    expect(acl.allows(onvif, 'publish', '_INBOX.ab12.7')).toBe(true); // its replies
    expect(acl.allows(onvif, 'publish', 'recording.started')).toBe(false);

    expect(acl.allows(recorder, 'subscribe', 'camera.event.>')).toBe(true);
    expect(acl.allows(recorder, 'subscribe', 'camera.status.cam-01')).toBe(true);
    expect(acl.allows(recorder, 'subscribe', 'camera.discovered.>')).toBe(true);
    expect(acl.subscribeDecision(recorder, 'camera.>')).toBe('filter');
    expect(acl.allows(recorder, 'publish', 'recording.cam-01.started')).toBe(true);
    expect(acl.allows(recorder, 'request', 'camera.rpc.cam-01.stream-uri')).toBe(true);
    expect(acl.allows(recorder, 'request', 'camera.rpc.cam-01.reboot')).toBe(false);
    expect(acl.allows(recorder, 'subscribe', '_INBOX.9f8e7d.>')).toBe(true); // its inbox
    expect(acl.allows(recorder, 'publish', 'camera.event.cam-01.motion')).toBe(false);

    expect(acl.subscribeDecision(audit, '>')).toBe('allow');
    expect(acl.allows(audit, 'durable', 'audit')).toBe(true);
    expect(acl.allows(audit, 'durable', 'audit2')).toBe(false);
    expect(acl.subscribeDecision(audit, '$SYS.>')).toBe('deny');

    expect(acl.subscribeDecision(plugin, '>')).toBe('filter');
    expect(acl.canRead(plugin, 'camera.event.cam-01.motion')).toBe(true);
    expect(acl.canRead(plugin, 'camera.status.cam-01')).toBe(false);
    expect(acl.subscribeDecision(plugin, 'recording.>')).toBe('deny');

    expect(acl.allows(admin, 'admin')).toBe(true);
    expect(acl.subscribeDecision(admin, '$SYS.>')).toBe('allow');
    expect(acl.allows(admin, 'request', '$SYS.req.stats')).toBe(true);
    expect(acl.allows(admin, 'subscribe', '_INBOX.abc.>')).toBe(true); // the stats reply
    expect(acl.subscribeDecision(admin, '>')).toBe('deny');

    expect(acl.subscribeDecision(root, '>')).toBe('deny');
    expect(acl.allows(root, 'admin')).toBe(false);
    expect(acl.subscribeDecision({ anonymous: true }, '>')).toBe('deny');

    expect(acl.quotaFor(903)).toEqual({ connections: 2, subscriptions: 64, queueBytes: 128 * 1024 ** 2, retainedBytes: 1024 ** 2, retained: Infinity, durableBytes: 2 * 1024 ** 3 });
    expect(acl.quotaFor('anonymous').connections).toBe(0);
  });
});
