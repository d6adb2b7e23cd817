/**
 * The subscribers in `udsbus demo` (npm start): recording, alerting and audit on the demo's bus,
 * with their state in a temp directory that is kept after the demo so it can be inspected
 * (`udsbus audit verify DIR/audit`). The demo broker has no data directory, so the audit
 * subscriber uses a plain subscription here; in production it uses a durable one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'udsbus';
import { startAlerting } from './alerting/index.js';
import { startAudit } from './audit/index.js';
import type { Logger } from './common/logger.js';
import { startRecording } from './recording/index.js';
import { findTool } from './recording/media.js';

type Ctx = { client: Client; logger: Logger; cameras?: { snapshots?: { dir: string } | undefined } };
type Started = Promise<{ stop(): Promise<void> }>;

/** Components for cli/commands/demo.ts, started in this order after the publisher. */
export function subscriberDemoComponents(say: (line: string) => void = (l) => void process.stderr.write(`udsbus demo: ${l}\n`)): Array<(ctx: Ctx) => Started> {
  let dir: string | undefined;
  const stateDir = () => {
    if (dir === undefined) {
      dir = mkdtempSync(join(tmpdir(), 'udsbus-demo-state-'));
      say(`recording index, audit log: ${dir} — after the demo: udsbus audit verify ${join(dir, 'audit')}`);
    }
    return dir;
  };
  return [
    (ctx) => {
      // Clips need ffmpeg (and the simulated cameras then serve video: see cli/commands/demo.ts).
      const video = findTool('ffmpeg') !== undefined && findTool('ffprobe') !== undefined;
      const indexFile = join(stateDir(), 'sessions.jsonl');
      if (video) say(`recording clips to ${join(stateDir(), 'clips')} — list them: udsbus recordings list --index ${indexFile}`);
      else say('ffmpeg is not installed: sessions are indexed but no video is recorded (apt-get install ffmpeg for clips)');
      return startRecording({
        client: ctx.client,
        logger: ctx.logger,
        indexFile,
        preRollMs: 2_000,
        postRollMs: 4_000,
        // Short, so the demo shows clips every few seconds even while motion goes on.
        maxDurationMs: 15_000,
        ...(video ? { clips: { dir: join(stateDir(), 'clips'), budgetBytes: 20 * 1024 * 1024 } } : {}),
      });
    },
    (ctx) =>
      startAlerting({
        client: ctx.client,
        logger: ctx.logger,
        config: {
          rules: [
            { id: 'tamper', topic: 'camera.event.*.tamper', when: [{ path: 'active', equals: true }], dedupe: ['active'], severity: 'critical', message: 'Camera {cameraId} tampered with' },
            { id: 'line-crossing', topic: 'camera.event.*.line', cooldownMs: 10_000, severity: 'info', message: 'Line crossed at {cameraId}' },
          ],
        },
      }),
    // The warning about a plain subscription is expected here.
    (ctx) => startAudit({ client: ctx.client, logger: ctx.logger.child({}, { level: 'error' }), dir: join(stateDir(), 'audit'), subscriptions: [{ pattern: '>', durable: false }] }),
    // The page shows the simulated cameras live, with the clips, sessions and audit status of the
    // components above; its URL (with the access token) goes to stderr.
    async (ctx) => {
      const { startDashboard } = await import('./dashboard/index.js');
      const dash = await startDashboard({
        client: ctx.client,
        logger: ctx.logger,
        listen: { host: '127.0.0.1', port: Number(process.env['UDSBUS_DASHBOARD_PORT'] ?? 0) },
        indexFile: join(stateDir(), 'sessions.jsonl'),
        recordingsDir: join(stateDir(), 'clips'),
        auditDir: join(stateDir(), 'audit'),
        snapshotsDir: ctx.cameras?.snapshots?.dir,
      });
      say(`dashboard: ${dash.url}`);
      return dash;
    },
  ];
}
