/**
 * `udsbus demo` (what `npm start` runs): a broker on a temp socket, three simulated ONVIF cameras
 * on 127.0.0.1 with scripted events, the ONVIF publisher against them (by address — no discovery,
 * no multicast, no root), and a compact line per bus message in this terminal. With
 * `--config F` the publisher runs against the real cameras of that config instead. Ctrl-C stops
 * everything and exits 0.
 *
 * To add a component (recording, alerting, audit…), append one entry to `loadComponents` below:
 * it gets the socket, a shared bus client and a logger, and returns something with stop().
 * Everything the demo runs is imported when it runs: cli/main.ts registers every command, and the
 * broker's idle memory should not carry the ONVIF stack (issue 15).
 */
import type { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, Message } from 'udsbus';
import type { CameraSpec, OnvifPublisherOptions } from '../../publishers/onvif/index.js';
import type { SimulatedCamera, SimulatedCameraOptions } from '../../publishers/onvif/simulator/index.js';
import type { Logger } from '../../subscribers/common/logger.js';

/** What every demo component gets. */
export interface DemoContext {
  socket: string;
  /** A bus connection shared by the demo's subscribers. */
  client: Client;
  logger: Logger;
  /** The cameras the publisher serves (simulated ones unless --config). */
  cameras: OnvifPublisherOptions;
}

export type DemoComponent = (ctx: DemoContext) => Promise<{ stop(): Promise<void> }>;

/** Started in this order, stopped in reverse. */
async function loadComponents(): Promise<DemoComponent[]> {
  const { startOnvifPublisher } = await import('../../publishers/onvif/index.js');
  const { subscriberDemoComponents } = await import('../../subscribers/demo.js');
  return [
    (ctx) => startOnvifPublisher({ ...ctx.cameras, socket: ctx.socket, name: 'demo', logger: ctx.logger }),
    // Recording, alerting, audit and the dashboard.
    ...subscriberDemoComponents(),
  ];
}

