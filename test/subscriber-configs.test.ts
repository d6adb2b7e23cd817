/** The example configs load, and every config key of every subscriber is documented. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { AlertingConfig, loadAlertingConfig } from '../subscribers/alerting/config.js';
import { AuditConfig, loadAuditConfig } from '../subscribers/audit/config.js';
import { loadRecordingConfig, RecordingConfig } from '../subscribers/recording/config.js';
import { ROOT, runCli, tempDir } from './helpers/harness.js';

const DOC = readFileSync(join(ROOT, 'docs/subscribers.md'), 'utf8');

/** Property names of a schema, recursively (objects, arrays, unions, records). */
function keys(s: TSchema, out = new Set<string>()): Set<string> {
  const props = s['properties'] as Record<string, TSchema> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    out.add(k);
    keys(v, out);
  }
  for (const sub of [s['items'], ...((s['anyOf'] as TSchema[] | undefined) ?? []), ...Object.values((s['patternProperties'] as Record<string, TSchema> | undefined) ?? {})]) {
    if (sub !== undefined && typeof sub === 'object') keys(sub as TSchema, out);
  }
  return out;
}

describe('subscriber configs', () => {
  it.each([
    ['recording', () => loadRecordingConfig(join(ROOT, 'examples/recording.config.json'))],
    ['alerting', () => loadAlertingConfig(join(ROOT, 'examples/alerting.config.json'))],
    ['audit', () => loadAuditConfig(join(ROOT, 'examples/audit.config.json'))],
  ])('examples/%s.config.json is valid', (_name, load) => {
    expect(load).not.toThrow();
  });

  it.each([
    ['recording', RecordingConfig],
    ['alerting', AlertingConfig],
    ['audit', AuditConfig],
  ] as const)('every %s config key appears in docs/subscribers.md', (_name, schema) => {
    const missing = [...keys(schema)].filter((k) => !new RegExp(`[\`".]${k}[\`":]`).test(DOC));
    expect(missing).toEqual([]);
  });

  it('udsbus run <subscriber> refuses an invalid config with file:line, JSON path and reason (exit 7)', async () => {
    const { dir, cleanup } = tempDir('udsbus-runcfg-');
    try {
      const file = join(dir, 'alerting.json');
      writeFileSync(file, '{\n  "rules": [\n    { "id": "m", "topic": "camera.event.*.motion", "cooldownMs": "1m" }\n  ]\n}\n');
      const r = await runCli(['run', 'alerting', '--config', file, '--socket', join(dir, 'no.sock')]);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain(`${file}:3:52: /rules/0/cooldownMs: Expected integer`);
      const missing = await runCli(['run', 'audit', '--config', join(dir, 'nope.json'), '--socket', join(dir, 'no.sock')]);
      expect(missing).toMatchObject({ code: 7, stderr: expect.stringContaining('nope.json: /: cannot read the file: ENOENT') });
    } finally {
      cleanup();
    }
  });
});
