/** `udsbus pub`: publish one message, or many for quick load (--repeat, --rate). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { PublishOptions } from 'udsbus';
import { DEFAULT_LIMITS } from 'udsbus/core';
import { checkTopic, describeTopicProblem, isReservedTopic } from 'udsbus/core';
import { die, socketOption, brokerTrustOption } from '../common.js';
import { Exit, exitCodesHelp } from '../exit-codes.js';
import { count, header, positive } from '../options.js';
import { parsePayloadArg } from '../render.js';

export type PubOptions = {
  socket: string;
  stdin?: boolean;
  file?: string;
  string?: boolean;
  retain?: boolean;
  header?: Record<string, string>;
  repeat?: number;
  rate?: number;
};

export function registerPub(program: Command): void {
  program
    .command('pub')
    .description('publish a message: JSON is sent as the CBOR value it describes, other text as a string')
    .argument('<topic>', 'topic, e.g. camera.event.cam-01.motion')
    .argument('[json]', 'the payload; omit it (and --stdin/--file) for an empty payload')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--stdin', 'read the payload from standard input')
    .option('-f, --file <path>', 'read the payload from a file')
    .option('--string', 'send the text as a string even if it is valid JSON')
    .option('-r, --retain', "keep it as the topic's retained message (an empty payload clears it)")
    .option('-H, --header <key=value>', 'a header sent in hdr; repeat for more', header)
    .option('--repeat <n>', 'publish n times (quick load); a msgs/s summary goes to stderr', count)
    .option('--rate <per-second>', 'with --repeat: at most this many messages per second', positive)
    .addHelpText(
      'after',
      `
Payload: JSON becomes CBOR maps, arrays, numbers, strings; {"$bytes":"<hex>"} becomes a byte
string (the same form tap --json prints). Text that is not JSON is sent as a string.

Examples:
  udsbus pub camera.event.cam-01.motion '{"active":true}'
  udsbus pub --retain camera.status.cam-01 '{"state":"online"}'
  udsbus pub --retain camera.status.cam-01                  # clear the retained message
  udsbus pub -H trace=abc123 camera.cmd.cam-01.reboot '{}'
  udsbus pub camera.snapshot.cam-01 '{"jpeg":{"$bytes":"ffd8ffe0"}}'
  jq -c . event.json | udsbus pub --stdin camera.event.cam-01.motion
  udsbus pub --repeat 10000 --rate 2000 load.test '{"n":1}'
${exitCodesHelp([Exit.OK, Exit.ERROR, Exit.CONNECT])}`,
    )
    .action((topic: string, json: string | undefined, o: PubOptions) => runPub(topic, json, o));
}

export async function runPub(topic: string, json: string | undefined, o: PubOptions): Promise<void> {
  const problem = checkTopic(topic, DEFAULT_LIMITS);
  if (problem !== null) die(describeTopicProblem(problem, topic, DEFAULT_LIMITS), Exit.ERROR);
  if (isReservedTopic(topic)) die(`topics starting with "$" belong to the broker; publish to another topic (e.g. ${topic.slice(1)})`, Exit.ERROR);
  const sources = [json !== undefined, o.stdin === true, o.file !== undefined].filter(Boolean).length;
  if (sources > 1) die('give the payload one way: as an argument, with --stdin, or with --file', Exit.ERROR);
  if (o.rate !== undefined && o.repeat === undefined) die('--rate needs --repeat N (how many messages to send)', Exit.ERROR);

  let text: string | undefined = json;
  try {
    if (o.stdin) text = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    else if (o.file !== undefined) text = readFileSync(o.file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    die(`cannot read ${o.stdin ? 'standard input' : o.file}: ${(e as Error).message}`, Exit.ERROR);
  }
  let payload: unknown;
  try {
    payload = text === undefined ? undefined : o.string ? text : parsePayloadArg(text);
  } catch (e) {
    die((e as Error).message, Exit.ERROR);
  }
  const opts: Pick<PublishOptions, 'retain' | 'hdr'> = {};
  if (o.retain) opts.retain = true;
  if (o.header !== undefined) opts.hdr = o.header;

  const { connectOrExit } = await import('../connect.js');
  const client = await connectOrExit(o.socket, 'udsbus-pub', { reconnect: false });
  let failed: Error | undefined;
  // The broker reports a failed publish without an id as an err frame: it arrives before flush().
  client.on('error', (e) => (failed ??= e));
  client.on('disconnect', () => (failed ??= new Error('the broker closed the connection')));

  const n = o.repeat ?? 1;
  const started = process.hrtime.bigint();
  let sent = 0;
  try {
    for (; sent < n && failed === undefined; sent++) {
      if (o.rate !== undefined) {
        const due = (sent * 1000) / o.rate;
        const ahead = due - Number(process.hrtime.bigint() - started) / 1e6;
        if (ahead >= 1) await sleep(ahead);
      }
      if (!client.publish(topic, payload, opts)) await client.drain();
    }
    await client.flush();
  } catch (e) {
    failed ??= e as Error;
  }
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  await client.close();
  if (failed !== undefined) die(`${failed.message}${sent > 0 && n > 1 ? ` (after ${sent} of ${n} messages)` : ''}`, Exit.ERROR);
  if (n > 1) {
    const rate = sent / Math.max(secs, 1e-6);
    process.stderr.write(`udsbus pub: ${sent} messages to ${topic} in ${secs.toFixed(2)} s (${Math.round(rate)} msgs/s)\n`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
