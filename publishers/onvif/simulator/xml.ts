/**
 * A tiny namespace-aware element tree over fast-xml-parser.
 *
 * SOAP dispatch needs the namespace URI of the body element (GetServiceCapabilities and
 * SetSynchronizationPoint exist in several services), which fast-xml-parser does not resolve
 * itself, so we walk its ordered output and resolve prefixes here.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface XmlElement {
  /** Qualified name as written, e.g. `s:Envelope`. */
  readonly name: string;
  /** Local part of the name, e.g. `Envelope`. */
  readonly local: string;
  /** Resolved namespace URI, `''` when the element has none. */
  readonly ns: string;
  /** Attributes keyed by their qualified name as written (namespace declarations included). */
  readonly attrs: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** The element's own text content, trimmed. */
  readonly text: string;
}

export class XmlSyntaxError extends Error {
  override readonly name = 'XmlSyntaxError';
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  // Also decodes numeric character references (&#60;), which plain processEntities leaves alone.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type OrderedNode = Record<string, unknown>;

/** Parses a document and returns its root element; throws XmlSyntaxError on malformed input. */
export function parseXml(xml: string): XmlElement {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new XmlSyntaxError(`${valid.err.msg} (line ${valid.err.line}, col ${valid.err.col})`);
  }
  let nodes: unknown;
  try {
    nodes = parser.parse(xml);
  } catch (err) {
    throw new XmlSyntaxError(err instanceof Error ? err.message : String(err));
  }
  const roots = Array.isArray(nodes) ? nodes.map((n) => build(n as OrderedNode, new Map())).filter(isElement) : [];
  const root = roots[0];
  if (!root) throw new XmlSyntaxError('document has no root element');
  return root;
}

function isElement(x: XmlElement | undefined): x is XmlElement {
  return x !== undefined;
}

function build(node: OrderedNode, scope: ReadonlyMap<string, string>): XmlElement | undefined {
  const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
  if (name === undefined) return undefined;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, unknown>;
  const attrs = new Map<string, string>();
  let nsScope: Map<string, string> | undefined;
  for (const [k, v] of Object.entries(rawAttrs)) {
    const value = String(v);
    attrs.set(k, value);
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      nsScope ??= new Map(scope);
      nsScope.set(k === 'xmlns' ? '' : k.slice(6), value);
    }
  }
  const effective = nsScope ?? scope;
  const colon = name.indexOf(':');
  const prefix = colon >= 0 ? name.slice(0, colon) : '';
  const local = colon >= 0 ? name.slice(colon + 1) : name;
  const children: XmlElement[] = [];
  const texts: string[] = [];
  const content = node[name];
  if (Array.isArray(content)) {
    for (const c of content as OrderedNode[]) {
      if (typeof c['#text'] === 'string' || typeof c['#text'] === 'number') {
        texts.push(String(c['#text']));
        continue;
      }
      const el = build(c, effective);
      if (el) children.push(el);
    }
  }
  return { name, local, ns: effective.get(prefix) ?? '', attrs, children, text: texts.join('').trim() };
}

/** First child with the given local name (and namespace, when given). */
export function child(el: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return el?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

/** All children with the given local name. */
export function childrenNamed(el: XmlElement | undefined, local: string): XmlElement[] {
  return el ? el.children.filter((c) => c.local === local) : [];
}

/** Text of the first child with the given local name. */
export function childText(el: XmlElement | undefined, local: string): string | undefined {
  return child(el, local)?.text;
}

/** Follows a path of local names, e.g. `path(body, 'StreamSetup', 'Transport', 'Protocol')`. */
export function path(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let cur = el;
  for (const l of locals) cur = child(cur, l);
  return cur;
}

/** Attribute by local name, ignoring any prefix (`wsu:Id` matches `Id`). */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (!el) return undefined;
  for (const [k, v] of el.attrs) {
    if (k === local || k.endsWith(`:${local}`)) return v;
  }
  return undefined;
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Escapes text for use in element content or a double-quoted attribute. */
export function esc(value: string | number | boolean): string {
  return String(value).replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}
