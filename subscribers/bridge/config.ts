/** The MQTT bridge's config file (docs/bridge.md). Secrets come from files named here, never argv. */
import { Type, type Static } from '@sinclair/typebox';
import { isValidPattern, isValidToken } from '../../schemas/topics.js';
import { LogLevelSchema } from '../common/env.js';
import { loadJsonConfig, type SemanticCheck } from '../common/config.js';

const Out = Type.Object(
  {
    pattern: Type.String({ minLength: 1, description: 'Bus pattern to forward to MQTT.' }),
    durable: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], { description: 'Durable queue name (default "bridge-<site>-<index>"); false: a plain subscription with retained replay (state topics).' })),
    durableMaxBytes: Type.Optional(Type.Integer({ minimum: 16384, description: 'Disk bound of the durable queue; at the bound the oldest are dropped and the loss reported.' })),
    retain: Type.Optional(Type.Boolean({ description: 'Publish to MQTT with the retain flag (default: only messages the bus delivers as retained).' })),
  },
  { additionalProperties: false },
);

const In = Type.Object(
  {
    filter: Type.String({ minLength: 1, description: 'MQTT topic filter, e.g. "sites/b/camera/#".' }),
    strip: Type.Optional(Type.String({ description: 'MQTT levels removed from the front before mapping (default: the filter up to its first wildcard).' })),
    busPrefix: Type.Optional(Type.String({ description: 'Bus tokens put in front, e.g. "site.b".' })),
  },
  { additionalProperties: false },
);

const Remote = Type.Object(
  {
    busPrefix: Type.String({ minLength: 1, description: 'Requests to <busPrefix>.<topic> on this bus are sent to <mqttPrefix>/req/<topic>.' }),
    mqttPrefix: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

export const BridgeConfig = Type.Object(
  {
    socket: Type.Optional(Type.String({ minLength: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    logLevel: Type.Optional(LogLevelSchema),
    site: Type.String({ minLength: 1, description: 'This site\'s id (a topic token): marks the origin of what the bridge publishes.' }),
    prefix: Type.String({ minLength: 1, description: 'MQTT prefix of this site, e.g. "udsbus/site-a".' }),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('cbor')], { description: 'MQTT payload encoding (default json).' })),
    qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { description: 'Default 1.' })),
    mqtt: Type.Object(
      {
        url: Type.Optional(Type.String({ description: 'mqtt://host:port or mqtts://host:port.' })),
        unixSocket: Type.Optional(Type.String({ description: 'Path of a broker\'s Unix socket listener (instead of url).' })),
        clientId: Type.Optional(Type.String({ minLength: 1 })),
        username: Type.Optional(Type.String()),
        passwordFile: Type.Optional(Type.String({ description: 'File holding the password (trailing newline ignored).' })),
        caFile: Type.Optional(Type.String()),
        certFile: Type.Optional(Type.String()),
        keyFile: Type.Optional(Type.String()),
        keepaliveSec: Type.Optional(Type.Integer({ minimum: 0 })),
        reconnectMs: Type.Optional(Type.Integer({ minimum: 10 })),
      },
      { additionalProperties: false },
    ),
    out: Type.Optional(Type.Array(Out)),
    in: Type.Optional(Type.Array(In)),
    serve: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Bus patterns that MQTT 5 requests on <prefix>/req/# may call.' })),
    remote: Type.Optional(Type.Array(Remote)),
    requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    frigate: Type.Optional(
      Type.Object(
        { prefix: Type.Optional(Type.String({ minLength: 1, description: 'Default "frigate".' })), clearMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Object count back to 0 after this long without a detection (default 30000).' })) },
        { additionalProperties: false, description: 'Also publish a Frigate-compatible layout (motion, object counts, events, available).' },
      ),
    ),
    homeAssistant: Type.Optional(
      Type.Object({ discoveryPrefix: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false, description: 'Home Assistant MQTT discovery for cameras.' }),
    ),
  },
  { additionalProperties: false },
);
export type BridgeConfig = Static<typeof BridgeConfig>;

export const checkBridgeConfig: SemanticCheck<BridgeConfig> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  if (!isValidToken(c.site)) problems.push({ path: '/site', message: 'Expected one topic token (A-Za-z0-9_~%@:=-)' });
  if (c.mqtt.url === undefined && c.mqtt.unixSocket === undefined) problems.push({ path: '/mqtt', message: 'needs "url" or "unixSocket"' });
  c.out?.forEach((o, i) => {
    if (!isValidPattern(o.pattern)) problems.push({ path: `/out/${i}/pattern`, message: `invalid topic pattern "${o.pattern}"` });
    if (typeof o.durable === 'string' && !isValidToken(o.durable)) problems.push({ path: `/out/${i}/durable`, message: 'Expected a durable name: one topic token' });
  });
  c.serve?.forEach((p, i) => {
    if (!isValidPattern(p)) problems.push({ path: `/serve/${i}`, message: `invalid topic pattern "${p}"` });
  });
  return problems;
};

export function loadBridgeConfig(file: string): BridgeConfig {
  return loadJsonConfig(file, BridgeConfig, checkBridgeConfig);
}
