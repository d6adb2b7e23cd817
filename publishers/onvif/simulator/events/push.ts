/**
 * WS-BaseNotification push delivery: a subscription made with Subscribe is a pull point whose
 * messages the camera POSTs itself, as Notify, to the subscriber's ConsumerReference address.
 * Delivery ends when the subscription does (Unsubscribe, expiry without Renew, reboot, close).
 * A consumer that cannot be reached loses those messages, as on real cameras.
 */
import http from 'node:http';
import { NS, envelope } from '../soap.js';
import type { SimLogger } from '../types.js';
import { notificationXml } from './notification-xml.js';
import type { PullPoint, PullPointManager } from './pullpoints.js';

const NOTIFY_ACTION = `${NS.wsnt}/NotificationConsumer/Notify`;
const BATCH = 100;
const WAIT_MS = 1000;
const POST_TIMEOUT_MS = 5000;

export function startPushDelivery(points: PullPointManager, p: PullPoint, consumer: URL, logger: SimLogger | undefined): void {
  const signal = new AbortController().signal;
  void (async () => {
    for (;;) {
      const msgs = await points.pull(p, WAIT_MS, BATCH, signal);
      if (msgs === 'gone') return;
      if (msgs.length === 0) continue;
      const body = envelope(`<wsnt:Notify>${msgs.map(notificationXml).join('')}</wsnt:Notify>`, NOTIFY_ACTION);
      await post(consumer, body).catch((err: unknown) => logger?.debug({ err, consumer: consumer.href }, 'Notify not delivered'));
    }
  })();
}

function post(url: URL, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { 'Content-Type': 'application/soap+xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }, timeout: POST_TIMEOUT_MS },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode !== undefined && res.statusCode < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error('Notify timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