/** Three cameras with a few events per second between them. */
const SIMULATED: (SimulatedCameraOptions & { label: string })[] = [
  {
    label: 'Front door',
    name: 'front-door',
    events: [
      { every: 1500, kind: 'motion' },
      { every: 4000, kind: 'digitalInput' },
    ],
  },
  {
    label: 'Driveway',
    name: 'driveway',
    events: [
      { every: 2000, kind: 'motion' },
      { every: 7000, kind: 'tamper' },
    ],
  },
  {
    label: 'Backyard',
    name: 'backyard',
    events: [
      { every: 2500, kind: 'motion' },
      { every: 3000, kind: 'digitalInput' },
      { every: 5000, kind: 'lineCrossing' },
    ],
  },
];

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a broker, simulated ONVIF cameras and the ONVIF publisher, and show the messages (what npm start runs)')
    .option('-s, --socket <path>', 'socket path (default: a fresh temp dir)')
    .option('-c, --config <file>', 'use the real cameras of this ONVIF publisher config instead of simulated ones')
    .option('--json', 'one JSON object per message instead of the compact line')
    .action(async (o: { socket?: string; config?: string; json?: boolean }) => {
      const { startBroker } = await import('udsbus/server');
      const { connect } = await import('udsbus');
      const { loadConfig } = await import('../../publishers/onvif/config.js');
      const { startSimulatedCameras } = await import('../../publishers/onvif/simulator/index.js');
      const { createLogger } = await import('../../subscribers/common/logger.js');
      const components = await loadComponents();
      const log = createLogger('udsbus-demo', process.env['UDSBUS_LOG_LEVEL'] ?? 'warn');
      const say = (line: string): void => void process.stderr.write(`udsbus demo: ${line}\n`);
      const tmp = mkdtempSync(join(tmpdir(), 'udsbus-demo-'));
      const socket = o.socket ?? join(tmp, 'bus.sock');
      const stops: Array<() => Promise<void>> = [];
      let stopping = false;
      const stop = async (code: number): Promise<never> => {
        if (stopping) process.exit(130); // second Ctrl-C
        stopping = true;
        for (const s of stops.reverse()) await s().catch((err: unknown) => say(`while stopping: ${(err as Error).message}`));
        rmSync(tmp, { recursive: true, force: true });
        process.exit(code);
      };
      process.on('SIGINT', () => void stop(0));
      process.on('SIGTERM', () => void stop(0));

      try {
        const broker = await startBroker({ socket });
        stops.push(() => broker.close());

        let cameras: OnvifPublisherOptions;
        if (o.config !== undefined) {
          const loaded = loadConfig(o.config);
          for (const w of loaded.warnings) say(w);
          cameras = loaded.options;
        } else {
          // With ffmpeg each camera serves a real RTSP test pattern (publishers/onvif/simulator/stream.ts).
          const { findTool } = await import('../../subscribers/recording/media.js');
          const video = findTool('ffmpeg') !== undefined;
          say(video ? 'simulated cameras serve RTSP video (ffmpeg test pattern with a burnt-in clock)' : 'ffmpeg is not installed: simulated cameras have no video stream');
          const sims = await startSimulatedCameras(SIMULATED.length, (i) => ({ ...SIMULATED[i]!, stream: video }));
          stops.push(() => Promise.all(sims.map((s) => s.close())).then(() => undefined));
          // A snapshot with each motion (and other) event; the dashboard shows the latest per camera.
          cameras = { cameras: sims.map((s, i) => simulatedSpec(s, SIMULATED[i]!.label)), snapshots: { dir: join(tmp, 'snapshots'), maxFiles: 300 } };
        }

        const client = await connect({ socket, name: 'demo' });
        stops.push(() => client.close());
        client.subscribe('>').subscribe((m) => process.stdout.write(`${o.json ? JSON.stringify(jsonLine(m)) : compactLine(m)}\n`));
        await client.flush();

        say(
          `broker on ${socket} — ${o.config !== undefined ? `cameras from ${o.config}` : `${SIMULATED.length} simulated cameras on 127.0.0.1`}. ` +
            `Watch from another terminal: UDSBUS_SOCKET=${socket} npx udsbus tap 'camera.>'. Ctrl-C to stop.`,
        );
        const ctx: DemoContext = { socket, client, logger: log, cameras };
        for (const start of components) {
          const c = await start(ctx);
          stops.push(() => c.stop());
        }
      } catch (err) {
        say(`cannot start: ${(err as Error).message}`);
        await stop(1);
      }
    });
}

function simulatedSpec(s: SimulatedCamera, label: string): CameraSpec {
  return { url: s.url, username: s.username, password: s.password, name: label };
}

// ---------------------------------------------------------------- output

/** Fields that repeat the topic or are bulky; `--json` shows everything. */
const HIDDEN = new Set(['v', 'cameraId', 'kind', 'receivedAt', 'source', 'data', 'key', 'elements', 'onvifTopic', 'profiles', 'pid']);

function clock(d = new Date()): string {
  return d.toISOString().slice(11, 23);
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return /^[\w.:@/+-]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object') {
    if (Array.isArray(v)) return `[${v.map(scalar).join(',')}]`;
    const o = v as Record<string, unknown>;
    if ('host' in o && 'port' in o) return `${String(o['host'])}:${String(o['port'])}`;
    return '{…}';
  }
  return String(v);
}

/** `12:00:00.123 camera.event.front-door.motion  active=true operation=changed` */
export function compactLine(m: Message): string {
  const head = `${clock()} ${m.topic}${m.retained ? ' (retained)' : ''}`;
  const p = m.payload;
  if (p === undefined) return `${head}  (cleared)`;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return `${head}  ${scalar(p)}`;
  const parts = Object.entries(p as Record<string, unknown>)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${scalar(v)}`);
  return `${head}  ${parts.join(' ')}`.slice(0, 240);
}

function jsonLine(m: Message): Record<string, unknown> {
  return { time: new Date().toISOString(), topic: m.topic, retained: m.retained, payload: m.payload ?? null };
}
