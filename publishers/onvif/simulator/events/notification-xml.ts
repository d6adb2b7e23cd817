/**
 * NotificationMessage and TopicSet XML.
 */
import { NS } from '../soap.js';
import { esc } from '../xml.js';
import type { Item, Notification, TopicDescription } from './topics.js';

export const CONCRETE_SET = 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet';

/** Namespace for a topic prefix other than tns1, which the envelope already declares. */
export function topicNamespace(prefix: string): string {
  return prefix === 'tns1' ? NS.tns1 : `urn:udsbus:simulator:${prefix}`;
}

function prefixOf(topic: string): string {
  return topic.slice(0, topic.indexOf(':'));
}

/** Namespace declarations for every prefix in a topic other than tns1 (declared by the envelope). */
function declarations(topic: string): string {
  const prefixes = new Set(topic.split('/').flatMap((seg) => (seg.includes(':') ? [seg.slice(0, seg.indexOf(':'))] : [])));
  prefixes.delete('tns1');
  return [...prefixes].map((p) => ` xmlns:${p}="${esc(topicNamespace(p))}"`).join('');
}

function items(tag: string, list: readonly Item[]): string {
  if (list.length === 0) return `<tt:${tag}/>`;
  const inner = list.map(([name, value]) => `<tt:SimpleItem Name="${esc(name)}" Value="${esc(value)}"/>`).join('');
  return `<tt:${tag}>${inner}</tt:${tag}>`;
}

/** UtcTime must end in Z: the onvif library only turns `...Z` strings into Dates. */
export function notificationXml(n: Notification): string {
  const decl = declarations(n.topic);
  const op = n.property && n.operation ? ` PropertyOperation="${n.operation}"` : '';
  const time = n.rawUtcTime ?? n.utcTime.toISOString();
  return (
    '<wsnt:NotificationMessage>' +
    `<wsnt:Topic Dialect="${CONCRETE_SET}"${decl}>${esc(n.topic)}</wsnt:Topic>` +
    '<wsnt:Message>' +
    `<tt:Message UtcTime="${esc(time)}"${op}>${items('Source', n.source)}${items('Data', n.data)}</tt:Message>` +
    '</wsnt:Message>' +
    '</wsnt:NotificationMessage>'
  );
}

interface TopicNode {
  children: Map<string, TopicNode>;
  desc: TopicDescription | undefined;
}

function descriptionXml(d: TopicDescription): string {
  const list = (tag: string, l: TopicDescription['source']): string =>
    `<tt:${tag}>${l.map(([n, t]) => `<tt:SimpleItemDescription Name="${esc(n)}" Type="${t}"/>`).join('')}</tt:${tag}>`;
  return `<tt:MessageDescription IsProperty="${d.property}">${list('Source', d.source)}${list('Data', d.data)}</tt:MessageDescription>`;
}

/** The wstop:TopicSet tree for GetEventProperties. */
export function topicSetXml(topics: readonly TopicDescription[]): string {
  const root: TopicNode = { children: new Map(), desc: undefined };
  for (const d of topics) {
    let node = root;
    for (const seg of d.topic.split('/')) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map(), desc: undefined };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.desc = d;
  }
  const render = (name: string, node: TopicNode, top: boolean): string => {
    const prefix = top || name.includes(':') ? prefixOf(name) : '';
    const decl = prefix !== '' && prefix !== 'tns1' ? ` xmlns:${prefix}="${esc(topicNamespace(prefix))}"` : '';
    const mark = node.desc ? ' wstop:topic="true"' : '';
    const inner = (node.desc ? descriptionXml(node.desc) : '') + [...node.children].map(([n, c]) => render(n, c, false)).join('');
    return `<${name}${decl}${mark}>${inner}</${name}>`;
  };
  return `<wstop:TopicSet>${[...root.children].map(([n, c]) => render(n, c, true)).join('')}</wstop:TopicSet>`;
}
