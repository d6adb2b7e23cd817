/**
 * WS-Security UsernameToken (OASIS UsernameToken Profile 1.0), the authentication ONVIF clients
 * send by default: PasswordDigest = base64(sha1(nonce + created + password)).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { NS } from './soap.js';
import { attr, child, childText, type XmlElement } from './xml.js';

export interface UsernameToken {
  readonly username: string;
  /** The digest (PasswordDigest) or the clear password (PasswordText). */
  readonly password: string;
  readonly digest: boolean;
  readonly nonce: Buffer | undefined;
  readonly created: string | undefined;
}

/** Reads `Security/UsernameToken` from a SOAP header; undefined when there is none. */
export function readUsernameToken(header: XmlElement | undefined): UsernameToken | undefined {
  const security = child(header, 'Security', NS.wsse) ?? child(header, 'Security');
  const token = child(security, 'UsernameToken');
  if (!token) return undefined;
  const passwordEl = child(token, 'Password');
  const nonceText = childText(token, 'Nonce');
  return {
    username: childText(token, 'Username') ?? '',
    password: passwordEl?.text ?? '',
    // The Type attribute is optional and defaults to PasswordText.
    digest: (attr(passwordEl, 'Type') ?? '').endsWith('#PasswordDigest'),
    nonce: nonceText ? Buffer.from(nonceText, 'base64') : undefined,
    created: childText(token, 'Created'),
  };
}

/** base64(sha1(nonce + created + password)); strings as UTF-8, as the profile specifies. */
export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64');
}

/** Checks the token's password against the user's; says nothing about freshness or replay. */
export function passwordMatches(token: UsernameToken, password: string): boolean {
  if (!token.digest) return safeEqual(token.password, password);
  if (!token.nonce || token.created === undefined) return false;
  return safeEqual(token.password, passwordDigest(token.nonce, token.created, password));
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
