/**
 * A simulated ONVIF camera for tests: real SOAP over HTTP on 127.0.0.1 (device, media, events,
 * PTZ), WS-Security and HTTP Digest auth, pull-point events, injectable faults, and opt-in
 * WS-Discovery/SSDP.
 *
 * @example
 * const sim = await startSimulatedCamera({ name: 'door', events: [{ every: 1000, kind: 'motion' }] });
 * const cam = new Cam({ hostname: sim.host, port: sim.port, username: sim.username, password: sim.password });
 * // ...
 * await sim.close();
 */
import { SimulatedCameraServer } from './camera.js';
import type { SimulatedCamera, SimulatedCameraOptions } from './types.js';

export type * from './types.js';
export { passwordDigest } from './wsse.js';

/** Starts one camera; resolves once it listens (and, if asked, answers discovery). */
export async function startSimulatedCamera(opts: SimulatedCameraOptions = {}): Promise<SimulatedCamera> {
  const cam = new SimulatedCameraServer(opts);
  await cam.start();
  return cam;
}

/**
 * Starts `n` cameras named `<name>-1` … `<name>-n` (so each has its own serial and uuid). With a
 * fixed `port`, camera i listens on `port + i`. `opts` may be a function of the index for
 * per-camera settings. If any camera fails to start, the others are closed and the error thrown.
 *
 * @example
 * const fleet = await startSimulatedCameras(20, { name: 'yard' });
 * await Promise.all(fleet.map((c) => c.close()));
 */
export async function startSimulatedCameras(
  n: number,
  opts: SimulatedCameraOptions | ((index: number) => SimulatedCameraOptions) = {},
): Promise<SimulatedCamera[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => {
      const o = typeof opts === 'function' ? opts(i) : opts;
      return startSimulatedCamera({
        ...o,
        name: typeof opts === 'function' && o.name !== undefined ? o.name : `${o.name ?? 'sim-camera'}-${i + 1}`,
        ...(o.port ? { port: o.port + i } : {}),
      });
    }),
  );
  const cams = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(cams.map((c) => c.close()));
    throw failed.reason;
  }
  return cams;
}

export { decodeBurntClock, findFfmpeg, SimulatedStream, startSimulatedStream, type StreamOptions } from './stream.js';
