/**
 * Event service (ver10/events/wsdl) with WS-BaseNotification pull points.
 */
import { parseDuration, parseTermination } from '../duration.js';
import { notificationXml, CONCRETE_SET, topicSetXml } from '../events/notification-xml.js';
import { topicFilter, type PullPoint } from '../events/pullpoints.js';
import { startPushDelivery } from '../events/push.js';
import { Faults, NS, SoapFault } from '../soap.js';
import { child, childText, esc } from '../xml.js';
import type { CameraState, Operation, OperationContext } from './context.js';
import { eventCapabilitiesXml } from './device.js';

const DEFAULT_TERMINATION_MS = 60_000;
/** Firmware caps how long a subscription may live between renewals; a day is generous. */
const MAX_TERMINATION_MS = 24 * 3600_000;
const MAX_MESSAGE_LIMIT = 1000;

const ACTION = {
  create: `${NS.tev}/EventPortType/CreatePullPointSubscriptionResponse`,
  subscribe: `${NS.wsnt}/NotificationProducer/SubscribeResponse`,
  pull: `${NS.tev}/PullPointSubscription/PullMessagesResponse`,
  sync: `${NS.tev}/PullPointSubscription/SetSynchronizationPointResponse`,
  renew: `${NS.wsnt}/SubscriptionManager/RenewResponse`,
  unsubscribe: `${NS.wsnt}/SubscriptionManager/UnsubscribeResponse`,
  properties: `${NS.tev}/EventPortType/GetEventPropertiesResponse`,
};

const iso = (ms: number): string => new Date(ms).toISOString();

function terminationFrom(text: string | undefined, now: number): number {
  const ms = parseTermination(text, now);
  if (ms === undefined) {
    if (text !== undefined && text !== '') throw Faults.invalidArg('InvalidArgVal', 'Invalid termination time');
    return DEFAULT_TERMINATION_MS;
  }
  if (ms <= 0) throw Faults.invalidArg('InvalidArgVal', 'Termination time is in the past');
  return Math.min(ms, MAX_TERMINATION_MS);
}

const resourceUnknown = (): SoapFault =>
  new SoapFault({
    code: 'Sender',
    subcodes: ['ter:InvalidArgVal', 'wsrf-rw:ResourceUnknownFault'],
    reason: 'The subscription does not exist',
  });

/** Pull-point operations run on a subscription the server already resolved from the path. */
function subscriptionOf(ctx: OperationContext): PullPoint {
  if (!ctx.subscription) throw resourceUnknown();
  return ctx.subscription;
}

