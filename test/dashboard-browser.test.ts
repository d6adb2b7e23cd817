/**
 * The dashboard in a real headless chromium against a real broker: 50 retained cameras on first
 * paint (first paint measured and printed, not asserted), a camera that appears later and its
 * status change, an event in the DOM within 1 s of its publish with the alert it caused, a real
 * slow subscriber whose drop counter climbs, a clip that plays (ffmpeg makes a tiny mp4), a
 * camera card's snapshot that loads and is replaced by a newer one, the live tap, and screenshots for review (/tmp/udsbus-dashboard-21{,-top,-drops,-events,-recordings,-bus,-tap}.png).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../bus/client/client.js';
import { SnapshotSpool } from '../publishers/onvif/snapshots.js';
import { createLogger } from '../subscribers/common/logger.js';
import { startDashboard, type DashboardHandle } from '../subscribers/dashboard/index.js';
import { chromiumMissing, launchChromium, type TestBrowser } from './helpers/browser.js';
import { spawnCli, startTestBus, tempDir, waitForLine, type RawConn, type TestBus } from './helpers/harness.js';
import { greyJpeg } from './helpers/jpeg.js';

// Functions passed to page.evaluate run in chromium. The few DOM names they use are declared
// here, so that the project's typecheck does not take in the whole DOM library.
type Video = { currentTime: number; duration: number; videoWidth: number; error: { message: string } | null };
type PageElement = { textContent: string | null };
type Img = { naturalWidth: number; complete: boolean };
declare const document: {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): (PageElement & Partial<Video>) | null;
};
declare const window: { scrollTo(x: number, y: number): void };

const FFMPEG = '/usr/bin/ffmpeg';
const CAMERAS = 50;
const SCREENSHOT = '/tmp/udsbus-dashboard-21.png';
const missing = chromiumMissing();
if (missing !== undefined) console.warn(`dashboard browser tests skipped: ${missing}`);
const noFfmpeg = existsSync(FFMPEG) ? undefined : `${FFMPEG} is missing (apt-get install ffmpeg; .ci/run installs it)`;

const now = () => new Date().toISOString();
const camId = (i: number) => `cam-${String(i).padStart(2, '0')}`;

function discovered(i: number) {
  return {
    v: 1,
    cameraId: camId(i),
    name: `Camera ${i}`,
    manufacturer: 'Acme',
    model: 'IPC-200',
    address: { host: `192.0.2.${i}`, port: 80 },
    xaddr: `http://192.0.2.${i}/onvif/device_service`,
    discoveredBy: 'static',
    profiles: [{ token: 'main', name: 'main', ptz: i % 5 === 0 }],
    time: now(),
  };
}
const status = (i: number, state = 'online') => ({ v: 1, cameraId: camId(i), state, since: now(), time: now() });
const motion = (i: number, active: boolean) => ({
  v: 1,
  cameraId: camId(i),
  kind: 'motion',
  time: now(),
  receivedAt: now(),
  initial: false,
  onvifTopic: 'tns1:RuleEngine/CellMotionDetector/Motion',
  source: {},
  data: { IsMotion: active },
  active,
});

describe.skipIf(missing !== undefined)('dashboard in headless chromium', () => {
  let bus: TestBus;
  let pub: Client;
  let dash: DashboardHandle;
  let browser: TestBrowser;
  let page: Page;
  let rec: string;
  let snaps: string;
  let clip = false;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    rec = join(bus.dir, 'recordings');
    snaps = join(bus.dir, 'snapshots');
    mkdirSync(join(rec, 'cam-01'), { recursive: true });
    const index = join(rec, 'sessions.jsonl');
    const lines: object[] = [];
    if (noFfmpeg === undefined) {
      const file = join(rec, 'cam-01', 's-clip.mp4');
      execFileSync(FFMPEG, ['-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '4', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-movflags', '+faststart', file]);
      // The session index as the recording subscriber writes it today (a recorder's output file).
      lines.push(
        { type: 'open', at: now(), sessionId: 's-clip', cameraId: 'cam-01', start: now(), triggers: [] },
        { type: 'recorder', at: now(), sessionId: 's-clip', event: 'started', pid: 1, argv0: 'ffmpeg', file },
        { type: 'recorder', at: now(), sessionId: 's-clip', event: 'exited' },
        { type: 'close', at: now(), sessionId: 's-clip', end: now(), reason: 'idle', triggerCount: 1 },
      );
      clip = true;
    } else {
      console.warn(`dashboard clip test skipped: ${noFfmpeg}`);
    }
    writeFileSync(index, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length > 0 ? '\n' : ''));

    pub = await bus.client({ name: 'publisher' });
    for (let i = 1; i <= CAMERAS; i++) {
      pub.publish<string>(`camera.discovered.${camId(i)}`, discovered(i), { retain: true });
      pub.publish<string>(`camera.status.${camId(i)}`, status(i), { retain: true });
    }
    await pub.flush();
    const client = await bus.client({ name: 'dashboard' });
    dash = await startDashboard({ client, recordingsDir: rec, indexFile: index, snapshotsDir: snaps, pollMs: 250, logger: createLogger('test-dashboard', 'silent') });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  }, 60_000);

  /** Later tests can run alone (-t): open the page if the first test did not. */
  const opened = async () => {
    if (!page.url().startsWith('http')) {
      await page.goto(dash.url);
      await page.waitForSelector('body[data-ready="1"]');
    }
  };

  afterAll(async () => {
    await browser?.close();
    await dash?.stop();
    await bus?.close();
  });

  it('shows the 50 retained cameras on first paint, then a camera that appears later and its status', async () => {
    const t0 = Date.now();
    await page.goto(dash.url);
    await page.waitForFunction((n) => document.querySelectorAll('#camera-grid .camera').length === n, CAMERAS, { timeout: 10_000 });
    const wall = Date.now() - t0;
    const firstRender = await page.evaluate(() => performance.getEntriesByName('udsbus-first-render')[0]?.startTime ?? -1);
    const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1);
    console.log(`dashboard first paint with ${CAMERAS} cameras: first contentful paint ${fcp.toFixed(0)} ms, cameras rendered ${firstRender.toFixed(0)} ms after navigation start (goto → 50 cards: ${wall} ms)`);
    expect(await page.textContent('[data-camera-id="cam-07"] .name')).toBe('Camera 7');
    expect(await page.textContent('[data-camera-id="cam-07"] .state')).toBe('online');
    // The token in the URL became a cookie, and the address bar lost it.
    expect(page.url()).not.toContain('token=');
    // Again with the cookie (no redirect): what an operator's next visit costs.
    for (let i = 0; i < 3; i++) {
      await page.reload();
      await page.waitForFunction((n) => document.querySelectorAll('#camera-grid .camera').length === n, CAMERAS, { timeout: 10_000 });
      const again = await page.evaluate(() => performance.getEntriesByName('udsbus-first-render')[0]?.startTime ?? -1);
      console.log(`dashboard first paint with ${CAMERAS} cameras, reload ${i + 1}: cameras rendered ${again.toFixed(0)} ms after navigation start`);
    }

    pub.publish<string>('camera.discovered.cam-51', discovered(51), { retain: true });
    await page.waitForSelector('[data-camera-id="cam-51"]', { timeout: 2_000 });
    expect(await page.textContent('[data-camera-id="cam-51"] .state')).toBe('unknown');
    pub.publish<string>('camera.status.cam-51', status(51, 'offline'), { retain: true });
    await page.waitForSelector('[data-camera-id="cam-51"] .state[data-state="offline"]', { timeout: 2_000 });
    expect(await page.locator('#camera-grid .camera').count()).toBe(CAMERAS + 1);
  });

  it('shows an event within 1 s of its publish, with the alert it caused', async () => {
    await opened();
    const selector = '#event-list li[data-event-topic="camera.event.cam-07.motion"]';
    expect(await page.locator(selector).count()).toBe(0);
    const t = Date.now();
    pub.publish<string>('camera.event.cam-07.motion', motion(7, true));
    await page.waitForSelector(selector, { timeout: 1_000 });
    const ms = Date.now() - t;
    console.log(`dashboard: event in the DOM ${ms} ms after its publish`);
    expect(ms).toBeLessThan(1_000);
    expect(await page.textContent(`${selector} .active`)).toBe('active');
    expect(await page.textContent('[data-camera-id="cam-07"] .last')).toContain('motion');

    pub.publish('alert.motion-night', { v: 1, ruleId: 'motion-night', cameraId: 'cam-07', topic: 'camera.event.cam-07.motion', severity: 'critical', message: 'Motion at cam-07 at night', time: now() });
    await page.waitForSelector(`${selector} .sev.critical`, { timeout: 2_000 });
    expect(await page.textContent(`${selector} .sev`)).toBe('motion-night');

    // The camera filter hides other cameras' events.
    pub.publish<string>('camera.event.cam-08.motion', motion(8, true));
    await page.waitForSelector('#event-list li[data-event-topic="camera.event.cam-08.motion"]', { timeout: 2_000 });
    await page.selectOption('#f-camera', 'cam-07');
    await page.waitForSelector('#event-list li[data-event-topic="camera.event.cam-08.motion"]', { state: 'detached', timeout: 2_000 });
    expect(await page.locator(selector).count()).toBe(1);
    await page.selectOption('#f-camera', '');
  });

  it("updates a slow subscriber's drop counter", async () => {
    await opened();
    // A real slow consumer: it subscribes with a small share of its queue, then stops reading.
    const slow: RawConn = await bus.raw();
    await slow.hello({ name: 'slow-sub' });
    slow.send({ op: 'sub', sid: 1, pattern: 'load.>', maxBytes: 32 * 1024, retained: false, id: 1 });
    await slow.next((f) => f.op === 'ok' && f.id === 1);
    slow.sock.pause();

    const row = 'tr[data-client-name="slow-sub"]';
    await page.waitForSelector(row, { timeout: 3_000 });
    expect(await page.textContent(`${row} td.dropped`)).toBe('0');

    const payload = { blob: 'x'.repeat(8 * 1024) };
    const burst = async (n: number) => {
      for (let i = 0; i < n; i++) pub.publish(`load.t${i % 4}`, payload);
      await pub.flush();
    };
    await burst(400);
    await page.waitForFunction((sel) => Number(document.querySelector(`${sel} td.dropped`)?.textContent ?? 0) > 0, row, { timeout: 5_000 });
    const first = Number(await page.textContent(`${row} td.dropped`));
    expect(first).toBeGreaterThan(0);
    expect(await page.getAttribute(`${row} td.dropped`, 'class')).toContain('nonzero');

    await burst(400);
    await page.waitForFunction(([sel, n]) => Number(document.querySelector(`${sel} td.dropped`)?.textContent ?? 0) > n, [row, first] as const, { timeout: 5_000 });
    console.log(`dashboard: slow-sub dropped ${first}, then ${await page.textContent(`${row} td.dropped`)}`);
    await page.locator('#clients').screenshot({ path: SCREENSHOT.replace('.png', '-drops.png') });
    slow.destroy();
    await page.waitForSelector(row, { state: 'detached', timeout: 3_000 });
  });

  it('plays a clip from the session index', async (ctx) => {
    if (!clip) {
      console.warn(`skipped: ${noFfmpeg}`);
      ctx.skip();
    }
    await opened();
    const button = 'button.play[data-session-id="s-clip"]';
    await page.waitForSelector(button, { timeout: 3_000 });
    await page.click(button);
    await page.waitForFunction(() => {
      const v = document.getElementById('player') as Video | null;
      return v !== null && v.currentTime > 0.5;
    }, undefined, { timeout: 10_000 });
    const state = await page.evaluate(() => {
      const v = document.getElementById('player') as Video;
      return { t: v.currentTime, d: v.duration, w: v.videoWidth, err: v.error?.message };
    });
    console.log(`dashboard: clip playing, currentTime ${state.t.toFixed(2)} s of ${state.d.toFixed(2)} s, ${state.w} px wide`);
    expect(state.err).toBeUndefined();
    expect(state.w).toBe(160);
  });

  it("shows a camera's latest snapshot on its card, and the newer one when it arrives", async () => {
    await opened();
    const card = '[data-camera-id="cam-03"]';
    expect(await page.textContent(`${card} .snap.none`)).toBe('no snapshot yet');
    // What the ONVIF publisher does with a snapshot: a file in its spool, a reference in the event.
    const spool = new SnapshotSpool({ dir: snaps });
    const publishSnapshot = (image: Buffer) => pub.publish('camera.event.cam-03.motion' as string, { ...motion(3, true), snapshot: spool.store('cam-03', image, new Date()) });
    publishSnapshot(greyJpeg(2));
    await page.locator(`${card} img.snap`).scrollIntoViewIfNeeded({ timeout: 2_000 });
    await page.waitForFunction(
      (sel) => {
        const img = document.querySelector(sel) as unknown as Img | null;
        return img !== null && img.complete && img.naturalWidth === 16;
      },
      `${card} img.snap`,
      { timeout: 5_000 },
    );
    const firstSrc = await page.getAttribute(`${card} img.snap`, 'src');
    expect(firstSrc).toMatch(/^\/snapshots\/cam-03\?v=[0-9a-f]{16}$/);
    expect(await page.getAttribute(`${card} img.snap`, 'loading')).toBe('lazy');

    const t = Date.now();
    publishSnapshot(greyJpeg(5));
    await page.waitForFunction(
      (sel) => {
        const img = document.querySelector(sel) as unknown as Img | null;
        return img !== null && img.complete && img.naturalWidth === 40;
      },
      `${card} img.snap`,
      { timeout: 5_000 },
    );
    console.log(`dashboard: newer snapshot on the card ${Date.now() - t} ms after its event`);
    expect(await page.getAttribute(`${card} img.snap`, 'src')).not.toBe(firstSrc);
    // Other cards still say they have none, and no card shows a broken image.
    expect(await page.textContent('[data-camera-id="cam-04"] .snap.none')).toBe('no snapshot yet');
    expect(await page.locator('#camera-grid img.snap.broken').count()).toBe(0);
  });

  it('taps a pattern live', async () => {
    await opened();
    await page.fill('#tap-pattern', 'tapme.>');
    await page.click('#tap-toggle');
    await page.waitForFunction(() => document.getElementById('tap-status')?.textContent?.startsWith('tapping'), undefined, { timeout: 3_000 });
    pub.publish('tapme.hello', { greeting: 'hi there' });
    pub.publish('other.topic', { not: 'shown' });
    await page.waitForFunction(() => document.getElementById('tap-lines')?.textContent?.includes('hi there'), undefined, { timeout: 3_000 });
    expect(await page.textContent('#tap-lines')).not.toContain('not');
    await page.click('#tap-toggle');
  });

  it('takes a screenshot for review', async () => {
    await opened();
    // Some live traffic so the sparklines and timeline have something to show.
    for (let k = 0; k < 3; k++) {
      for (let i = 1; i <= 12; i++) pub.publish<string>(`camera.event.${camId(i)}.motion`, motion(i, k % 2 === 0));
      await new Promise((r) => setTimeout(r, 400));
    }
    await page.waitForTimeout(1_200);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-top.png') });
    for (const section of ['events', 'recordings', 'bus', 'tap']) await page.locator(`#${section}`).screenshot({ path: SCREENSHOT.replace('.png', `-${section}.png`) });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});

