import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validatorFor } from '../schemas/validate.js';
import { validated, topics } from '../schemas/index.js';
import { startTestBus, takeN, type TestBus } from './helpers/harness.js';

let bus: TestBus;
beforeEach(async () => {
  bus = await startTestBus({
    strict: {
      patterns: ['camera.>'],
      validate: (topic, payload) => {
        const v = validatorFor(topic);
        if (v === undefined) return undefined;
        const r = v(payload);
        return r.ok ? undefined : r.errors;
      },
    },
  });
});
afterEach(async () => {
  await bus.close();
});

const motion = (cameraId: string, active: unknown) => ({
  v: 1,
  cameraId,
  kind: 'motion',
  time: '2026-11-25T10:00:00.000Z',
  receivedAt: '2026-11-25T10:00:00.010Z',
  operation: 'changed',
  initial: false,
  onvifTopic: 'tns1:RuleEngine/CellMotionDetector/Motion',
  source: { VideoSourceConfigurationToken: 'vs0' },
  data: { IsMotion: active as boolean },
  active,
});

describe('strict mode through a real broker', () => {
  it('refuses an invalid payload with SCHEMA_INVALID, counts it, and delivers only valid ones', async () => {
    const recorder = await bus.client({ name: 'recorder' });
    const got = takeN(recorder.subscribe('camera.event.>'), 1);
    await recorder.flush();
    const bad = await bus.raw();
    await bad.hello({ name: 'bad-publisher' });
    const { encodeValue } = await import('../bus/protocol/codec.js');
    bad.send({ op: 'pub', topic: topics.cameraEvent('cam-01', 'motion'), payload: encodeValue(motion('cam-01', 'yes')), id: 1 });
    const err = await bad.next((f) => f.op === 'err');
    expect(err).toMatchObject({ name: 'SCHEMA_INVALID', code: 51, id: 1 });
    expect(String(err.text)).toMatch(/\/active: Expected boolean/);
    const good = await bus.client();
    good.publish<string>(topics.cameraEvent('cam-01', 'motion'), motion('cam-01', true));
    const [m] = await got;
    expect((m!.payload as { active: boolean }).active).toBe(true);
    const stats = await good.request<{ errors: Record<string, number> }>('$SYS.req.stats');
    expect(stats.errors.SCHEMA_INVALID).toBe(1);
  });

  it('topics outside the strict patterns are not checked', async () => {
    const c = await bus.client();
    const got = takeN(c.subscribe('other.>'), 1);
    await c.flush();
    c.publish('other.thing', { anything: 1 });
    expect((await got)[0]!.payload).toEqual({ anything: 1 });
  });
});

describe('validated typed Observables', () => {
  it('passes valid payloads and diverts invalid ones', async () => {
    const c = await bus.client();
    const invalid: string[] = [];
    const got = takeN(c.subscribe('camera.event.>').pipe(validated((m, errors) => invalid.push(`${m.topic}: ${errors[0]}`))), 1);
    await c.flush();
    // The broker is strict on camera.>: go around it with a second bus without strict mode.
    c.publish<string>(topics.cameraEvent('cam-02', 'motion'), motion('cam-02', false));
    expect((await got)[0]!.payload).toMatchObject({ active: false });
    expect(invalid).toEqual([]);
  });

  it('diverts an invalid payload to onInvalid', async () => {
    const { of, toArray, firstValueFrom } = await import('rxjs');
    const invalid: string[] = [];
    const out = await firstValueFrom(
      of(
        { topic: topics.cameraEvent('cam-03', 'motion'), payload: motion('cam-03', 'nope') },
        { topic: topics.cameraEvent('cam-03', 'motion'), payload: motion('cam-03', true) },
        { topic: topics.cameraEvent('cam-03', 'motion'), payload: undefined },
      ).pipe(validated((m, errors) => invalid.push(errors[0]!)), toArray()),
    );
    expect(out).toHaveLength(1);
    expect(invalid).toEqual(['/active: Expected boolean']);
  });
});
