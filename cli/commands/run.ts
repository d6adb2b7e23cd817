/**
 * `udsbus run <component>`: run one publisher or subscriber in the foreground until SIGINT or
 * SIGTERM. Each component is an entry of COMPONENTS that loads a Component: its description, its
 * own options, and a function that runs it. Adding one is a line here plus the Component, e.g.
 *
 *   recording: async () => (await import('../../subscribers/cli.js')).recordingComponent,
 *
 * Components are loaded only when `udsbus run` runs: cli/main.ts registers every command, and
 * their modules (ONVIF, XML, pino, MQTT) would otherwise sit in every process, the broker's too.
 */
import { Option, type Command } from 'commander';
import { die, socketOption, brokerTrustOption } from '../common.js';

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
  /**
   * The config-file key each of its own flags sets (a JSON path, top-level key first; `--config`
   * names the file and has none): every flag is also settable in the file, and through its
   * top-level key in `UDSBUS_<KEY>`. `--socket` and `--log-level` are `socket` and `logLevel`.
   */
  flagKeys: Readonly<Record<string, string>>;
  /** The top-level keys of its config file, each also a `UDSBUS_<KEY>` variable. */
  configKeys(): Promise<readonly string[]>;
}

export const COMPONENTS: Record<string, () => Promise<Component>> = {
  onvif: async () => (await import('../../publishers/onvif/cli.js')).onvifComponent,
  recording: async () => (await import('../../subscribers/cli.js')).recordingComponent,
  alerting: async () => (await import('../../subscribers/cli.js')).alertingComponent,
  audit: async () => (await import('../../subscribers/cli.js')).auditComponent,
  bridge: async () => (await import('../../subscribers/cli.js')).bridgeComponent,
  dashboard: async () => (await import('./dashboard.js')).dashboardComponent,
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
  // The components become subcommands of `run` just before `run` parses its arguments, so their
  // modules load only then (commander awaits async hooks in parseAsync).
  program.hook('preSubcommand', async (_root, sub) => {
    if (sub === run) await addComponents(run);
  });
}

/** Adds every component as a subcommand of `run` (exported for the test that checks their flags). */
export async function addComponents(run: Command): Promise<void> {
  for (const [name, load] of Object.entries(COMPONENTS)) {
    const component = await load();
    const cmd = run
      .command(name)
      .helpOption('-h, --help', 'display help for command')
      .description(component.description)
      .addOption(socketOption())
      .addOption(brokerTrustOption())
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
