/** `udsbus run audit --config F`: the audit subscriber as a process. */
import { runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { loadAuditConfig, type AuditConfig } from './config.js';
import { startAudit } from './index.js';

export const auditService: ServiceDefinition<AuditConfig> = {
  name: 'audit',
  load: loadAuditConfig,
  start: (c, { client, logger }) =>
    startAudit({
      client,
      logger,
      dir: c.dir,
      subscriptions: c.subscriptions,
      fsync: c.fsync,
      rotate: c.rotate,
      retention: c.retention,
      retry: c.retry,
      maxPending: c.maxPending,
    }),
};

export function runAudit(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(auditService, configFile, opts);
}
