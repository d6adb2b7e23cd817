/** The audit subscriber's config file. */
import { Type, type Static } from '@sinclair/typebox';
import { isValidPattern, isValidToken } from '../../schemas/topics.js';
import { LogLevelSchema } from '../common/env.js';
import { loadJsonConfig, type SemanticCheck } from '../common/config.js';

const Ms = (description: string, minimum = 0) => Type.Integer({ minimum, description });

export const AuditSubscription = Type.Object(
  {
    pattern: Type.String({ minLength: 1, description: 'Topic pattern to record, e.g. ">" for everything.' }),
    durable: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
        description: 'Durable queue name (a topic token); false for a plain subscription, which misses what is published while the subscriber is down.',
      }),
    ),
    durableMaxBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Disk quota of the durable queue when the broker creates it.' })),
  },
  { additionalProperties: false },
);

export const AuditConfig = Type.Object(
  {
    socket: Type.Optional(Type.String({ minLength: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    logLevel: Type.Optional(LogLevelSchema),
    dir: Type.String({ minLength: 1, description: 'Directory of the audit log files and manifest.json.' }),
    subscriptions: Type.Optional(Type.Array(AuditSubscription, { minItems: 1, description: 'Default: [{"pattern": ">", "durable": "audit"}].' })),
    fsync: Type.Optional(
      Type.Union([Type.Literal('always'), Type.Object({ intervalMs: Ms('fsync (and then acknowledge) at most this long after a write.', 1) }, { additionalProperties: false })], {
        description: '"always" (default): fsync each batch before acknowledging it; {"intervalMs": N}: fsync every N ms.',
      }),
    ),
    rotate: Type.Optional(
      Type.Object(
        {
          maxBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Start a new file at this size (default 64 MiB).' })),
          maxAgeMs: Type.Optional(Ms('Start a new file when the current one is this old (default 24 h).', 1)),
        },
        { additionalProperties: false },
      ),
    ),
    retention: Type.Optional(
      Type.Object(
        {
          maxFiles: Type.Optional(Type.Integer({ minimum: 1 })),
          maxAgeMs: Type.Optional(Ms('Delete files whose newest record is older than this.', 1)),
          maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false, description: 'Deleting old files is recorded in the chain first (default: keep everything).' },
      ),
    ),
    retry: Type.Optional(
      Type.Object(
        { initialMs: Type.Optional(Ms('First retry after a failed write (default 1000).', 1)), maxMs: Type.Optional(Ms('Longest retry delay (default 30000).', 1)) },
        { additionalProperties: false },
      ),
    ),
    maxPending: Type.Optional(Type.Integer({ minimum: 1, description: 'Messages of plain subscriptions buffered while writing is impossible (default 10000).' })),
  },
  { additionalProperties: false },
);
export type AuditConfig = Static<typeof AuditConfig>;

export const checkAuditConfig: SemanticCheck<AuditConfig> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  const names = new Map<string, number>();
  c.subscriptions?.forEach((s, i) => {
    if (!isValidPattern(s.pattern)) problems.push({ path: `/subscriptions/${i}/pattern`, message: `invalid topic pattern "${s.pattern}"` });
    if (typeof s.durable === 'string') {
      if (!isValidToken(s.durable)) problems.push({ path: `/subscriptions/${i}/durable`, message: 'Expected a durable name: one topic token (A-Za-z0-9_~%@:=-)' });
      const dup = names.get(s.durable);
      if (dup !== undefined) problems.push({ path: `/subscriptions/${i}/durable`, message: `durable name "${s.durable}" already used by /subscriptions/${dup}` });
      names.set(s.durable, i);
    }
  });
  return problems;
};

export function loadAuditConfig(file: string): AuditConfig {
  return loadJsonConfig(file, AuditConfig, checkAuditConfig);
}
