/**
 * The raw relay's wire format, the practical ceiling: `u32 length | u8 kind | body`.
 * PUB bodies are `u8 topicLength | topic | payload`; SUB bodies are a topic. The relay does no
 * matching at all: every PUB frame goes, bytes unchanged, to every connection that sent a SUB.
 */
export const RAW_SUB = 0;
export const RAW_PUB = 1;
export const RAW_SUBACK = 2;
export const RAW_PING = 3;
export const RAW_PONG = 4;

export function rawControl(kind: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(5 + body.length);
  b.writeUInt32BE(1 + body.length, 0);
  b[4] = kind;
  b.set(body, 5);
  return b;
}

export function rawPub(topic: Buffer, payload: Uint8Array): Buffer {
  const len = 2 + topic.length + payload.length;
  const b = Buffer.allocUnsafe(4 + len);
  b.writeUInt32BE(len, 0);
  b[4] = RAW_PUB;
  b[5] = topic.length;
  topic.copy(b, 6);
  b.set(payload, 6 + topic.length);
  return b;
}
