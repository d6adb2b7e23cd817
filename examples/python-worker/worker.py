#!/usr/bin/python3
"""An ONVIF worker in Python: serves camera.rpc.<cameraId>.users-create and .stream-uri on the bus
by talking plain SOAP 1.2 over HTTP to one camera (urllib, xml.etree, a WS-Security
UsernameToken digest). Requests and replies follow SCHEMAS.md ("RPC") and PROTOCOL.md §8.

    ONVIF_PASSWORD=secret UDSBUS_SOCKET=/run/udsbus/bus.sock \\
      /usr/bin/python3 worker.py --camera-id front-door --url http://192.168.1.10/onvif/device_service

The password comes from the environment, never from the command line (visible in `ps`).
Needs clients/python/udsbus.py on the path (this script adds ../../clients/python).
"""
import argparse
import base64
import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import udsbus  # noqa: E402

log = logging.getLogger("onvif-worker")

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
MAX_RESPONSE = 1 << 20

TOKEN = re.compile(r"^[A-Za-z0-9_~%@:=-]{1,64}$")
LEVELS = ("Administrator", "Operator", "User", "Anonymous", "Extended")


class RpcError(udsbus.RemoteError):
    """An RPC failure with one of the SCHEMAS.md codes; the message never carries credentials."""


class OnvifFault(Exception):
    def __init__(self, status, code, subcodes, reason):
        super().__init__(f"{':'.join([code] + subcodes)}: {reason}")
        self.status, self.code, self.subcodes, self.reason = status, code, subcodes, reason


# --------------------------------------------------------------------------------- SOAP client

