/**
 * Video sources and profiles, validated up front: the onvif library hangs silently in connect()
 * when a profile's SourceToken matches no video source, so a bad spec must fail at start instead.
 */
import type { ProfileSpec, VideoSourceSpec } from './types.js';

export interface VideoSourceModel extends VideoSourceSpec {
  /** VideoSourceConfiguration token: events name the source by it. */
  configToken: string;
  /** VideoAnalyticsConfiguration token used in analytics events. */
  analyticsToken: string;
}

export interface ProfileModel extends Required<Omit<ProfileSpec, 'videoSource'>> {
  source: VideoSourceModel;
  encoderToken: string;
}

export interface MediaModel {
  sources: VideoSourceModel[];
  profiles: ProfileModel[];
}

const DEFAULT_SOURCES: readonly VideoSourceSpec[] = [{ token: 'VideoSource_1', width: 1920, height: 1080, framerate: 25 }];

export function buildMediaModel(
  sourceSpecs: readonly VideoSourceSpec[] | undefined,
  profileSpecs: readonly ProfileSpec[] | undefined,
  ptz: boolean,
): MediaModel {
  const specs = sourceSpecs && sourceSpecs.length > 0 ? sourceSpecs : DEFAULT_SOURCES;
  const sources = specs.map((s, i) => ({ ...s, configToken: `VSC_${i + 1}`, analyticsToken: `VAC_${i + 1}` }));
  const first = sources[0];
  if (!first) throw new Error('at least one video source is required');
  const profileList =
    profileSpecs && profileSpecs.length > 0
      ? profileSpecs
      : [
          { token: 'Profile_1', name: 'mainStream', width: first.width, height: first.height, fps: first.framerate, bitrateKbps: 4096 },
          { token: 'Profile_2', name: 'subStream', width: 640, height: 360, fps: Math.min(15, first.framerate), bitrateKbps: 512 },
        ];
  const seen = new Set<string>();
  const profiles = profileList.map((p, i): ProfileModel => {
    if (seen.has(p.token)) throw new Error(`duplicate profile token ${p.token}`);
    seen.add(p.token);
    const source = p.videoSource === undefined ? first : sources.find((s) => s.token === p.videoSource);
    if (!source) {
      throw new Error(`profile ${p.token} references video source ${p.videoSource ?? ''}, which does not exist`);
    }
    return {
      token: p.token,
      name: p.name,
      source,
      encoding: p.encoding ?? 'H264',
      width: p.width ?? source.width,
      height: p.height ?? source.height,
      fps: p.fps ?? source.framerate,
      bitrateKbps: p.bitrateKbps ?? 2048,
      ptz: p.ptz ?? ptz,
      streamPath: p.streamPath ?? `/stream/${encodeURIComponent(p.token)}`,
      encoderToken: `VEC_${i + 1}`,
    };
  });
  // Every source needs a profile, or the library's getActiveSources() throws for source 0.
  if (!profiles.some((p) => p.source === first)) throw new Error(`no profile uses video source ${first.token}`);
  if (profiles.some((p) => p.ptz) && !ptz) throw new Error('a profile has ptz: true but the camera has ptz: false');
  return { sources, profiles };
}
