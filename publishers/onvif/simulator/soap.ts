/**
 * SOAP 1.2 envelopes and faults as ONVIF devices send them.
 */
import { child, esc, parseXml, XmlSyntaxError, type XmlElement } from './xml.js';

export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  tt: 'http://www.onvif.org/ver10/schema',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  tmd: 'http://www.onvif.org/ver10/deviceIO/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  tptz: 'http://www.onvif.org/ver20/ptz/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wstop: 'http://docs.oasis-open.org/wsn/t-1',
  wsa: 'http://www.w3.org/2005/08/addressing',
  tns1: 'http://www.onvif.org/ver10/topics',
  ter: 'http://www.onvif.org/ver10/error',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  xs: 'http://www.w3.org/2001/XMLSchema',
  wsrfrw: 'http://docs.oasis-open.org/wsrf/rw-2',
} as const;

/** Every prefix a response body may use is declared once on the envelope. */
const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  `<env:Envelope xmlns:env="${NS.soap}" xmlns:tt="${NS.tt}" xmlns:tds="${NS.tds}"` +
  ` xmlns:tmd="${NS.tmd}" xmlns:trt="${NS.trt}" xmlns:tev="${NS.tev}" xmlns:tptz="${NS.tptz}"` +
  ` xmlns:wsnt="${NS.wsnt}" xmlns:wstop="${NS.wstop}" xmlns:wsa="${NS.wsa}" xmlns:tns1="${NS.tns1}"` +
  ` xmlns:ter="${NS.ter}" xmlns:xs="${NS.xs}" xmlns:wsrf-rw="${NS.wsrfrw}">`;

/** Wraps a response body; `action` adds the WS-Addressing Action header event services send. */
export function envelope(body: string, action?: string): string {
  const header = action ? `<env:Header><wsa:Action>${esc(action)}</wsa:Action></env:Header>` : '<env:Header/>';
  return `${ENVELOPE_OPEN}${header}<env:Body>${body}</env:Body></env:Envelope>`;
}

export type FaultCode = 'Sender' | 'Receiver' | 'VersionMismatch' | 'MustUnderstand';

export interface SoapFaultInit {
  code: FaultCode;
  /** ONVIF subcodes outermost first, with their prefix, e.g. `['ter:InvalidArgVal', 'ter:NoProfile']`. */
  subcodes?: readonly string[];
  reason: string;
  /**
   * Optional `Detail/Text`. The onvif library appends it to the reason with no separator
   * (`ONVIF SOAP Fault: <reason><detail>`), so leave it out when the exact message matters.
   */
  detail?: string;
  /** Defaults to 400 for Sender faults and 500 otherwise (SOAP 1.2 HTTP binding). */
  httpStatus?: number;
}

/** A fault a handler throws; the server turns it into a SOAP 1.2 Fault response. */
export class SoapFault extends Error {
  override readonly name = 'SoapFault';
  readonly code: FaultCode;
  readonly subcodes: readonly string[];
  readonly reason: string;
  readonly detail: string | undefined;
  readonly httpStatus: number;

  constructor(init: SoapFaultInit) {
    super(init.reason);
    this.code = init.code;
    this.subcodes = init.subcodes ?? [];
    this.reason = init.reason;
    this.detail = init.detail;
    this.httpStatus = init.httpStatus ?? (init.code === 'Sender' ? 400 : 500);
  }

  toXml(): string {
    let code = `<env:Value>env:${this.code}</env:Value>`;
    // Subcodes nest: the innermost one is the most specific.
    let sub = '';
    for (let i = this.subcodes.length - 1; i >= 0; i--) {
      sub = `<env:Subcode><env:Value>${esc(this.subcodes[i] ?? '')}</env:Value>${sub}</env:Subcode>`;
    }
    code += sub;
    // xml:lang matters: without an attribute on Text, xml2js yields a bare string and the onvif
    // library falls back to printing the fault code instead of the reason.
    const detail = this.detail !== undefined ? `<env:Detail><env:Text>${esc(this.detail)}</env:Text></env:Detail>` : '';
    return envelope(
      `<env:Fault><env:Code>${code}</env:Code>` +
        `<env:Reason><env:Text xml:lang="en">${esc(this.reason)}</env:Text></env:Reason>${detail}</env:Fault>`,
    );
  }
}

/** The faults ONVIF devices use, with the reasons real firmware tends to send. */
export const Faults = {
  notAuthorized: (httpStatus = 400) =>
    new SoapFault({ code: 'Sender', subcodes: ['ter:NotAuthorized'], reason: 'Sender not Authorized', httpStatus }),
  actionNotSupported: () =>
    new SoapFault({ code: 'Receiver', subcodes: ['ter:ActionNotSupported'], reason: 'Optional Action Not Implemented' }),
  wellFormed: (why: string) =>
    new SoapFault({ code: 'Sender', subcodes: ['ter:WellFormed'], reason: `Well-formed Error: ${why}` }),
  versionMismatch: () =>
    new SoapFault({ code: 'VersionMismatch', reason: 'SOAP 1.2 envelope expected', httpStatus: 500 }),
  invalidArg: (subcode: string, reason: string) =>
    new SoapFault({ code: 'Sender', subcodes: ['ter:InvalidArgVal', `ter:${subcode}`], reason }),
  prohibited: (subcode: string, reason: string) =>
    new SoapFault({ code: 'Sender', subcodes: ['ter:OperationProhibited', `ter:${subcode}`], reason }),
  receiverAction: (subcode: string, reason: string) =>
    new SoapFault({ code: 'Receiver', subcodes: ['ter:Action', `ter:${subcode}`], reason }),
};

export interface SoapRequest {
  readonly envelope: XmlElement;
  readonly header: XmlElement | undefined;
  /** The first element inside Body: the operation. */
  readonly operation: XmlElement;
}

/** Parses a request envelope, throwing the SoapFault a device would answer with. */
export function parseSoapRequest(xml: string): SoapRequest {
  // SOAP 1.2 forbids a DTD, which also keeps entity-expansion tricks out of the parser.
  if (/<!DOCTYPE/i.test(xml)) throw Faults.wellFormed('a SOAP message must not contain a DTD');
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw Faults.wellFormed(err.message);
    throw err;
  }
  if (root.local !== 'Envelope') throw Faults.wellFormed('root element is not Envelope');
  if (root.ns === NS.soap11) throw Faults.versionMismatch();
  if (root.ns !== NS.soap) throw Faults.wellFormed('Envelope is not in the SOAP 1.2 namespace');
  const body = child(root, 'Body', NS.soap);
  const operation = body?.children[0];
  if (!operation) throw Faults.wellFormed('empty Body');
  return { envelope: root, header: child(root, 'Header', NS.soap), operation };
}
