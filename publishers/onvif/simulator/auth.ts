/**
 * Who is calling: WS-Security UsernameToken first, then HTTP Digest, as ONVIF devices accept both.
 */
import { digestChallenge, digestMatches, newNonce, parseDigestAuthorization } from './http-digest.js';
import type { AuthSchemes, SimulatedUser } from './types.js';
import type { UserStore } from './users.js';
import { passwordMatches, readUsernameToken } from './wsse.js';
import type { XmlElement } from './xml.js';

export type AuthOutcome =
  | { ok: true; user: SimulatedUser }
  /** No credentials at all, or HTTP Digest that failed: answer 401 with this challenge. */
  | { ok: false; challenge: string }
  /** A WS-Security token that failed: answer the NotAuthorized fault. */
  | { ok: false; challenge: undefined };

const MAX_REMEMBERED_NONCES = 4096;
const DIGEST_NONCE_LIFETIME_MS = 5 * 60_000;

export class Authenticator {
  /** UsernameToken nonces seen inside the freshness window, against replay. */
  private readonly seenNonces = new Map<string, number>();
  /** HTTP Digest nonces we issued, with their expiry. */
  private readonly issued = new Map<string, number>();

  constructor(
    private readonly users: UserStore,
    private readonly now: () => number,
    private readonly toleranceMs: number,
    private readonly realm: string,
    /** Which schemes the camera accepts; a refused scheme gets NotAuthorized whatever its credentials. */
    private readonly schemes: AuthSchemes = 'both',
  ) {}

  /** `method` and `uri` are the HTTP request's, which a Digest response covers. */
  authenticate(header: XmlElement | undefined, authorization: string | undefined, method: string, uri: string): AuthOutcome {
    const token = readUsernameToken(header);
    // Digest-only firmware rejects any request carrying a WS-Security header.
    if (token && this.schemes === 'digest') return { ok: false, challenge: undefined };
    if (token) {
      const user = this.users.get(token.username);
      if (!user || !passwordMatches(token, user.password)) return { ok: false, challenge: undefined };
      if (token.digest && !this.freshAndUnused(token.nonce?.toString('base64') ?? '', token.created)) {
        return { ok: false, challenge: undefined };
      }
      return { ok: true, user };
    }
    const digest = this.schemes === 'ws-security' ? undefined : parseDigestAuthorization(authorization);
    if (this.schemes === 'ws-security') return { ok: false, challenge: undefined };
    if (digest) {
      const nonce = digest['nonce'] ?? '';
      const expiry = this.issued.get(nonce);
      if (expiry === undefined || expiry < Date.now()) return { ok: false, challenge: this.challenge(true) };
      const user = this.users.get(digest['username'] ?? '');
      if (user && digest['uri'] === uri && digestMatches(digest, method, user.password)) return { ok: true, user };
    }
    return { ok: false, challenge: this.challenge(false) };
  }

  /** A fresh WWW-Authenticate value. */
  challenge(stale: boolean): string {
    const nonce = newNonce();
    this.issued.set(nonce, Date.now() + DIGEST_NONCE_LIFETIME_MS);
    prune(this.issued, Date.now());
    return digestChallenge(this.realm, nonce, stale);
  }

  private freshAndUnused(nonce: string, created: string | undefined): boolean {
    const t = created ? Date.parse(created) : NaN;
    const now = this.now();
    if (Number.isNaN(t) || Math.abs(now - t) > this.toleranceMs) return false;
    if (this.seenNonces.has(nonce)) return false;
    this.seenNonces.set(nonce, now + this.toleranceMs);
    prune(this.seenNonces, now);
    return true;
  }
}

function prune(map: Map<string, number>, now: number): void {
  if (map.size <= MAX_REMEMBERED_NONCES) return;
  for (const [k, expiry] of map) if (expiry < now) map.delete(k);
  // Still full of live entries: forget the oldest rather than grow without bound.
  for (const k of map.keys()) {
    if (map.size <= MAX_REMEMBERED_NONCES) break;
    map.delete(k);
  }
}
