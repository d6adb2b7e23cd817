/**
 * SSDP datagrams for the parser and search tests. `captured*` are byte-exact copies of what
 * node-ssdp 4.0.1 put on the wire (recorded in a private network namespace before it was
 * replaced). The others reproduce shapes devices are known to send: lower- and mixed-case header
 * names, bare LF line ends, no closing blank line, HTTP/1.0, no space after the colon.
 */
const UUID = 'uuid:5f0a1c2e-0000-4000-8000-00000000abcd';
const LOC = 'http://10.99.0.1:8080/description.xml';

export const capturedResponses = [
  `HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: ${UUID}::upnp:rootdevice\r\nCACHE-CONTROL: max-age=1800\r\nDATE: Mon, 07 Dec 2026 19:56:01 GMT\r\nSERVER: Linux/5.x UPnP/1.0 SIM-1/1.0.0\r\nEXT: \r\nLOCATION: ${LOC}\r\n\r\n`,
  `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:Basic:1\r\nUSN: ${UUID}::urn:schemas-upnp-org:device:Basic:1\r\nCACHE-CONTROL: max-age=1800\r\nDATE: Mon, 07 Dec 2026 19:56:01 GMT\r\nSERVER: Linux/5.x UPnP/1.0 SIM-1/1.0.0\r\nEXT: \r\nLOCATION: ${LOC}\r\n\r\n`,
  `HTTP/1.1 200 OK\r\nST: ${UUID}\r\nUSN: ${UUID}\r\nCACHE-CONTROL: max-age=1800\r\nDATE: Mon, 07 Dec 2026 19:56:01 GMT\r\nSERVER: Linux/5.x UPnP/1.0 SIM-1/1.0.0\r\nEXT: \r\nLOCATION: ${LOC}\r\n\r\n`,
];

export const capturedNotify = `NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nUSN: ${UUID}::upnp:rootdevice\r\nLOCATION: ${LOC}\r\nCACHE-CONTROL: max-age=1800\r\nSERVER: Linux/5.x UPnP/1.0 SIM-1/1.0.0\r\n\r\n`;

export const capturedSearch = 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\nMX: 3\r\n\r\n';

/** Usable answers in other shapes, with the LOCATION each must yield. */
export const shapedResponses: Array<{ name: string; text: string; location: string; st: string }> = [
  {
    name: 'mixed-case names, Ext: empty',
    text: 'HTTP/1.1 200 OK\r\nCache-Control: max-age=120\r\nLocation: http://192.168.1.64:49152/rootDesc.xml\r\nServer: Linux/3.0, UPnP/1.0, IPCAM/1.0\r\nExt:\r\nSt: upnp:rootdevice\r\nUsn: uuid:cam-1::upnp:rootdevice\r\n\r\n',
    location: 'http://192.168.1.64:49152/rootDesc.xml',
    st: 'upnp:rootdevice',
  },
  {
    name: 'lower-case names, no space after the colon',
    text: 'HTTP/1.1 200 OK\r\nlocation:http://192.168.1.65/upnp.xml\r\nst:urn:schemas-upnp-org:device:Basic:1\r\nusn:uuid:cam-2::urn:schemas-upnp-org:device:Basic:1\r\n\r\n',
    location: 'http://192.168.1.65/upnp.xml',
    st: 'urn:schemas-upnp-org:device:Basic:1',
  },
  {
    name: 'bare LF line ends, HTTP/1.0, no closing blank line',
    text: 'HTTP/1.0 200 OK\nST: upnp:rootdevice\nUSN: uuid:cam-3::upnp:rootdevice\nLOCATION: http://192.168.1.66:80/desc.xml\n',
    location: 'http://192.168.1.66:80/desc.xml',
    st: 'upnp:rootdevice',
  },
  {
    name: 'status line without a reason, value padded, header repeated',
    text: 'HTTP/1.1 200\r\nLOCATION:   http://192.168.1.67/d.xml  \r\nLOCATION: http://192.168.1.99/second.xml\r\nST: upnp:rootdevice\r\n\r\ntrailing bytes after the head are ignored',
    location: 'http://192.168.1.67/d.xml',
    st: 'upnp:rootdevice',
  },
];

export const missingLocation = 'HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:cam-4::upnp:rootdevice\r\nEXT:\r\n\r\n';
export const notFound = 'HTTP/1.1 404 Not Found\r\nLOCATION: http://192.168.1.68/d.xml\r\n\r\n';

/** Datagrams that are not SSDP at all, with the code each is refused with. */
export const junk: Array<{ name: string; bytes: Buffer; code: string }> = [
  { name: 'empty', bytes: Buffer.alloc(0), code: 'SSDP_EMPTY' },
  { name: 'binary', bytes: Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x80]), code: 'SSDP_BAD_START_LINE' },
  { name: 'an HTTP GET', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), code: 'SSDP_BAD_START_LINE' },
  { name: 'a WS-Discovery probe', bytes: Buffer.from('<?xml version="1.0"?><e:Envelope/>'), code: 'SSDP_BAD_START_LINE' },
  { name: 'a header without a colon', bytes: Buffer.from('HTTP/1.1 200 OK\r\nLOCATION http://x/\r\n\r\n'), code: 'SSDP_BAD_HEADER' },
  { name: 'a space before the colon', bytes: Buffer.from('HTTP/1.1 200 OK\r\nLOCATION : http://x/\r\n\r\n'), code: 'SSDP_BAD_HEADER' },
  { name: 'a NUL in a value', bytes: Buffer.from('HTTP/1.1 200 OK\r\nLOCATION: http://x/\0\r\n\r\n'), code: 'SSDP_BAD_HEADER' },
  { name: 'too large', bytes: Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(9000)}\r\n\r\n`), code: 'SSDP_TOO_LARGE' },
  { name: 'too many headers', bytes: Buffer.from(`HTTP/1.1 200 OK\r\n${'X: 1\r\n'.repeat(65)}\r\n`), code: 'SSDP_TOO_MANY_HEADERS' },
];
