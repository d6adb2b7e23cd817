/** `udsbus run bridge --config F`: the MQTT bridge as a process. */
import { fromFile, runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { BridgeConfig, checkBridgeConfig, loadBridgeConfig } from './config.js';
import { startBridge } from './index.js';

export const bridgeService: ServiceDefinition<BridgeConfig> = {
  name: 'bridge',
  // SIGHUP applies logLevel only: the MQTT session and durable queues are the bridge's state.
  load: fromFile(loadBridgeConfig, BridgeConfig, checkBridgeConfig),
  start: (c, { client, logger }) => startBridge(c, { client, logger }),
};

export function runBridge(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(bridgeService, configFile, opts);
}
