/** `udsbus req`: send one request, print the reply as JSON; the exit code says how it went. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Message } from 'udsbus';
import { NoRespondersError, TimeoutError } from 'udsbus/core';
import { DEFAULT_LIMITS } from 'udsbus/core';
import { checkTopic, describeTopicProblem } from 'udsbus/core';
import { die, socketOption, brokerTrustOption } from '../common.js';
import { Exit, exitCodesHelp } from '../exit-codes.js';
import { header, secondsOption } from '../options.js';
import { parsePayloadArg, toJson } from '../render.js';

export type ReqOptions = {
  socket: string;
  timeout: number;
  stdin?: boolean;
  file?: string;
  string?: boolean;
  header?: Record<string, string>;
  envelope?: boolean;
  pretty?: boolean;
};

export function registerReq(program: Command): void {
  program
    .command('req')
    .description('send a request and print the reply as JSON')
    .argument('<topic>', 'request topic, e.g. camera.rpc.cam-01.info or $SYS.req.stats')
    .argument('[json]', 'the request payload (JSON; other text is sent as a string)')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .addOption(secondsOption('-t, --timeout <seconds>', 'how long to wait for the reply', 5000))
    .option('--stdin', 'read the request payload from standard input')
    .option('-f, --file <path>', 'read the request payload from a file')
    .option('--string', 'send the text as a string even if it is valid JSON')
    .option('-H, --header <key=value>', 'a header sent in hdr; repeat for more', header)
    .option('--envelope', 'print the whole reply payload ({"ok":…,"result"|"error":…}) instead of unwrapping it')
    .option('--pretty', 'indent the JSON (the default on a terminal)')
    .addHelpText(
      'after',
      `
Output: the reply's "result" as one line of JSON (indented on a terminal) on stdout; byte strings
as {"$bytes":"<hex>"}. A reply without the {"ok":…} envelope (PROTOCOL.md §8) is printed as it
is. An error reply ({"ok":false,"error":{code,message,data}}) prints
"udsbus: remote error CODE: MESSAGE" on stderr and exits ${Exit.REMOTE_ERROR}; its data, if any, on stdout.

Examples:
  udsbus req '$SYS.req.stats'
  udsbus req camera.rpc.cam-01.stream-uri '{"profile":"main"}' --timeout 2
  udsbus req camera.rpc.cam-01.info | jq .model
${exitCodesHelp([Exit.OK, Exit.ERROR, Exit.CONNECT, Exit.NO_RESPONDERS, Exit.REQUEST_TIMEOUT, Exit.REMOTE_ERROR])}`,
    )
    .action((topic: string, json: string | undefined, o: ReqOptions) => runReq(topic, json, o));
}

export async function runReq(topic: string, json: string | undefined, o: ReqOptions): Promise<void> {
  const problem = checkTopic(topic, DEFAULT_LIMITS);
  if (problem !== null) die(describeTopicProblem(problem, topic, DEFAULT_LIMITS), Exit.ERROR);
  if (topic.startsWith('$') && !topic.startsWith('$SYS.req.')) die(`the broker answers requests on $SYS.req.stats and $SYS.req.clients only, not "${topic}"`, Exit.ERROR);
  const sources = [json !== undefined, o.stdin === true, o.file !== undefined].filter(Boolean).length;
  if (sources > 1) die('give the payload one way: as an argument, with --stdin, or with --file', Exit.ERROR);
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

  const { connectOrExit } = await import('../connect.js');
  const client = await connectOrExit(o.socket, 'udsbus-req', { reconnect: false });
  let reply: Message;
  try {
    reply = await client.requestMessage(topic, payload, { timeout: o.timeout, ...(o.header === undefined ? {} : { hdr: o.header }) });
  } catch (e) {
    await client.close();
    if (e instanceof NoRespondersError) die(`no responders: nobody subscribes to "${topic}"; is the service running? (udsbus tap '${topic}' shows traffic)`, Exit.NO_RESPONDERS);
    if (e instanceof TimeoutError) die(`no reply to "${topic}" within ${o.timeout / 1000} s; the service may be busy or stuck (raise --timeout, or watch with udsbus tap)`, Exit.REQUEST_TIMEOUT);
    if ((e as { codeName?: string }).codeName === 'DISCONNECTED') die(`lost the connection to the broker before the reply to "${topic}" came; check the broker (udsbus stats) and try again`, Exit.ERROR);
    die((e as Error).message, Exit.ERROR);
  }
  await client.close();

  const pretty = o.pretty === true || process.stdout.isTTY === true;
  const print = (v: unknown) => process.stdout.write(`${JSON.stringify(toJson(v), null, pretty ? 2 : undefined)}\n`);
  const p = reply.payload as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } } | undefined;
  const isEnvelope = p !== null && typeof p === 'object' && typeof p.ok === 'boolean';
  if (o.envelope || !isEnvelope) {
    print(reply.payload);
    if (isEnvelope && p.ok === false) process.exitCode = Exit.REMOTE_ERROR;
    return;
  }
  if (p.ok) {
    print(p.result);
    return;
  }
  const err = p.error ?? {};
  if (err.data !== undefined) print(err.data);
  die(`remote error ${String(err.code ?? 'internal')}: ${String(err.message ?? '')}`, Exit.REMOTE_ERROR);
}
