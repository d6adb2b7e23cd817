/**
 * Device management service (ver10/device/wsdl).
 */
import { Faults, NS } from '../soap.js';
import { childrenNamed, childText, esc } from '../xml.js';
import type { CameraState, Operation } from './context.js';

export const SERVICE_PATHS = {
  device: '/onvif/device_service',
  deviceIO: '/onvif/deviceio_service',
  media: '/onvif/media_service',
  events: '/onvif/events_service',
  ptz: '/onvif/ptz_service',
} as const;

function dateTimeXml(d: Date): string {
  return (
    `<tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute>` +
    `<tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
    `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month>` +
    `<tt:Day>${d.getUTCDate()}</tt:Day></tt:Date>`
  );
}

const version = (major: number, minor: number): string =>
  `<tds:Version><tt:Major>${major}</tt:Major><tt:Minor>${minor}</tt:Minor></tds:Version>`;

/** Services with their namespaces; Media is ver10 only, since advertising ver20 switches clients to Media2. */
interface ServiceEntry {
  ns: string;
  path: string;
  major: number;
  minor: number;
  caps: string;
}

function services(cam: CameraState): ServiceEntry[] {
  const list: ServiceEntry[] = [
    { ns: NS.tds, path: SERVICE_PATHS.device, major: 2, minor: 60, caps: deviceCapabilitiesXml(cam, 'tds') },
    { ns: NS.tmd, path: SERVICE_PATHS.deviceIO, major: 2, minor: 60, caps: `<tmd:Capabilities VideoSources="${cam.media.sources.length}" DigitalInputs="${cam.digitalInputs.length}" RelayOutputs="0"/>` },
    { ns: NS.trt, path: SERVICE_PATHS.media, major: 2, minor: 60, caps: mediaCapabilitiesXml('trt') },
    { ns: NS.tev, path: SERVICE_PATHS.events, major: 2, minor: 60, caps: eventCapabilitiesXml(cam, 'tev') },
  ];
  if (cam.ptz) list.push({ ns: NS.tptz, path: SERVICE_PATHS.ptz, major: 2, minor: 60, caps: '<tptz:Capabilities EFlip="false" Reverse="false" GetCompatibleConfigurations="false" MoveStatus="true" StatusPosition="true"/>' });
  return list;
}

export function deviceCapabilitiesXml(_cam: CameraState, prefix: string): string {
  return (
    `<${prefix}:Capabilities>` +
    '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false" HostnameFromDHCP="false" NTP="1"/>' +
    '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false" AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false" X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="true" RELToken="false" MaxUsers="32" MaxUserNameLength="32" MaxPasswordLength="64"/>' +
    '<tds:System DiscoveryResolve="true" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false" SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false" HttpSystemLogging="false" HttpSupportInformation="false" StorageConfiguration="false"/>' +
    `</${prefix}:Capabilities>`
  );
}

export function mediaCapabilitiesXml(prefix: string): string {
  return (
    `<${prefix}:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">` +
    '<trt:ProfileCapabilities MaximumNumberOfProfiles="8"/>' +
    '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false" NoRTSPStreaming="false"/>' +
    `</${prefix}:Capabilities>`
  );
}

export function eventCapabilitiesXml(cam: CameraState, prefix: string): string {
  return `<${prefix}:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="${cam.maxPullPoints}" PersistentNotificationStorage="false"/>`;
}

const getServices: Operation = {
  ns: NS.tds,
  name: 'GetServices',
  level: 'User',
  handle(cam, { op }) {
    const withCaps = childText(op, 'IncludeCapability') === 'true';
    const body = services(cam)
      .map(
        (s) =>
          `<tds:Service><tds:Namespace>${s.ns}</tds:Namespace><tds:XAddr>${esc(cam.baseUrl() + s.path)}</tds:XAddr>` +
          (withCaps ? `<tds:Capabilities>${s.caps}</tds:Capabilities>` : '') +
          `${version(s.major, s.minor)}</tds:Service>`,
      )
      .join('');
    return `<tds:GetServicesResponse>${body}</tds:GetServicesResponse>`;
  },
};

const getCapabilities: Operation = {
  ns: NS.tds,
  name: 'GetCapabilities',
  level: 'User',
  handle(cam, { op }) {
    const cats = new Set(childrenNamed(op, 'Category').map((c) => c.text));
    const want = (c: string): boolean => cats.size === 0 || cats.has('All') || cats.has(c);
    const url = (p: string): string => esc(cam.baseUrl() + p);
    let xml = '';
    if (want('Device')) {
      xml +=
        `<tt:Device><tt:XAddr>${url(SERVICE_PATHS.device)}</tt:XAddr>` +
        '<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration><tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>' +
        '<tt:System><tt:DiscoveryResolve>true</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>' +
        '<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>' +
        `<tt:IO><tt:InputConnectors>${cam.digitalInputs.length}</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO>` +
        '<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2><tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security>' +
        '</tt:Device>';
    }
    if (want('Events')) {
      xml +=
        `<tt:Events><tt:XAddr>${url(SERVICE_PATHS.events)}</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>` +
        '<tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>';
    }
    if (want('Media')) {
      xml +=
        `<tt:Media><tt:XAddr>${url(SERVICE_PATHS.media)}</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>` +
        '<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>';
    }
    if (want('PTZ') && cam.ptz) xml += `<tt:PTZ><tt:XAddr>${url(SERVICE_PATHS.ptz)}</tt:XAddr></tt:PTZ>`;
    if (cats.size === 0 || cats.has('All')) {
      xml +=
        `<tt:Extension><tt:DeviceIO><tt:XAddr>${url(SERVICE_PATHS.deviceIO)}</tt:XAddr><tt:VideoSources>${cam.media.sources.length}</tt:VideoSources>` +
        `<tt:VideoOutputs>0</tt:VideoOutputs><tt:AudioSources>0</tt:AudioSources><tt:AudioOutputs>0</tt:AudioOutputs><tt:RelayOutputs>0</tt:RelayOutputs></tt:DeviceIO></tt:Extension>`;
    }
    if (xml === '') throw Faults.receiverAction('NoSuchService', 'The requested service is not supported');
    return `<tds:GetCapabilitiesResponse><tds:Capabilities>${xml}</tds:Capabilities></tds:GetCapabilitiesResponse>`;
  },
};

