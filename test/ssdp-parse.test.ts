/**
 * The SSDP parser and formatter (publishers/onvif/ssdp.ts) on datagrams captured from node-ssdp
 * and in the shapes devices send, plus junk; and the search's option checks, which fail before
 * any socket exists (nothing here sends a packet).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatSsdp, parseSsdp, SSDP_ERROR_CODES, SSDP_IGNORE_REASONS, ssdpSearch, SsdpError, unquote } from '../publishers/onvif/ssdp.js';
import { capturedNotify, capturedResponses, capturedSearch, junk, missingLocation, notFound, shapedResponses } from './ssdp/fixtures.js';

const parse = (s: string | Buffer) => parseSsdp(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

describe('parseSsdp', () => {
  it('reads the responses node-ssdp sent, byte for byte', () => {
    const [root, basic, uuid] = capturedResponses.map((s) => parse(s));
    expect(root).toEqual({
      kind: 'response',
      status: 200,
      headers: {
        ST: 'upnp:rootdevice',
        USN: 'uuid:5f0a1c2e-0000-4000-8000-00000000abcd::upnp:rootdevice',
        'CACHE-CONTROL': 'max-age=1800',
        DATE: 'Mon, 07 Dec 2026 19:56:01 GMT',
        SERVER: 'Linux/5.x UPnP/1.0 SIM-1/1.0.0',
        EXT: '',
        LOCATION: 'http://10.99.0.1:8080/description.xml',
      },
    });
    expect(basic).toMatchObject({ headers: { ST: 'urn:schemas-upnp-org:device:Basic:1' } });
    expect(uuid).toMatchObject({ headers: { ST: 'uuid:5f0a1c2e-0000-4000-8000-00000000abcd', USN: 'uuid:5f0a1c2e-0000-4000-8000-00000000abcd' } });
  });

  it('reads NOTIFY and M-SEARCH requests', () => {
    expect(parse(capturedNotify)).toMatchObject({ kind: 'notify', headers: { NT: 'upnp:rootdevice', NTS: 'ssdp:alive', HOST: '239.255.255.250:1900' } });
    expect(parse(capturedSearch)).toEqual({ kind: 'm-search', headers: { HOST: '239.255.255.250:1900', ST: 'ssdp:all', MAN: '"ssdp:discover"', MX: '3' } });
    expect(parse('m-search * HTTP/1.1\r\nST: x\r\n\r\n').kind).toBe('m-search');
  });

  for (const f of shapedResponses) {
    it(`reads a response with ${f.name}`, () => {
      const m = parse(f.text);
      expect(m.kind).toBe('response');
      expect(m.headers['LOCATION']).toBe(f.location);
      expect(m.headers['ST']).toBe(f.st);
    });
  }

  it('returns an answer without LOCATION or with another status as it is (the search decides)', () => {
    expect(parse(missingLocation)).toMatchObject({ kind: 'response', status: 200 });
    expect(parse(missingLocation).headers['LOCATION']).toBeUndefined();
    expect(parse(notFound)).toMatchObject({ kind: 'response', status: 404 });
  });

  for (const j of junk) {
    it(`refuses ${j.name} with ${j.code}`, () => {
      const err = (() => {
        try {
          parseSsdp(j.bytes);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(SsdpError);
      expect(err).toMatchObject({ code: j.code });
    });
  }

  it('reads a datagram inside a larger buffer (a subarray) without looking outside it', () => {
    const big = Buffer.concat([Buffer.from('junk-before'), Buffer.from(capturedResponses[0]!), Buffer.from('junk-after')]);
    const view = big.subarray(11, 11 + capturedResponses[0]!.length);
    expect(parseSsdp(view)).toEqual(parse(capturedResponses[0]!));
  });

  it('throws nothing but SsdpError on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(Math.floor(Math.random() * 300));
      // Half of them start like a response, so the header path is fuzzed too.
      const input = i % 2 === 0 ? Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), bytes]) : bytes;
      try {
        parseSsdp(input);
      } catch (e) {
        expect(e).toBeInstanceOf(SsdpError);
      }
    }
  });
});

describe('formatSsdp', () => {
  it('writes CRLF lines and the closing blank line, and parses back', () => {
    const buf = formatSsdp('M-SEARCH * HTTP/1.1', [
      ['HOST', '239.255.255.250:1900'],
      ['MAN', '"ssdp:discover"'],
      ['MX', 2],
      ['ST', 'upnp:rootdevice'],
    ]);
    expect(buf.toString('latin1')).toBe('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: upnp:rootdevice\r\n\r\n');
    expect(parseSsdp(buf)).toEqual({ kind: 'm-search', headers: { HOST: '239.255.255.250:1900', MAN: '"ssdp:discover"', MX: '2', ST: 'upnp:rootdevice' } });
  });

  it('unquote strips one pair of quotes only', () => {
    expect(unquote('"ssdp:all"')).toBe('ssdp:all');
    expect(unquote('ssdp:all')).toBe('ssdp:all');
    expect(unquote('"')).toBe('"');
  });
});

describe('ssdpSearch refuses to start', () => {
  it.each([
    [{ mx: 0 }, /mx must be an integer 1\.\.5/],
    [{ mx: 6 }, /mx must be/],
    [{ windowMs: 0 }, /windowMs must be a positive number/],
    [{ maxResponses: 0 }, /maxResponses must be a positive integer/],
    [{ ttl: 0 }, /ttl must be an integer 1\.\.255/],
    [{ st: '' }, /st must be a non-empty single line/],
    [{ st: 'upnp:rootdevice\r\nX: injected' }, /st must be a non-empty single line/],
  ])('%o: SSDP_BAD_OPTION', async (opts, message) => {
    await expect(ssdpSearch(opts)).rejects.toMatchObject({ code: 'SSDP_BAD_OPTION', message: expect.stringMatching(message) });
  });

  it('SSDP_NO_INTERFACE for interfaces that do not exist, naming them', async () => {
    await expect(ssdpSearch({ interfaces: ['no-such-if0'] })).rejects.toMatchObject({
      code: 'SSDP_NO_INTERFACE',
      message: 'none of the interfaces no-such-if0 has an IPv4 address',
    });
  });
});

it('every SSDP code the publisher can log is in docs/onvif-publisher.md', () => {
  const doc = readFileSync(new URL('../docs/onvif-publisher.md', import.meta.url), 'utf8');
  const codes = new Set<string>([...SSDP_ERROR_CODES, ...SSDP_IGNORE_REASONS]);
  expect([...codes].filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
});
