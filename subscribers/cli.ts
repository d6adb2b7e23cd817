/**
 * `udsbus run recording|alerting|audit`: the subscribers' entries for the component map of
 * cli/commands/run.ts (kept here so their options live with them). Each takes `--config FILE`.
 */
import type { TObject } from '@sinclair/typebox';
import type { Command } from 'commander';
import { AlertingConfig } from './alerting/config.js';
import { AuditConfig } from './audit/config.js';
import { BridgeConfig } from './bridge/config.js';
import { RecordingConfig } from './recording/config.js';
import { runAlerting } from './alerting/run.js';
import { runAudit } from './audit/run.js';
import { runBridge } from './bridge/run.js';
import { runRecording } from './recording/run.js';
import type { RunOptions as ServiceRunOptions } from './common/run.js';

/** What `udsbus run` hands to a component (see cli/commands/run.ts). */
interface RunOptions {
  socket: string | undefined;
  defaultSocket: string;
  logLevel: string | undefined;
  [option: string]: unknown;
}

type SubscriberComponent = {
  description: string;
  options(cmd: Command): Command;
  run(o: RunOptions): Promise<void>;
  flagKeys: Readonly<Record<string, string>>;
  configKeys(): Promise<readonly string[]>;
};

function component(description: string, example: string, schema: TObject, run: (file: string, o: ServiceRunOptions) => Promise<void>): SubscriberComponent {
  return {
    description,
    flagKeys: {}, // --config only: everything else is in the file
    configKeys: async () => Object.keys(schema.properties),
    options: (cmd) =>
      cmd
        .requiredOption('-c, --config <file>', `configuration file (JSON; see ${example} and docs/subscribers.md)`)
        .addHelpText(
          'after',
          '\nEvery top-level key of the file can be overridden by UDSBUS_<KEY> (camelCase → UPPER_SNAKE; strings as they are, other values as JSON),\nand --socket / --log-level override both. SIGHUP re-reads the file (docs/configuration.md, "Components").',
        )
        .addHelpText('after', '\nExit codes:\n  0  stopped by SIGINT/SIGTERM\n  1  a failure\n  2  cannot connect to the broker\n  7  invalid config (file:line: /path: reason)'),
    // --socket / UDSBUS_SOCKET win; otherwise the config's "socket", then the default.
    run: (o) => run(String(o['config']), { socket: o.socket, logLevel: o.logLevel }),
  };
}

export const recordingComponent = component('recording subscriber: recording sessions from camera events', 'examples/recording.config.json', RecordingConfig, runRecording);
export const alertingComponent = component('alerting subscriber: rules → webhook, command and bus alerts', 'examples/alerting.config.json', AlertingConfig, runAlerting);
export const auditComponent = component('audit subscriber: every message into a hash-chained log (durable)', 'examples/audit.config.json', AuditConfig, runAudit);
export const bridgeComponent = component('MQTT bridge: bus patterns out, MQTT topics in, Home Assistant discovery (durable)', 'examples/bridge.config.json', BridgeConfig, runBridge);
