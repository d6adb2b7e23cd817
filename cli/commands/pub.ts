/** `udsbus pub`: publish one message. */
import type { Command } from 'commander';
import { connect } from '../../bus/client/client.js';
import { die, socketOption } from '../common.js';

export function registerPub(program: Command): void {
  program
    .command('pub')
    .description('publish a message (JSON is parsed and sent as CBOR)')
    .argument('<topic>', 'topic, e.g. camera.event.cam-01.motion')
    .argument('[json]', 'payload as JSON; plain text that is not JSON is sent as a string')
    .addOption(socketOption())
    .option('--retain', 'keep as the topic\'s retained message')
    .addHelpText('after', `
Examples:
  udsbus pub camera.event.cam-01.motion '{"active":true}'
  udsbus pub --retain camera.status.cam-01 '{"state":"online"}'`)
    .action(async (topic: string, json: string | undefined, o) => {
      let payload: unknown;
      if (json !== undefined) {
        try {
          payload = JSON.parse(json);
        } catch {
          payload = json;
        }
      }
      const client = await connect({ socket: o.socket, name: 'udsbus-pub', reconnect: false }).catch((e: Error) => die(e.message));
      try {
        client.publish(topic, payload, { retain: o.retain === true });
        await client.flush();
      } catch (err) {
        await client.close();
        die((err as Error).message);
      }
      await client.close();
    });
}
