/**
 * The dashboard's config file (`udsbus dashboard --config F`, `udsbus run dashboard --config F`).
 * Where it listens decides who may look: a UDS is guarded by its file mode (for a reverse proxy);
 * TCP is loopback unless `host` says otherwise, and a non-loopback host needs a configured token.
 */
import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { LogLevelSchema } from '../common/env.js';
import { loadJsonConfig, type SemanticCheck } from '../common/config.js';

const Ms = (description: string, minimum = 0) => Type.Integer({ minimum, description });

export const DashboardListen = Type.Union([
  Type.Object(
    {
      host: Type.Optional(Type.String({ minLength: 1, description: 'TCP address (default 127.0.0.1). Anything but loopback needs "token" or "tokenFile".' })),
      port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one.' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      path: Type.String({ minLength: 1, description: 'Unix socket path (for a reverse proxy); access by file mode.' }),
      mode: Type.Optional(Type.String({ pattern: '^0?[0-7]{3}$', description: 'Socket file mode, octal (default "0660").' })),
    },
    { additionalProperties: false },
  ),
]);
export type DashboardListen = Static<typeof DashboardListen>;

export const DashboardConfig = Type.Object(
  {
    socket: Type.Optional(Type.String({ minLength: 1, description: 'Broker socket (default: --socket, UDSBUS_SOCKET, the per-user default).' })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Client name shown in $SYS (default "dashboard").' })),
    logLevel: Type.Optional(LogLevelSchema),
    listen: Type.Optional(DashboardListen),
    token: Type.Optional(Type.String({ minLength: 16, description: 'Access token for TCP (prefer tokenFile). Without one, a random token is made and printed in the URL.' })),
    tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the access token (first line).' })),
    recordings: Type.Optional(
      Type.Object(
        {
          dir: Type.Optional(Type.String({ minLength: 1, description: 'Clips are served only from inside this directory.' })),
          indexFile: Type.Optional(Type.String({ minLength: 1, description: "The recording subscriber's session index (sessions.jsonl)." })),
        },
        { additionalProperties: false },
      ),
    ),
    auditDir: Type.Optional(Type.String({ minLength: 1, description: "The audit subscriber's log directory: verify status and last checkpoint." })),
    snapshotsDir: Type.Optional(Type.String({ minLength: 1, description: "The ONVIF publisher's snapshot spool (its snapshots.dir): camera cards show the latest snapshot, served only from inside it." })),
    actions: Type.Optional(Type.Boolean({ description: 'Allow camera actions (PTZ, snapshot URI) from the page (default false: read-only).' })),
    pollMs: Type.Optional(Ms('How often clients and broker stats are polled (default 1000).', 100)),
    eventsKept: Type.Optional(Type.Integer({ minimum: 10, maximum: 100_000, description: 'Camera events kept for the timeline (default 1000).' })),
  },
  { additionalProperties: false },
);
export type DashboardConfig = Static<typeof DashboardConfig>;

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

const check: SemanticCheck<DashboardConfig> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  const l = c.listen;
  if (l !== undefined && 'port' in l && l.host !== undefined && !isLoopback(l.host) && c.token === undefined && c.tokenFile === undefined) {
    problems.push({ path: '/listen/host', message: `"${l.host}" is not loopback: set "tokenFile" (or "token") so that only holders of the token can look` });
  }
  if (c.token !== undefined && c.tokenFile !== undefined) problems.push({ path: '/token', message: 'give "token" or "tokenFile", not both' });
  return problems;
};

export function loadDashboardConfig(file: string): DashboardConfig {
  return loadJsonConfig(file, DashboardConfig, check);
}

export { check as checkDashboardConfig };
