/** `udsbus run alerting --config F`: the alerting subscriber as a process. */
import { fromFile, runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { AlertingConfig, checkAlertingConfig, loadAlertingConfig } from './config.js';
import { startAlerting } from './index.js';

/** What SIGHUP applies live: the rule set. Cheap to swap, and the reason to edit an alerting config. */
const LIVE = ['rules', 'sinks', 'storm', 'timezone'] as const;

export const alertingService: ServiceDefinition<AlertingConfig> = {
  name: 'alerting',
  load: fromFile(loadAlertingConfig, AlertingConfig, checkAlertingConfig),
  start: (config, { client, logger }) => startAlerting({ client, logger, config }),
  // The new rules replace the old in one step: the old engine stops (its storm summaries go out,
  // deliveries in flight finish), then the new one subscribes. Cooldowns and storm windows start
  // afresh, and a message published in between is not evaluated.
  reload: {
    keys: LIVE,
    async apply(config, running, { client, logger }) {
      await running.stop();
      return startAlerting({ client, logger, config });
    },
  },
};

export function runAlerting(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(alertingService, configFile, opts);
}
