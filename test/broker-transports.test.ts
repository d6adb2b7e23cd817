/**
 * One suite of broker-core behaviour run over every transport (STYLE: MQTT.js's abstract client
 * tests): an in-memory stream pair inside this process (`memoryPair` + `Broker.handle`, no socket
 * at all) and a real Unix socket. Process-boundary tests (kill -9, restarts) stay socket-only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Broker, connect, memoryPair, startBroker, type Client, type ConnectOptions } from '../bus/index.js';
import { firstMatching, takeN } from './helpers/harness.js';

type Rig = { client(o?: ConnectOptions): Promise<Client>; broker: Broker; close(): Promise<void> };

async function memoryRig(): Promise<Rig> {
  const broker = new Broker({ statsIntervalMs: 0 });
  const clients: Client[] = [];
  return {
    broker,
    async client(o = {}) {
      const c = await connect({
        ...o,
        dial: () => {
          const [server, client] = memoryPair();
          broker.handle(server, 'memory');
          return client;
        },
      });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await broker.close();
    },
  };
}

async function unixRig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'udsbus-transports-'));
  const h = await startBroker({ socket: join(dir, 'bus.sock'), statsIntervalMs: 0 });
  const clients: Client[] = [];
  return {
    broker: h.broker,
    async client(o = {}) {
      const c = await connect({ socket: h.socketPath, ...o });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const [name, make] of [
  ['memory', memoryRig],
  ['unix socket', unixRig],
] as const) {
  describe(`broker core over ${name}`, () => {
    let rig: Rig | undefined;
    afterEach(async () => {
      await rig?.close();
      rig = undefined;
    });

    it('routes by pattern, in order, with the publisher stamped in from', async () => {
      rig = await make();
      const sub = await rig.client({ name: 'sub' });
      const got = takeN(sub.subscribe('camera.event.*.motion'), 3);
      await sub.flush();
      const pub = await rig.client({ name: 'pub' });
      pub.publish<string>('camera.event.cam-01.tamper', { no: true });
      for (let i = 1; i <= 3; i++) pub.publish<string>(`camera.event.cam-0${i}.motion`, { i });
      const msgs = await got;
      expect(msgs.map((m) => m.payload)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
      expect(msgs[0]!.from?.name).toBe('pub');
      expect(msgs.map((m) => m.seq)).toEqual([1, 2, 3]);
    });

    it('answers requests through a queue group and says NO_RESPONDERS when nobody serves', async () => {
      rig = await make();
      const worker = await rig.client({ name: 'worker' });
      worker.serve('camera.rpc.*.info', (req) => ({ model: 'sim', asked: req.topic }));
      await worker.flush();
      const backend = await rig.client({ name: 'backend' });
      expect(await backend.request('camera.rpc.cam-01.info', {})).toEqual({ model: 'sim', asked: 'camera.rpc.cam-01.info' });
      await expect(backend.request('camera.rpc.cam-01.reboot', {})).rejects.toThrow(/no subscriber/);
    });

    it('replays retained state and fires the will of a connection that dies without bye', async () => {
      rig = await make();
      const worker = await rig.client({ name: 'worker', reconnect: false, will: { topic: 'camera.status.cam-01', payload: 'offline', retain: true } });
      worker.publish<string>('camera.status.cam-01', 'online', { retain: true, owned: true });
      await worker.flush();
      const late = await rig.client();
      expect((await takeN(late.subscribe('camera.status.*'), 1)).map((m) => [m.payload, m.retained])).toEqual([['online', true]]);
      const offline = firstMatching(late.subscribe<unknown>('camera.status.cam-01', { retained: false }), (m) => m.payload === 'offline');
      await late.flush();
      worker.destroyConnection();
      expect((await offline).payload).toBe('offline');
    });

    it('closes cleanly right after a publish: the broker sees bye, no will', async () => {
      rig = await make();
      const watcher = await rig.client();
      const gone = firstMatching(watcher.subscribe('$SYS.client.disconnected'), (m) => (m.payload as { name: string }).name === 'quick');
      await watcher.flush();
      const quick = await rig.client({ name: 'quick', will: { topic: 'x.will', payload: 1 } });
      quick.publish('x.y', 1);
      await quick.close();
      expect((await gone).payload).toMatchObject({ reason: 'bye', clean: true });
    });
  });
}
