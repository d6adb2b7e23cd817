/** `udsbus run audit --config F`: the audit subscriber as a process. */
import { fromFile, runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { AuditConfig, checkAuditConfig, loadAuditConfig } from './config.js';
import { startAudit } from './index.js';

export const auditService: ServiceDefinition<AuditConfig> = {
  name: 'audit',
  // SIGHUP applies logLevel only: the writer holds the hash chain and the durable acknowledgements.
  load: fromFile(loadAuditConfig, AuditConfig, checkAuditConfig),
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
