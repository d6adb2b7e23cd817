/**
 * Media service, ver10 (Profile S). Media2 is deliberately absent: see services() in device.ts.
 */
import type { ProfileModel, VideoSourceModel } from '../media-model.js';
import { DEFAULT_PTZ_TIMEOUT_MS } from '../ptz-model.js';
import { formatDurationSeconds } from '../duration.js';
import { Faults, NS } from '../soap.js';
import { childText, esc, path } from '../xml.js';
import type { CameraState, Operation } from './context.js';
import { mediaCapabilitiesXml } from './device.js';

const GENERIC = 'http://www.onvif.org/ver10/tptz';

function sourceConfigXml(s: VideoSourceModel, useCount: number, tag = 'tt:VideoSourceConfiguration'): string {
  return (
    `<${tag} token="${esc(s.configToken)}"><tt:Name>${esc(s.configToken)}</tt:Name><tt:UseCount>${useCount}</tt:UseCount>` +
    `<tt:SourceToken>${esc(s.token)}</tt:SourceToken>` +
    `<tt:Bounds x="0" y="0" width="${s.width}" height="${s.height}"/></${tag}>`
  );
}

function encoderXml(p: ProfileModel): string {
  const codec =
    p.encoding === 'H264'
      ? `<tt:H264><tt:GovLength>${p.fps * 2}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>`
      : p.encoding === 'MPEG4'
        ? `<tt:MPEG4><tt:GovLength>${p.fps * 2}</tt:GovLength><tt:Mpeg4Profile>SP</tt:Mpeg4Profile></tt:MPEG4>`
        : '';
  return (
    `<tt:VideoEncoderConfiguration token="${p.encoderToken}"><tt:Name>${esc(p.name)}</tt:Name><tt:UseCount>1</tt:UseCount>` +
    `<tt:Encoding>${p.encoding}</tt:Encoding>` +
    `<tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution>` +
    '<tt:Quality>5</tt:Quality>' +
    `<tt:RateControl><tt:FrameRateLimit>${p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>` +
    `<tt:BitrateLimit>${p.bitrateKbps}</tt:BitrateLimit></tt:RateControl>${codec}` +
    '<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>' +
    '<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>' +
    '<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>'
  );
}

function ptzConfigXml(useCount: number): string {
  return (
    `<tt:PTZConfiguration token="PTZConfig_1"><tt:Name>PTZ</tt:Name><tt:UseCount>${useCount}</tt:UseCount>` +
    '<tt:NodeToken>PTZNode_1</tt:NodeToken>' +
    `<tt:DefaultAbsolutePantTiltPositionSpace>${GENERIC}/PanTiltSpaces/PositionGenericSpace</tt:DefaultAbsolutePantTiltPositionSpace>` +
    `<tt:DefaultAbsoluteZoomPositionSpace>${GENERIC}/ZoomSpaces/PositionGenericSpace</tt:DefaultAbsoluteZoomPositionSpace>` +
    `<tt:DefaultRelativePanTiltTranslationSpace>${GENERIC}/PanTiltSpaces/TranslationGenericSpace</tt:DefaultRelativePanTiltTranslationSpace>` +
    `<tt:DefaultRelativeZoomTranslationSpace>${GENERIC}/ZoomSpaces/TranslationGenericSpace</tt:DefaultRelativeZoomTranslationSpace>` +
    `<tt:DefaultContinuousPanTiltVelocitySpace>${GENERIC}/PanTiltSpaces/VelocityGenericSpace</tt:DefaultContinuousPanTiltVelocitySpace>` +
    `<tt:DefaultContinuousZoomVelocitySpace>${GENERIC}/ZoomSpaces/VelocityGenericSpace</tt:DefaultContinuousZoomVelocitySpace>` +
    `<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1" space="${GENERIC}/PanTiltSpaces/GenericSpeedSpace"/>` +
    `<tt:Zoom x="1" space="${GENERIC}/ZoomSpaces/ZoomGenericSpeedSpace"/></tt:DefaultPTZSpeed>` +
    `<tt:DefaultPTZTimeout>${formatDurationSeconds(DEFAULT_PTZ_TIMEOUT_MS)}</tt:DefaultPTZTimeout>` +
    '</tt:PTZConfiguration>'
  );
}

