/**
 * `{placeholder}` templates for argv arrays and messages. Values are substituted inside one
 * argument at a time and the result is handed to spawn() without a shell, so a value such as
 * `$(rm -rf /)` or `; reboot` stays literal text in a single argv element.
 */

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/** Names used in a template string, e.g. ['cameraId', 'payload.rule']. */
export function placeholdersIn(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Replace every `{name}` with `lookup(name)`; `{{` and `}}` produce literal braces.
 * Unknown names (lookup returns undefined) become the empty string.
 */
export function render(template: string, lookup: (name: string) => string | undefined): string {
  return template
    .split('{{')
    .map((part) =>
      part
        .split('}}')
        .map((p) => p.replace(PLACEHOLDER, (_, name: string) => lookup(name) ?? ''))
        .join('}'),
    )
    .join('{');
}

/** Render each element of an argv template; the number of arguments never changes. */
export function renderArgv(argv: readonly string[], lookup: (name: string) => string | undefined): string[] {
  return argv.map((a) => render(a, lookup));
}

/** Value at a dot path (`data.IsMotion`, `classes.0`), or undefined. */
export function getPath(value: unknown, path: string): unknown {
  let v: unknown = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Text for a template: strings as they are, everything else as JSON. */
export function toText(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return JSON.stringify(v);
}
