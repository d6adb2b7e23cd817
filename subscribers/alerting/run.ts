/** `udsbus run alerting --config F`: the alerting subscriber as a process. */
import { runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { loadAlertingConfig, type AlertingConfig } from './config.js';
import { startAlerting } from './index.js';

export const alertingService: ServiceDefinition<AlertingConfig> = {
  name: 'alerting',
  load: loadAlertingConfig,
  start: (config, { client, logger }) => startAlerting({ client, logger, config }),
};

export function runAlerting(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(alertingService, configFile, opts);
}
