/**
 * HTTP Digest (RFC 7616, MD5, qop=auth): what ONVIF clients fall back to when WS-Security is off.
 */
import { createHash, randomBytes } from 'node:crypto';

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function digestChallenge(realm: string, nonce: string, stale = false): string {
  return `Digest realm="${realm}", qop="auth", nonce="${nonce}", algorithm=MD5${stale ? ', stale=TRUE' : ''}`;
}

/** Parses `Authorization: Digest k=v, k="v"`; undefined when it is not Digest. */
export function parseDigestAuthorization(header: string | undefined): Record<string, string> | undefined {
  if (!header || !/^Digest\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of header.slice(7).matchAll(re)) {
    const key = m[1];
    if (key) params[key.toLowerCase()] = m[2] ?? m[3] ?? '';
  }
  return params;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** Recomputes the response the client should have sent for `password`. */
export function digestMatches(params: Record<string, string>, method: string, password: string): boolean {
  const { username = '', realm = '', nonce = '', uri = '', response = '', qop, nc = '', cnonce = '' } = params;
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const expected = qop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return expected === response.toLowerCase();
}