export const eventOperations: readonly Operation[] = [
  {
    ns: NS.tev,
    name: 'GetServiceCapabilities',
    level: 'User',
    handle: (cam) => `<tev:GetServiceCapabilitiesResponse>${eventCapabilitiesXml(cam, 'tev')}</tev:GetServiceCapabilitiesResponse>`,
  },
  {
    ns: NS.tev,
    name: 'GetEventProperties',
    level: 'User',
    handle: (cam) => ({
      action: ACTION.properties,
      body:
        '<tev:GetEventPropertiesResponse>' +
        '<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>' +
        '<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>' +
        topicSetXml(cam.hub.topics()) +
        `<wsnt:TopicExpressionDialect>${CONCRETE_SET}</wsnt:TopicExpressionDialect>` +
        '<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/ConcreteSet</wsnt:TopicExpressionDialect>' +
        '<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>' +
        '<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation>' +
        '</tev:GetEventPropertiesResponse>',
    }),
  },
  {
    ns: NS.tev,
    name: 'CreatePullPointSubscription',
    level: 'User',
    handle(cam, { op }) {
      const now = cam.now();
      const termination = terminationFrom(childText(op, 'InitialTerminationTime'), now);
      const filter = topicFilter(childText(child(op, 'Filter'), 'TopicExpression'));
      const p = cam.pullPoints.create(termination, filter, cam.hub.initialized());
      if (!p) throw Faults.receiverAction('TooManySubscriptions', 'Maximum number of pull points reached');
      return {
        action: ACTION.create,
        body:
          '<tev:CreatePullPointSubscriptionResponse>' +
          `<tev:SubscriptionReference><wsa:Address>${esc(cam.baseUrl() + p.path)}</wsa:Address></tev:SubscriptionReference>` +
          `<wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(p.terminationTime)}</wsnt:TerminationTime>` +
          '</tev:CreatePullPointSubscriptionResponse>',
      };
    },
  },
  {
    // WS-BaseNotification: the camera pushes Notify messages to the ConsumerReference address.
    ns: NS.wsnt,
    name: 'Subscribe',
    level: 'User',
    handle(cam, { op }) {
      const now = cam.now();
      const address = childText(child(op, 'ConsumerReference'), 'Address')?.trim();
      let consumer: URL;
      try {
        consumer = new URL(address ?? '');
        if (consumer.protocol !== 'http:') throw new Error('not http');
      } catch {
        throw Faults.invalidArg('InvalidArgVal', 'ConsumerReference must be an http URL');
      }
      const termination = terminationFrom(childText(op, 'InitialTerminationTime'), now);
      const filter = topicFilter(childText(child(op, 'Filter'), 'TopicExpression'));
      const p = cam.pullPoints.create(termination, filter, cam.hub.initialized());
      if (!p) throw Faults.receiverAction('TooManySubscriptions', 'Maximum number of subscriptions reached');
      startPushDelivery(cam.pullPoints, p, consumer, undefined);
      return {
        action: ACTION.subscribe,
        body:
          '<wsnt:SubscribeResponse>' +
          `<wsnt:SubscriptionReference><wsa:Address>${esc(cam.baseUrl() + p.path)}</wsa:Address></wsnt:SubscriptionReference>` +
          `<wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(p.terminationTime)}</wsnt:TerminationTime>` +
          '</wsnt:SubscribeResponse>',
      };
    },
  },
  {
    ns: NS.tev,
    name: 'PullMessages',
    level: 'User',
    onSubscription: true,
    async handle(cam, ctx) {
      const p = subscriptionOf(ctx);
      const timeoutText = childText(ctx.op, 'Timeout') ?? 'PT0S';
      const timeout = parseDuration(timeoutText);
      const limitText = childText(ctx.op, 'MessageLimit') ?? '1';
      const limit = Number(limitText);
      if (timeout === undefined || timeout < 0 || !Number.isInteger(limit) || limit < 1) {
        throw new SoapFault({
          code: 'Sender',
          subcodes: ['ter:InvalidArgVal'],
          reason: 'Invalid Timeout or MessageLimit',
          detail: `Timeout=${timeoutText} MessageLimit=${limitText}`,
        });
      }
      const msgs = await cam.pullPoints.pull(p, timeout, Math.min(limit, MAX_MESSAGE_LIMIT), ctx.signal);
      // Unsubscribed or rebooted while this pull waited.
      if (msgs === 'gone') throw resourceUnknown();
      const now = cam.now();
      return {
        action: ACTION.pull,
        body:
          `<tev:PullMessagesResponse><tev:CurrentTime>${iso(now)}</tev:CurrentTime>` +
          `<tev:TerminationTime>${iso(p.terminationTime)}</tev:TerminationTime>` +
          `${msgs.map(notificationXml).join('')}</tev:PullMessagesResponse>`,
      };
    },
  },
  {
    ns: NS.tev,
    name: 'SetSynchronizationPoint',
    level: 'User',
    onSubscription: true,
    handle(cam, ctx) {
      const p = subscriptionOf(ctx);
      for (const n of cam.hub.initialized()) if (p.filter(n.topic)) cam.pullPoints.enqueue(p, n);
      return { action: ACTION.sync, body: '<tev:SetSynchronizationPointResponse/>' };
    },
  },
  {
    ns: NS.wsnt,
    name: 'Renew',
    level: 'User',
    onSubscription: true,
    handle(cam, ctx) {
      const p = subscriptionOf(ctx);
      const now = cam.now();
      cam.pullPoints.renew(p, terminationFrom(childText(ctx.op, 'TerminationTime'), now));
      return {
        action: ACTION.renew,
        body:
          `<wsnt:RenewResponse><wsnt:TerminationTime>${iso(p.terminationTime)}</wsnt:TerminationTime>` +
          `<wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime></wsnt:RenewResponse>`,
      };
    },
  },
  {
    ns: NS.wsnt,
    name: 'Unsubscribe',
    level: 'User',
    onSubscription: true,
    handle(cam, ctx) {
      cam.pullPoints.drop(subscriptionOf(ctx));
      return { action: ACTION.unsubscribe, body: '<wsnt:UnsubscribeResponse/>' };
    },
  },
];
