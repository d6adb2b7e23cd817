/** `udsbus run recording --config F`: the recording subscriber as a process. */
import { fromFile, runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { checkRecordingConfig, loadRecordingConfig, RecordingConfig } from './config.js';
import { startRecording } from './index.js';

export const recordingService: ServiceDefinition<RecordingConfig> = {
  name: 'recording',
  // SIGHUP applies logLevel only: sessions in progress hold recorder processes and pinned
  // segments, which an in-process restart would cut short.
  load: fromFile(loadRecordingConfig, RecordingConfig, checkRecordingConfig),
  start: (c, { client, logger }) =>
    startRecording({
      client,
      logger,
      indexFile: c.indexFile,
      preRollMs: c.preRollMs,
      postRollMs: c.postRollMs,
      maxDurationMs: c.maxDurationMs,
      triggers: c.triggers,
      cameras: c.cameras,
      startOnInitial: c.startOnInitial,
      recorder: c.recorder,
      clips: c.clips,
    }),
};

export function runRecording(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(recordingService, configFile, opts);
}
