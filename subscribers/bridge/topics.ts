/**
 * Topic mapping between the bus and MQTT: bus tokens `a.b.c` <-> MQTT levels `prefix/a/b/c`.
 * An MQTT level may hold characters a bus token may not (`.`, space, `+`…); they travel
 * percent-encoded (`%` is a token character), so the mapping is reversible both ways.
 */
const TOKEN_CHAR = /[A-Za-z0-9_~@:=-]/;

export function levelToToken(level: string): string {
  let out = '';
  for (const ch of level) {
    if (TOKEN_CHAR.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function tokenToLevel(token: string): string {
  if (!token.includes('%')) return token;
  try {
    return decodeURIComponent(token);
  } catch {
    return token;
  }
}

export function joinMqtt(prefix: string, rest: string): string {
  return prefix === '' ? rest : rest === '' ? prefix : `${prefix}/${rest}`;
}

/** `camera.event.x` -> `prefix/camera/event/x`. */
export function busToMqtt(prefix: string, topic: string): string {
  return joinMqtt(prefix, topic.split('.').map(tokenToLevel).join('/'));
}

/** `prefix/camera/event/x` -> `busPrefix.camera.event.x`; undefined when not under `strip` or a level is empty. */
export function mqttToBus(topic: string, strip: string, busPrefix: string): string | undefined {
  let rest = topic;
  if (strip !== '') {
    if (topic === strip) rest = '';
    else if (topic.startsWith(`${strip}/`)) rest = topic.slice(strip.length + 1);
    else return undefined;
  }
  const levels = rest === '' ? [] : rest.split('/');
  if (levels.some((l) => l === '')) return undefined;
  const tokens = [...(busPrefix === '' ? [] : busPrefix.split('.')), ...levels.map(levelToToken)];
  return tokens.length === 0 ? undefined : tokens.join('.');
}

/** The fixed part of an MQTT filter: `a/b/#` -> `a/b`. */
export function filterStem(filter: string): string {
  const levels = filter.split('/');
  const i = levels.findIndex((l) => l === '#' || l === '+');
  return (i < 0 ? levels : levels.slice(0, i)).join('/');
}

/** MQTT filter matching (`+` one level, `#` the rest, including none). */
export function mqttMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