describe.skipIf(missing !== undefined)('the demo (npm start) in headless chromium', () => {
  it('prints the dashboard URL, and the page shows the simulated cameras live', async () => {
    // The demo's state directory (index, clips, audit) is a mkdtemp under TMPDIR: ours, removed after.
    const tmp = tempDir('udsbus-demo-browser-');
    const child = spawnCli(['demo'], { TMPDIR: tmp.dir });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    let code: number | null = null;
    let browser: TestBrowser | undefined;
    try {
      const line = await waitForLine(child.stderr!, (l) => l.includes('dashboard: http://127.0.0.1:'), 20_000);
      const url = line.slice(line.indexOf('http://'));
      browser = await launchChromium();
      const page = await browser.context.newPage();
      await page.goto(url);
      await page.waitForFunction(() => document.querySelectorAll('#camera-grid .camera .state[data-state="online"]').length === 3, undefined, { timeout: 15_000 });
      const names = await page.locator('#camera-grid .camera .name').allTextContents();
      expect(names.sort()).toEqual(['Backyard', 'Driveway', 'Front door']);
      // Live: events from the simulated cameras keep arriving in the timeline.
      await page.waitForFunction(() => document.querySelectorAll('#event-list li').length >= 3, undefined, { timeout: 15_000 });
      await page.waitForSelector('#recording-list li[data-session-id]', { timeout: 15_000 });
      // Snapshots: the publisher fetched them from the simulated cameras with the motion events,
      // and each card shows its camera's latest (the simulator's 8x8 JPEG).
      await page.waitForFunction(
        () => {
          const imgs = document.querySelectorAll('#camera-grid .camera img.snap') as unknown as { length: number } & ArrayLike<Img>;
          let loaded = 0;
          for (let i = 0; i < imgs.length; i++) if (imgs[i]!.complete && imgs[i]!.naturalWidth > 0) loaded++;
          return loaded === 3;
        },
        undefined,
        { timeout: 15_000 },
      );
    } finally {
      await browser?.close();
      child.kill('SIGINT');
      code = await exited;
      tmp.cleanup();
    }
    expect(code).toBe(0);
  }, 60_000);
});
