/**
 * The publisher's WS-BaseNotification consumer: one HTTP server for every camera that pushes its
 * events. Each push subscription gets its own unguessable path, so a POST is routed to its camera
 * without parsing the body, and a stale or forged path is refused. Notify is one-way: the
 * answer is an empty 200 at once, and the body is handed on after.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Largest Notify body accepted; a burst of 100 notifications is ~100 KB. */
const MAX_BODY = 4 * 1024 * 1024;

export interface NotifyEndpointOptions {
  /** Listen address; default 127.0.0.1. Use the interface your cameras reach. */
  host?: string;
  /** Listen port; default 0 (any free port). */
  port?: number;
  /**
   * Base URL cameras POST to, when it differs from `http://host:port` (a NAT, a wildcard listen
   * address). Default `http://<host>:<port>`.
   */
  url?: string;
}

export interface NotifyRegistration {
  /** The ConsumerReference address for Subscribe. */
  readonly url: string;
  dispose(): void;
}

export class NotifyServer {
  private readonly routes = new Map<string, (xml: string) => void>();
  private base = '';

  private constructor(private readonly server: http.Server) {}

  static async start(o: NotifyEndpointOptions = {}): Promise<NotifyServer> {
    const server = http.createServer();
    const ns = new NotifyServer(server);
    server.on('request', (req, res) => ns.handle(req, res));
    const host = o.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    ns.base = (o.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
    return ns;
  }

  /** A new consumer address; `onNotify` gets each Notify body POSTed to it. */
  register(onNotify: (xml: string) => void): NotifyRegistration {
    const path = `/onvif-notify/${randomBytes(12).toString('hex')}`;
    this.routes.set(path, onNotify);
    return { url: this.base + path, dispose: () => this.routes.delete(path) };
  }

  get url(): string {
    return this.base;
  }

  async close(): Promise<void> {
    this.routes.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = req.method === 'POST' ? this.routes.get((req.url ?? '').split('?')[0]!) : undefined;
    if (route === undefined) {
      req.resume();
      res.writeHead(req.method === 'POST' ? 404 : 405).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413, { Connection: 'close' }).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      res.writeHead(200, { 'Content-Type': 'application/soap+xml; charset=utf-8' }).end();
      route(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', () => undefined);
  }
}