const ops: Operation[] = [
  {
    ns: NS.tds,
    name: 'GetSystemDateAndTime',
    level: undefined,
    handle(cam) {
      const d = new Date(cam.now());
      return (
        '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>' +
        '<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>' +
        '<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>' +
        `<tt:UTCDateTime>${dateTimeXml(d)}</tt:UTCDateTime><tt:LocalDateTime>${dateTimeXml(d)}</tt:LocalDateTime>` +
        '</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>'
      );
    },
  },
  getServices,
  getCapabilities,
  {
    ns: NS.tds,
    name: 'GetServiceCapabilities',
    level: 'User',
    handle: (cam) => `<tds:GetServiceCapabilitiesResponse>${deviceCapabilitiesXml(cam, 'tds')}</tds:GetServiceCapabilitiesResponse>`,
  },
  {
    ns: NS.tds,
    name: 'GetDeviceInformation',
    level: 'User',
    handle({ identity: i }) {
      return (
        '<tds:GetDeviceInformationResponse>' +
        `<tds:Manufacturer>${esc(i.manufacturer)}</tds:Manufacturer><tds:Model>${esc(i.model)}</tds:Model>` +
        `<tds:FirmwareVersion>${esc(i.firmware)}</tds:FirmwareVersion><tds:SerialNumber>${esc(i.serial)}</tds:SerialNumber>` +
        `<tds:HardwareId>${esc(i.hardwareId)}</tds:HardwareId>` +
        '</tds:GetDeviceInformationResponse>'
      );
    },
  },
  {
    ns: NS.tds,
    name: 'GetScopes',
    level: 'User',
    handle(cam) {
      const scopes = cam
        .scopes()
        .map((s) => `<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>${esc(s)}</tt:ScopeItem></tds:Scopes>`)
        .join('');
      return `<tds:GetScopesResponse>${scopes}</tds:GetScopesResponse>`;
    },
  },
  {
    ns: NS.tds,
    name: 'GetHostname',
    level: 'User',
    handle: ({ identity }) =>
      '<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>' +
      `<tt:Name>${esc(identity.hostname)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>`,
  },
  {
    ns: NS.tds,
    name: 'GetNetworkInterfaces',
    level: 'User',
    handle(cam) {
      const host = new URL(cam.baseUrl()).hostname;
      return (
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>' +
        `<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>${cam.identity.mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>` +
        '<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>' +
        `<tt:Manual><tt:Address>${esc(host)}</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>` +
        '<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>'
      );
    },
  },
  {
    ns: NS.tds,
    name: 'GetUsers',
    level: 'Administrator',
    handle(cam) {
      const users = cam.users
        .list()
        .map((u) => `<tds:User><tt:Username>${esc(u.username)}</tt:Username><tt:UserLevel>${u.userLevel}</tt:UserLevel></tds:User>`)
        .join('');
      return `<tds:GetUsersResponse>${users}</tds:GetUsersResponse>`;
    },
  },
  {
    ns: NS.tds,
    name: 'CreateUsers',
    level: 'Administrator',
    handle(cam, { op }) {
      cam.users.create(
        childrenNamed(op, 'User').map((u) => ({
          username: childText(u, 'Username') ?? '',
          password: childText(u, 'Password') ?? '',
          userLevel: childText(u, 'UserLevel') ?? '',
        })),
      );
      return '<tds:CreateUsersResponse/>';
    },
  },
  {
    ns: NS.tds,
    name: 'DeleteUsers',
    level: 'Administrator',
    handle(cam, { op }) {
      const names = childrenNamed(op, 'Username').map((u) => u.text);
      if (names.length === 0) throw Faults.invalidArg('UsernameMissing', 'Username missing');
      cam.users.delete(names);
      return '<tds:DeleteUsersResponse/>';
    },
  },
  {
    ns: NS.tds,
    name: 'SystemReboot',
    level: 'Administrator',
    handle(cam, ctx) {
      ctx.afterResponse(() => void cam.reboot());
      return '<tds:SystemRebootResponse><tds:Message>Rebooting now</tds:Message></tds:SystemRebootResponse>';
    },
  },
];

/** The ONVIF operation is SetUser; the onvif library's setUsers() sends that name too. */
for (const name of ['SetUser', 'SetUsers']) {
  ops.push({
    ns: NS.tds,
    name,
    level: 'Administrator',
    handle(cam, { op }) {
      cam.users.set(
        childrenNamed(op, 'User').map((u) => ({
          username: childText(u, 'Username') ?? '',
          password: childText(u, 'Password'),
          userLevel: childText(u, 'UserLevel') ?? '',
        })),
      );
      return `<tds:${name}Response/>`;
    },
  });
}

export const deviceOperations: readonly Operation[] = ops;
