/** `udsbus run bridge --config F`: the MQTT bridge as a process. */
import { runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { loadBridgeConfig, type BridgeConfig } from './config.js';
import { startBridge } from './index.js';

export const bridgeService: ServiceDefinition<BridgeConfig> = {
  name: 'bridge',
  load: loadBridgeConfig,
  start: (c, { client, logger }) => startBridge(c, { client, logger }),
};

export function runBridge(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(bridgeService, configFile, opts);
}
