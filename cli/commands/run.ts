/**
 * `udsbus run <component>`: run one publisher or subscriber in the foreground until SIGINT or
 * SIGTERM. Each component is an entry of COMPONENTS: its description, its own options, and a
 * function that runs it. Adding one is a few lines, e.g.
 *
 *   recording: {
 *     description: 'recording subscriber: sessions from camera events',
 *     options: (cmd) => cmd.requiredOption('-c, --config <file>', 'configuration file'),
 *     run: (o) => runRecording(String(o.config), { socket: o.socket, logLevel: o.logLevel }),
 *   },
 */
import { Option, type Command } from 'commander';
import { onvifComponent } from '../../publishers/onvif/cli.js';
import { alertingComponent, auditComponent, bridgeComponent, recordingComponent } from '../../subscribers/cli.js';
import { die, socketOption } from '../common.js';
import { dashboardComponent } from './dashboard.js';

/** Options every component gets: `--socket` and `--log-level`. */
export interface RunOptions {
  /** Broker socket; undefined when neither --socket nor UDSBUS_SOCKET was given (use the default or a config value). */
  socket: string | undefined;
  /** The socket to use when nothing more specific says otherwise. */
  defaultSocket: string;
  logLevel: string | undefined;
  [option: string]: unknown;
}

export interface Component {
  /** One line for `udsbus run --help`. */
  description: string;
  /** Adds the component's own options and help text. */
  options(cmd: Command): Command;
  /** Runs the component until a signal stops it; exits the process. */
  run(opts: RunOptions): Promise<void>;
}

export const COMPONENTS: Record<string, Component> = {
  onvif: onvifComponent,
  recording: recordingComponent,
  alerting: alertingComponent,
  audit: auditComponent,
  bridge: bridgeComponent,
  dashboard: dashboardComponent,
};

export function registerRun(program: Command): void {
  const names = Object.keys(COMPONENTS).join(', ');
  const run = program
    .command('run')
    .description('run a component (publisher or subscriber) in the foreground until Ctrl-C / SIGTERM')
    .argument('[component]', `one of: ${names}`)
    // Our own --help, so that "run <unknown> --help" is an error (exit 1) rather than run's help.
    .helpOption(false)
    .addOption(new Option('-h, --help', 'display help for command'))
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', `\nComponents: ${names}. "udsbus run <component> --help" for its options.`)
    // That --help is parsed here even when it follows a component: show the component's help.
    .hook('preSubcommand', (self, sub) => {
      if (self.opts()['help'] === true) sub.help();
    })
    .action((component: string | undefined, o: { help?: boolean }, cmd: Command) => {
      // Reached only when no component matched (known ones are subcommands).
      if (component === undefined) {
        if (o.help === true) run.help();
        run.help({ error: true });
      }
      if (component === 'help') {
        const sub = run.commands.find((c) => c.name() === cmd.args[1]);
        if (sub !== undefined) sub.help();
        run.help();
      }
      die(`unknown component "${component}": choose one of ${names} (udsbus run --help)`);
    });
  for (const [name, component] of Object.entries(COMPONENTS)) {
    const cmd = run
      .command(name)
      .helpOption('-h, --help', 'display help for command')
      .description(component.description)
      .addOption(socketOption())
      .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env UDSBUS_LOG_LEVEL; default info)');
    component.options(cmd).action(async (o: Record<string, unknown>) => {
      const fromUser = cmd.getOptionValueSource('socket') !== 'default' || process.env['UDSBUS_SOCKET'] !== undefined;
      await component.run({
        ...o,
        socket: fromUser ? String(o['socket']) : undefined,
        defaultSocket: String(o['socket']),
        logLevel: o['logLevel'] === undefined ? undefined : String(o['logLevel']),
      });
    });
  }
}
