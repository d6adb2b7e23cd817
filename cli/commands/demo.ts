/** `udsbus demo` (npm start): broker + simulated event source + a live tap, until Ctrl-C. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startBroker } from '../../bus/broker/server.js';
import { connect } from '../../bus/client/client.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a broker with a demo publisher and show the events (what npm start runs)')
    .option('-s, --socket <path>', 'socket path (default: a fresh temp dir)')
    .action(async (o) => {
      const socket = o.socket ?? join(mkdtempSync(join(tmpdir(), 'udsbus-demo-')), 'bus.sock');
      const handle = await startBroker({ socket });
      process.stderr.write(`udsbus demo: broker on ${socket} — try "UDSBUS_SOCKET=${socket} npx udsbus tap" in another terminal; Ctrl-C to stop\n`);
      const tap = await connect({ socket, name: 'demo-tap' });
      tap.subscribe('camera.>').subscribe((m) => process.stdout.write(`${new Date().toISOString()} ${m.topic} ${JSON.stringify(m.payload)}\n`));
      await tap.flush();
      const pub = await connect({ socket, name: 'demo-publisher' });
      let on = false;
      const timer = setInterval(() => {
        on = !on;
        pub.publish('camera.event.demo-cam.motion', { cameraId: 'demo-cam', active: on, time: new Date().toISOString() });
      }, 1000);
      const stop = async () => {
        clearInterval(timer);
        await pub.close();
        await tap.close();
        await handle.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });
}