function profileXml(cam: CameraState, p: ProfileModel, tag: string): string {
  const sourceUses = cam.media.profiles.filter((q) => q.source === p.source).length;
  const ptzUses = cam.media.profiles.filter((q) => q.ptz).length;
  return (
    `<${tag} token="${esc(p.token)}" fixed="true"><tt:Name>${esc(p.name)}</tt:Name>` +
    sourceConfigXml(p.source, sourceUses) +
    encoderXml(p) +
    (p.ptz && cam.ptz ? ptzConfigXml(ptzUses) : '') +
    `</${tag}>`
  );
}

/** The profile a request names, or the NoProfile fault. */
export function profileFor(cam: CameraState, token: string | undefined): ProfileModel {
  const p = cam.media.profiles.find((q) => q.token === token);
  if (!p) throw Faults.invalidArg('NoProfile', 'Profile token does not exist');
  return p;
}

const GENERIC_MEDIA_URI = (uri: string): string =>
  `<trt:MediaUri><tt:Uri>${esc(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>` +
  '<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>';

export const mediaOperations: readonly Operation[] = [
  {
    ns: NS.trt,
    name: 'GetServiceCapabilities',
    level: 'User',
    handle: () => `<trt:GetServiceCapabilitiesResponse>${mediaCapabilitiesXml('trt')}</trt:GetServiceCapabilitiesResponse>`,
  },
  {
    ns: NS.trt,
    name: 'GetProfiles',
    level: 'User',
    handle: (cam) =>
      `<trt:GetProfilesResponse>${cam.media.profiles.map((p) => profileXml(cam, p, 'trt:Profiles')).join('')}</trt:GetProfilesResponse>`,
  },
  {
    ns: NS.trt,
    name: 'GetProfile',
    level: 'User',
    handle: (cam, { op }) =>
      `<trt:GetProfileResponse>${profileXml(cam, profileFor(cam, childText(op, 'ProfileToken')), 'trt:Profile')}</trt:GetProfileResponse>`,
  },
  {
    ns: NS.trt,
    name: 'GetVideoSources',
    level: 'User',
    handle(cam) {
      const sources = cam.media.sources
        .map(
          (s) =>
            `<trt:VideoSources token="${esc(s.token)}"><tt:Framerate>${s.framerate}</tt:Framerate>` +
            `<tt:Resolution><tt:Width>${s.width}</tt:Width><tt:Height>${s.height}</tt:Height></tt:Resolution></trt:VideoSources>`,
        )
        .join('');
      return `<trt:GetVideoSourcesResponse>${sources}</trt:GetVideoSourcesResponse>`;
    },
  },
  {
    ns: NS.trt,
    name: 'GetVideoSourceConfigurations',
    level: 'User',
    handle(cam) {
      const configs = cam.media.sources
        .map((s) => sourceConfigXml(s, cam.media.profiles.filter((p) => p.source === s).length, 'trt:Configurations'))
        .join('');
      return `<trt:GetVideoSourceConfigurationsResponse>${configs}</trt:GetVideoSourceConfigurationsResponse>`;
    },
  },
  {
    ns: NS.trt,
    name: 'GetStreamUri',
    level: 'User',
    handle(cam, { op }) {
      const p = profileFor(cam, childText(op, 'ProfileToken'));
      const protocol = childText(path(op, 'StreamSetup', 'Transport'), 'Protocol') ?? 'RTSP';
      const host = new URL(cam.baseUrl()).hostname;
      // RTSP over HTTP is tunnelled through the web server; everything else is plain RTSP.
      const uri = protocol === 'HTTP' ? `${cam.baseUrl()}${p.streamPath}` : `rtsp://${host}:${cam.rtspPort}${p.streamPath}`;
      return `<trt:GetStreamUriResponse>${GENERIC_MEDIA_URI(uri)}</trt:GetStreamUriResponse>`;
    },
  },
  {
    ns: NS.trt,
    name: 'GetSnapshotUri',
    level: 'User',
    handle(cam, { op }) {
      const p = profileFor(cam, childText(op, 'ProfileToken'));
      const uri = `${cam.baseUrl()}/onvif/snapshot/${encodeURIComponent(p.token)}.jpg`;
      return `<trt:GetSnapshotUriResponse>${GENERIC_MEDIA_URI(uri)}</trt:GetSnapshotUriResponse>`;
    },
  },
  {
    ns: NS.trt,
    name: 'SetSynchronizationPoint',
    level: 'User',
    handle(cam, { op }) {
      profileFor(cam, childText(op, 'ProfileToken'));
      return '<trt:SetSynchronizationPointResponse/>';
    },
  },
];