class OnvifCamera:
    """Just enough ONVIF: device service at `url`, media service found through GetServices."""

    def __init__(self, url, username, password, timeout=5.0):
        self.url, self.username, self.password, self.timeout = url, username, password, timeout
        self._offset = None  # camera clock minus ours (s): UsernameToken Created must match its clock
        self._media_url = None
        self._lock = threading.Lock()

    def _security_header(self):
        nonce = secrets.token_bytes(16)
        created = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self._offset or 0)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
        return (
            f'<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}">'
            f"<wsse:UsernameToken><wsse:Username>{escape(self.username)}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
        )

    def call(self, url, body, auth=True):
        """POSTs one SOAP 1.2 request; returns the first element inside Body, or raises."""
        if auth and self._offset is None:
            self._sync_clock()
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS["s"]}" xmlns:tt="{NS["tt"]}" '
            f'xmlns:tds="{NS["tds"]}" xmlns:trt="{NS["trt"]}">'
            f'{self._security_header() if auth else ""}<s:Body>{body}</s:Body></s:Envelope>'
        )
        req = urllib.request.Request(url, data=envelope.encode(), method="POST",
                                     headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                status, text = res.status, res.read(MAX_RESPONSE)
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read(MAX_RESPONSE)
        except (socket.timeout, TimeoutError) as e:
            raise RpcError("timeout", f"camera did not answer within {self.timeout:g} s") from e
        except (urllib.error.URLError, OSError) as e:
            raise RpcError("unreachable", f"camera unreachable: {getattr(e, 'reason', e)}") from e
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            if status == 401:
                raise RpcError("unauthorized", "camera rejected the credentials (HTTP 401)") from e
            raise RpcError("camera-fault", f"unparsable answer (HTTP {status})") from e
        body_el = root.find("s:Body", NS)
        first = body_el[0] if body_el is not None and len(body_el) else None
        if first is None:
            raise RpcError("camera-fault", f"empty SOAP body (HTTP {status})")
        if first.tag == f"{{{NS['s']}}}Fault":
            raise _fault(status, first)
        if status >= 300:
            raise RpcError("camera-fault", f"HTTP {status}")
        return first

    def _sync_clock(self):
        with self._lock:
            if self._offset is not None:
                return
            r = self.call(self.url, "<tds:GetSystemDateAndTime/>", auth=False)
            u = r.find("tds:SystemDateAndTime/tt:UTCDateTime", NS)
            try:
                d, t = u.find("tt:Date", NS), u.find("tt:Time", NS)
                cam = dt.datetime(*(int(d.findtext(f"tt:{k}", namespaces=NS)) for k in ("Year", "Month", "Day")),
                                  *(int(t.findtext(f"tt:{k}", namespaces=NS)) for k in ("Hour", "Minute", "Second")),
                                  tzinfo=dt.timezone.utc)
                self._offset = (cam - dt.datetime.now(dt.timezone.utc)).total_seconds()
            except (AttributeError, TypeError, ValueError):
                self._offset = 0.0  # no usable clock: trust ours

    def media_url(self):
        if self._media_url is None:
            r = self.call(self.url, "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>")
            for svc in r.findall("tds:Service", NS):
                if svc.findtext("tds:Namespace", namespaces=NS) == NS["trt"]:
                    self._media_url = svc.findtext("tds:XAddr", namespaces=NS)
            if not self._media_url:
                raise RpcError("camera-fault", "camera has no media service")
        return self._media_url

    def create_user(self, username, password, level):
        self.call(self.url, (
            "<tds:CreateUsers><tds:User>"
            f"<tt:Username>{escape(username)}</tt:Username><tt:Password>{escape(password)}</tt:Password>"
            f"<tt:UserLevel>{level}</tt:UserLevel></tds:User></tds:CreateUsers>"
        ))

    def stream_uri(self, profile, stream, transport):
        media = self.media_url()
        if profile is None:
            first = self.call(media, "<trt:GetProfiles/>").find("trt:Profiles", NS)
            if first is None:
                raise RpcError("not-found", "camera has no media profile")
            profile = first.get("token")
        r = self.call(media, (
            f"<trt:GetStreamUri><trt:StreamSetup><tt:Stream>{stream}</tt:Stream>"
            f"<tt:Transport><tt:Protocol>{transport}</tt:Protocol></tt:Transport></trt:StreamSetup>"
            f"<trt:ProfileToken>{escape(profile)}</trt:ProfileToken></trt:GetStreamUri>"
        ))
        uri = r.findtext("trt:MediaUri/tt:Uri", namespaces=NS)
        if not uri:
            raise RpcError("camera-fault", "GetStreamUri returned no URI")
        return {"uri": re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", uri, flags=re.I), "profile": profile}


def _fault(status, fault):
    code = fault.findtext("s:Code/s:Value", default="", namespaces=NS)
    subcodes, sub = [], fault.find("s:Code/s:Subcode", NS)
    while sub is not None:
        subcodes.append(sub.findtext("s:Value", default="", namespaces=NS))
        sub = sub.find("s:Subcode", NS)
    reason = fault.findtext("s:Reason/s:Text", default="", namespaces=NS)
    f = OnvifFault(status, code, subcodes, reason)
    names = {s.split(":")[-1] for s in subcodes}
    if "NotAuthorized" in names or status == 401:
        return RpcError("unauthorized", f"camera rejected the credentials ({reason})")
    if "NoProfile" in names:
        return RpcError("not-found", reason or "no such profile")
    if names & {"InvalidArgVal", "InvalidArgs", "OperationProhibited"}:
        return RpcError("invalid-argument", reason or str(f))
    return RpcError("camera-fault", str(f))


# --------------------------------------------------------------------------------- RPC handlers

def _closed(req, required, optional=()):
    if not isinstance(req, dict):
        raise RpcError("invalid-argument", "request must be a map")
    unknown = set(req) - set(required) - set(optional)
    if unknown:
        raise RpcError("invalid-argument", f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    missing = [k for k in required if k not in req]
    if missing:
        raise RpcError("invalid-argument", f"missing field(s): {', '.join(missing)}")


def _text(req, key, lo, hi):
    v = req.get(key)
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        raise RpcError("invalid-argument", f"{key} must be text of {lo}-{hi} characters")
    return v


def _one_of(req, key, allowed, default):
    v = req.get(key, default)
    if v not in allowed:
        raise RpcError("invalid-argument", f"{key} must be one of {', '.join(allowed)}")
    return v


def users_create(cam, req):
    _closed(req, ("username", "password", "level"))
    username = _text(req, "username", 1, 64)
    password = _text(req, "password", 1, 128)
    level = _one_of(req, "level", LEVELS, None)
    cam.create_user(username, password, level)
    return {"username": username}


def stream_uri(cam, req):
    _closed(req, (), ("profile", "stream", "transport"))
    profile = _text(req, "profile", 1, 64) if "profile" in req else None
    stream = _one_of(req, "stream", ("RTP-Unicast", "RTP-Multicast"), "RTP-Unicast")
    transport = _one_of(req, "transport", ("UDP", "TCP", "RTSP", "HTTP"), "RTSP")
    return cam.stream_uri(profile, stream, transport)


ACTIONS = {"users-create": users_create, "stream-uri": stream_uri}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--camera-id", required=True, help="topic token naming the camera, e.g. front-door")
    p.add_argument("--url", required=True, help="ONVIF device service URL")
    p.add_argument("--username", default=os.environ.get("ONVIF_USERNAME", "admin"))
    p.add_argument("--queue", default="onvif-workers", help="queue group shared by workers of this camera")
    p.add_argument("--timeout", type=float, default=5.0, help="SOAP timeout in seconds")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if not TOKEN.match(args.camera_id):
        p.error("--camera-id must be a topic token (1-64 of A-Z a-z 0-9 _ ~ % @ : = -)")
    cam = OnvifCamera(args.url, args.username, os.environ.get("ONVIF_PASSWORD", ""), args.timeout)

    def handle(m):
        action = m.topic.rsplit(".", 1)[-1]
        fn = ACTIONS.get(action)
        if fn is None:
            raise RpcError("invalid-argument", f"this worker does not serve {action}")
        try:
            return fn(cam, m.value)
        except udsbus.RemoteError:
            raise
        except Exception as e:  # a bug here; say "internal", log the details locally
            log.exception("%s failed", m.topic)
            raise RpcError("internal", type(e).__name__) from e

    bus = udsbus.connect(name=f"onvif-worker-{args.camera_id}")
    pattern = f"camera.rpc.{args.camera_id}.*"
    bus.serve(pattern, handle, queue=args.queue)
    print(f"serving {pattern} (queue {args.queue})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    bus.close()


if __name__ == "__main__":
    main()
