/**
 * The ONVIF camera publisher: cameras (static list, WS-Discovery, SSDP) → camera.* topics on the
 * bus, and camera.rpc.* actions served. Documentation: docs/onvif-publisher.md.
 *
 * @example
 * import { startOnvifPublisher, loadConfig } from './publishers/onvif/index.js';
 * const pub = await startOnvifPublisher({ ...loadConfig('onvif.config.json').options, logger: pino() });
 * process.on('SIGTERM', () => void pub.stop());
 */
export { startOnvifPublisher, toTarget } from './publisher.js';
export type { OnvifPublisherHandle, CameraInfo, PublisherStats, PublisherPresence } from './publisher.js';
export { DEFAULT_TIMING } from './options.js';
export type {
  OnvifPublisherOptions,
  CameraSpec,
  CameraTarget,
  Timing,
  DiscoveryOptions,
  WsDiscoveryOptions,
  SsdpOptions,
  Credentials,
  DiscoveredBy,
} from './options.js';
export { loadConfig, parseConfig, cameraFromUrl, resolvePassword, ConfigError } from './config.js';
export type { LoadedConfig } from './config.js';
export { normalizeNotification, kindOfTopic } from './normalize.js';
export type { NormalizedEvent } from './normalize.js';
export { CameraError, classify } from './errors.js';
export type { Logger } from './log.js';
export type { CameraState } from './worker.js';
