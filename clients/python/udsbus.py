"""A udsbus client for Python: the standard library plus cbor2 (or nothing but the standard
library, in JSON mode).

Written from PROTOCOL.md (wire protocol version 1) alone. One module, no other dependencies, so it
can be copied next to a script. `encoding="json"` speaks the newline-delimited JSON frames of
PROTOCOL §15 instead of CBOR and needs no cbor2 (payloads must then be JSON values, with bytes as
{"$bytes": hex}; integers beyond 2**53 lose precision in the broker). Threads: one reader per connection, one keepalive timer per client,
one dispatcher for callback subscriptions (started on first use), one short-lived reconnect thread.

    import udsbus

    bus = udsbus.connect(name="printer")            # $UDSBUS_SOCKET or the default path (§1)
    with bus.subscribe("camera.event.>") as events:
        for m in events:
            print(m.topic, m.value)

    cams = bus.request("camera.rpc.front-door.stream-uri", {}, timeout=5)   # -> {"uri": ..., "profile": ...}
    bus.serve("demo.rpc.*", lambda m: {"echo": m.value}, queue="demo")

Errors are exceptions carrying the protocol's numeric `code` and `name` (PROTOCOL §12):
`UdsbusError`, `NoRespondersError` (40), `RequestTimeoutError` (41, also a `TimeoutError`),
`DisconnectedError` (42). An application-level failure reply (PROTOCOL §8 envelope) raises
`RemoteError` with the text `code`, `message` and `data` of the envelope.

Backpressure: every subscription has a bounded local queue (`pending`). When it is full the
reader thread waits, the socket stops being read, and the *broker* applies the subscription's
policy (§10) and later sends `loss` notices, which this client surfaces through `on_loss` and
`Message.lost_before`. While the reader waits, nothing else on the connection is read, so a
callback that makes a request while its own queue is full waits until the request times out.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import queue as _queue
import secrets
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

try:
    import cbor2
except ImportError:  # JSON mode needs only the standard library
    cbor2 = None  # type: ignore[assignment]

__all__ = [
    "connect", "Client", "Subscription", "Message", "Loss",
    "UdsbusError", "NoRespondersError", "RequestTimeoutError", "DisconnectedError", "RemoteError",
    "ERROR_CODES", "ERROR_NAMES", "EMPTY", "default_socket_path", "check_portable",
]

PROTOCOL_VERSION = 1
#: The protocol's absolute frame cap (§2): lengths are below 16 MiB.
MAX_FRAME_BYTES = 16 * 1024 * 1024 - 1

log = logging.getLogger("udsbus")

# ---------------------------------------------------------------------------------------- errors

ERROR_CODES: Dict[str, int] = {
    "BAD_PREAMBLE": 1, "FRAME_TOO_LARGE": 2, "BAD_CBOR": 3, "UNSUPPORTED_CBOR": 4, "TOO_DEEP": 5,
    "BAD_FRAME": 6, "UNKNOWN_OP": 7, "HANDSHAKE_REQUIRED": 8, "UNSUPPORTED_VERSION": 9,
    "HANDSHAKE_TIMEOUT": 10, "INVALID_TOPIC": 20, "INVALID_PATTERN": 21, "TOPIC_TOO_LONG": 22,
    "TOPIC_TOO_DEEP": 23, "RESERVED_TOPIC": 24, "TOO_MANY_CONNECTIONS": 30,
    "TOO_MANY_SUBSCRIPTIONS": 31, "DUPLICATE_SID": 32, "UNKNOWN_SID": 33, "RETAINED_LIMIT": 34,
    "SLOW_CONSUMER": 35, "KEEPALIVE_TIMEOUT": 36, "NO_RESPONDERS": 40, "TIMEOUT": 41,
    "DISCONNECTED": 42, "PERMISSION_DENIED": 50, "SCHEMA_INVALID": 51, "QUOTA_EXCEEDED": 52,
    "SHUTTING_DOWN": 90, "INTERNAL": 99,
}
ERROR_NAMES: Dict[int, str] = {v: k for k, v in ERROR_CODES.items()}


class UdsbusError(Exception):
    """A protocol error (an `err` frame) or a client-side one, with the stable numeric code (§12)."""

    def __init__(self, code: int, name: Optional[str] = None, text: str = "", *,
                 fatal: bool = False, id: Optional[int] = None, sid: Optional[int] = None):
        self.code = int(code)
        # Unknown codes are generic errors (§12); keep the broker's name if it sent one.
        self.name = name or ERROR_NAMES.get(self.code, f"E{self.code}")
        self.text = text
        self.fatal = fatal
        self.id = id
        self.sid = sid
        super().__init__(f"{self.name} ({self.code}): {text}" if text else f"{self.name} ({self.code})")

    @classmethod
    def from_frame(cls, f: dict) -> "UdsbusError":
        code = f.get("code")
        code = code if isinstance(code, int) else ERROR_CODES["INTERNAL"]
        kind = {40: NoRespondersError}.get(code, UdsbusError)
        return kind(code, _text(f.get("name")), _text(f.get("text")) or "", fatal=f.get("fatal") is True,
                    id=_uint(f.get("id")), sid=_uint(f.get("sid")))


class NoRespondersError(UdsbusError):
    """A request matched no subscription; the broker said so at once (code 40)."""


class RequestTimeoutError(UdsbusError, TimeoutError):
    """No reply within the request timeout (code 41, client-side only)."""

    def __init__(self, text: str = "request timed out"):
        UdsbusError.__init__(self, 41, "TIMEOUT", text)


class DisconnectedError(UdsbusError, ConnectionError):
    """The connection is down (and cannot buffer this), or the client is closed (code 42)."""

    def __init__(self, text: str = "not connected"):
        UdsbusError.__init__(self, 42, "DISCONNECTED", text)


class RemoteError(Exception):
    """A failure reply `{"ok": false, "error": {code, message, data?}}` (PROTOCOL §8).

    Raise it from a `serve` handler to answer with a specific application code.
    """

    def __init__(self, code: str, message: str = "", data: Any = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def _text(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


def _uint(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


# ------------------------------------------------------------------------------- the CBOR subset

def check_portable(buf: bytes, max_nesting: int = 32) -> None:
    """Raises UdsbusError unless `buf` is exactly one CBOR item of the portable subset (§3).

    Run before cbor2 sees bytes from another process, and on our own encoded payloads (cbor2 turns
    datetime, Decimal, set, huge ints … into tags that the broker would reject with a fatal error).
    """
    n = len(buf)
    pos = 0
    todo = [1]  # items still to read per open level; len(todo) - 1 is the current depth
    while todo:
        if todo[-1] == 0:
            todo.pop()
            continue
        todo[-1] -= 1
        if pos >= n:
            raise UdsbusError(3, "BAD_CBOR", "item runs past the end of the frame")
        ib = buf[pos]
        pos += 1
        major, info = ib >> 5, ib & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            size = 1 << (info - 24)
            if pos + size > n:
                raise UdsbusError(3, "BAD_CBOR", "truncated argument")
            arg = int.from_bytes(buf[pos:pos + size], "big")
            pos += size
        elif info == 31:
            raise UdsbusError(4, "UNSUPPORTED_CBOR", "indefinite length or break byte")
        else:
            raise UdsbusError(3, "BAD_CBOR", "reserved additional information")
        if major <= 1:
            continue
        if major <= 3:
            if arg > n - pos:
                raise UdsbusError(3, "BAD_CBOR", "string runs past the end of the frame")
            pos += arg
            continue
        if major <= 5:
            count = arg * 2 if major == 5 else arg
            if count > n - pos:  # every item takes at least one byte
                raise UdsbusError(3, "BAD_CBOR", "container runs past the end of the frame")
            if len(todo) > max_nesting:
                raise UdsbusError(5, "TOO_DEEP", f"nesting deeper than {max_nesting}")
            todo.append(count)
            continue
        if major == 6:
            raise UdsbusError(4, "UNSUPPORTED_CBOR", "tags are not allowed")
        if info in (20, 21, 22, 23, 25, 26, 27):  # false true null undefined, float16/32/64
            continue
        raise UdsbusError(4, "UNSUPPORTED_CBOR", "reserved simple value")
    if pos != n:
        raise UdsbusError(3, "BAD_CBOR", "trailing bytes after the item")


class _Empty:
    """The "no value" payload: a zero-length byte string (§7); clears a retained message (§9)."""

    def __repr__(self) -> str:
        return "udsbus.EMPTY"


EMPTY = _Empty()


def _need_cbor2() -> None:
    if cbor2 is None:
        raise UdsbusError(4, "UNSUPPORTED_CBOR", "cbor2 is not importable here: pip install 'udsbus[cbor]' (or Debian's "
                          "python3-cbor2, importable by /usr/bin/python3 only) or connect with encoding='json'")


def encode_value(value: Any) -> bytes:
    """A payload's bytes: EMPTY -> b"", anything else -> one CBOR item of the portable subset."""
    if value is EMPTY:
        return b""
    _need_cbor2()
    try:
        data = cbor2.dumps(value)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as e:
        raise UdsbusError(4, "UNSUPPORTED_CBOR", f"cannot encode payload: {e}") from e
    check_portable(data)
    return data


def decode_value(data: bytes, max_nesting: int = 32) -> Any:
    """The value of a payload; None for an empty one (check `Message.empty` to tell it from null)."""
    if not data:
        return None
    _need_cbor2()
    check_portable(data, max_nesting)
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError) as e:
        raise UdsbusError(3, "BAD_CBOR", str(e)) from e


def default_socket_path() -> str:
    """PROTOCOL §1: $UDSBUS_SOCKET, else /run/udsbus/bus.sock for root, else the per-user path."""
    env = os.environ.get("UDSBUS_SOCKET")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/udsbus/bus.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "udsbus", "bus.sock")
    return f"/tmp/udsbus-{os.getuid()}/bus.sock"


# ------------------------------------------------------------------------------------ messages

class Message:
    """One delivery (`msg` frame). `value` decodes the payload on first use."""

    __slots__ = ("sid", "seq", "topic", "payload", "retained", "reply", "headers", "origin", "lost_before", "_value", "_decoded", "_empty")

    def __init__(self, f: dict, json_mode: bool = False):
        self.sid: int = f["sid"]
        self.seq: int = _uint(f.get("seq")) or 0
        self.topic: str = f["topic"]
        #: The payload's CBOR bytes (None in JSON mode, where the broker sends the value itself).
        self.payload: Optional[bytes] = None
        self._decoded = False
        self._value: Any = None
        if json_mode:
            self._decoded, self._value = True, f.get("payload")
            self._empty = "payload" not in f
        else:
            payload = f.get("payload", b"")
            self.payload = bytes(payload) if isinstance(payload, (bytes, bytearray)) else b""
            self._empty = len(self.payload) == 0
        self.retained: bool = f.get("retained") is True
        self.reply: Optional[str] = _text(f.get("reply"))
        hdr = f.get("hdr")
        self.headers: Dict[str, str] = dict(hdr) if isinstance(hdr, dict) else {}
        origin = f.get("from")
        #: Who published, stamped by the broker (§7 `from`): {cid, name, uid, gid, pid} or
        #: {cid, name, anonymous: True}; None on the broker's own messages.
        self.origin: Optional[Dict[str, Any]] = dict(origin) if isinstance(origin, dict) else None
        #: Messages the broker dropped for this subscription just before this one.
        self.lost_before = 0

    @property
    def empty(self) -> bool:
        """True for a zero-length payload ("no value", e.g. a cleared retained message)."""
        return self._empty

    @property
    def value(self) -> Any:
        if not self._decoded:
            self._value = decode_value(self.payload or b"")
            self._decoded = True
        return self._value

    def __repr__(self) -> str:
        return f"Message(topic={self.topic!r}, seq={self.seq}, retained={self.retained}, empty={self._empty})"


class Loss:
    """A `loss` notice (§10): `lost` messages for `sid` were dropped; the last had seq `last_seq`."""

    __slots__ = ("sid", "pattern", "lost", "policy", "last_seq")

    def __init__(self, f: dict, pattern: str):
        self.sid: int = f["sid"]
        self.pattern = pattern
        self.lost: int = _uint(f.get("lost")) or 0
        self.policy: str = _text(f.get("policy")) or ""
        self.last_seq: int = _uint(f.get("lastSeq")) or 0

    def __repr__(self) -> str:
        return f"Loss(sid={self.sid}, pattern={self.pattern!r}, lost={self.lost}, policy={self.policy!r}, last_seq={self.last_seq})"


_CLOSED = object()  # queue sentinel: the subscription ended


class Subscription:
    """A live subscription. Iterate it (blocking), call `next(timeout)`, or pass a callback.

    `with bus.subscribe(...) as sub:` unsubscribes on exit. After a reconnect the client
    subscribes again with the same sid; `seq` then restarts at 1 (a new broker subscription).
    """

    def __init__(self, client: "Client", sid: int, pattern: str, frame: dict,
                 callback: Optional[Callable[[Message], Any]], pending: int,
                 on_loss: Optional[Callable[[Loss], Any]]):
        self._client = client
        self.sid = sid
        self.pattern = pattern
        self._frame = frame  # the `sub` frame without id, re-sent after a reconnect
        self._callback = callback
        self._on_loss = on_loss
        self._q: Optional[_queue.Queue] = None if callback else _queue.Queue(maxsize=max(1, pending))
        self._pending_lost = 0
        self._gen = 0  # connection generation this subscription was last sent on
        #: Total messages the broker reported lost for this subscription.
        self.lost = 0
        self.closed = False

    # Called by the client.
    def _put(self, item: Any) -> None:
        if self._callback is not None:
            self._client._dispatch_put(self, item)
        else:
            self._client._blocking_put(self._q, item)

    def _consume(self, item: Any) -> Optional[Message]:
        """Runs in the consumer's thread: accounts losses, returns a message or None."""
        if isinstance(item, Loss):
            self.lost += item.lost
            self._pending_lost += item.lost
            handler = self._on_loss or self._client.on_loss
            try:
                handler(item)
            except Exception:  # a user callback must not kill the consumer
                log.exception("udsbus: on_loss callback failed")
            return None
        if isinstance(item, Message):
            item.lost_before, self._pending_lost = self._pending_lost, 0
            return item
        return None

    def next(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message; None after `timeout` seconds or once the subscription has ended."""
        if self._q is None:
            raise TypeError("this subscription delivers to its callback")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            try:
                item = self._q.get(timeout=left) if left > 0 else self._q.get_nowait()
            except _queue.Empty:
                if self.closed or (deadline is not None and time.monotonic() >= deadline):
                    return None
                continue
            if item is _CLOSED:
                return None
            m = self._consume(item)
            if m is not None:
                return m

    def __iter__(self) -> Iterator[Message]:
        while True:
            m = self.next()
            if m is None:
                return
            yield m

    def messages(self, idle_timeout: Optional[float] = None) -> Iterator[Message]:
        """Like iterating, but stops after `idle_timeout` seconds without a message."""
        while True:
            m = self.next(idle_timeout)
            if m is None:
                return
            yield m

    def unsubscribe(self, timeout: Optional[float] = None) -> None:
        self._client._unsubscribe(self, timeout)

    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._q is not None:
            try:
                self._q.put_nowait(_CLOSED)
            except _queue.Full:
                pass  # next() notices the flag once the queue is drained

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.unsubscribe()
        except UdsbusError:
            pass


# --------------------------------------------------------------------------------------- client

class _Call:
    """Waits for the `ok`/`err` answering one frame id (or the `pong` answering a `ping`)."""

    __slots__ = ("event", "error", "on_error")

    def __init__(self, on_error: Optional[Callable[[UdsbusError], None]] = None):
        self.event = threading.Event()
        self.error: Optional[BaseException] = None
        self.on_error = on_error

    def resolve(self, error: Optional[BaseException] = None) -> None:
        self.error = error
        self.event.set()
        if error is not None and self.on_error is not None and isinstance(error, UdsbusError):
            self.on_error(error)

    def wait(self, timeout: float, what: str) -> None:
        if not self.event.wait(timeout):
            raise RequestTimeoutError(f"no answer to {what} within {timeout:g} s")
        if self.error is not None:
            raise self.error


def connect(path: Optional[str] = None, **options: Any) -> "Client":
    """Connects and completes the handshake (§5); see `Client` for the options."""
    c = Client(path, **options)
    c.connect()
    return c


class Client:
    """A connection to the broker that reconnects and re-subscribes by itself.

    Options: `name`, `keepalive_ms` (asked of the broker), `will` ({topic, value, retain}),
    `reconnect` (default True), `max_reconnect_attempts` (None: forever), `reconnect_max_wait`
    (seconds, default 2), `connect_timeout`, `request_timeout` (seconds, default 5),
    `outage_buffer_bytes` (publishes kept while disconnected, default 8 MiB), `encoding` ("cbor",
    or "json" for the JSON frames of §15, which need no cbor2), and the callbacks
    `on_error(UdsbusError)` for `err` frames that answer no call, `on_loss(Loss)` for loss
    notices of subscriptions without their own handler, `on_status(event, info)` for
    "disconnected", "reconnected" and "closed".
    """

    def __init__(self, path: Optional[str] = None, *, name: str = "python", keepalive_ms: Optional[int] = None,
                 will: Optional[dict] = None, reconnect: bool = True, max_reconnect_attempts: Optional[int] = None,
                 reconnect_max_wait: float = 2.0, connect_timeout: float = 5.0, request_timeout: float = 5.0,
                 outage_buffer_bytes: int = 8 * 1024 * 1024, encoding: str = "cbor",
                 on_error: Optional[Callable[[UdsbusError], Any]] = None,
                 on_loss: Optional[Callable[[Loss], Any]] = None,
                 on_status: Optional[Callable[[str, dict], Any]] = None):
        self.path = path or default_socket_path()
        if encoding not in ("cbor", "json"):
            raise ValueError('encoding must be "cbor" or "json"')
        if encoding == "cbor":
            _need_cbor2()
        #: "cbor" (length-prefixed CBOR frames) or "json" (newline-delimited JSON, PROTOCOL §15).
        self.encoding = encoding
        self._codec = _JsonCodec() if encoding == "json" else _CborCodec()
        self.name = name
        self.keepalive_ms = keepalive_ms
        self.will = will
        self.reconnect = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_max_wait = reconnect_max_wait
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.outage_buffer_bytes = outage_buffer_bytes
        self.on_error = on_error or (lambda e: log.warning("udsbus: %s", e))
        self.on_loss = on_loss or (lambda l: log.warning("udsbus: %r", l))
        self.on_status = on_status or (lambda ev, info: None)

        #: From `welcome`: connection id, broker name, keepalive (ms), limits (§13).
        self.cid = ""
        self.server = ""
        self.keepalive = 30_000
        self.limits: Dict[str, int] = {}
        #: Counters for tests and diagnostics.
        self.stats = {"pings_received": 0, "pings_sent": 0, "reconnects": 0, "frames_in": 0, "frames_out": 0}

        self._lock = threading.RLock()     # state, maps
        self._wlock = threading.Lock()     # one writer at a time on the socket
        self._sock: Optional[socket.socket] = None
        self._gen = 0                      # connection generation; stale threads compare it
        self._state = "new"                # new | open | reconnecting | resubscribing | closed
        self._closing = threading.Event()
        self._fatal: Optional[UdsbusError] = None
        self._ids = itertools.count(1)
        self._sids = itertools.count(1)
        self._calls: Dict[int, _Call] = {}
        self._subs: Dict[int, Subscription] = {}
        self._outage: List[bytes] = []
        self._outage_bytes = 0
        self._last_rx = time.monotonic()
        self._reader_busy = False          # the reader waits for queue space: the broker is not silent
        self._dispatch_q: Optional[_queue.Queue] = None
        self._inbox = f"_INBOX.{secrets.token_hex(8)}"
        self._inbox_sub: Optional[Subscription] = None
        self._replies: Dict[str, List[Any]] = {}   # reply topic -> [event, Message|None]
        self._req_seq = itertools.count(1)
        self._keepalive_thread: Optional[threading.Thread] = None
        self._reconnect_running = False

    # ---------------------------------------------------------------- connection

    def connect(self) -> "Client":
        with self._lock:
            if self._state != "new":
                raise UdsbusError(6, "BAD_FRAME", "connect() called twice")
            self._open()
            self._keepalive_thread = threading.Thread(target=self._keepalive_loop, name="udsbus-keepalive", daemon=True)
            self._keepalive_thread.start()
        return self

    def _hello(self) -> dict:
        hello: Dict[str, Any] = {"op": "hello", "v": PROTOCOL_VERSION, "name": self.name}
        if not self._codec.json:
            # §7: each publisher's identity arrives once ("who"), then as a number ("fref").
            hello["fromRefs"] = True
        if self.keepalive_ms is not None:
            hello["keepalive"] = int(self.keepalive_ms)
        if self.will is not None:
            will = {"topic": self.will["topic"], "retain": bool(self.will.get("retain", False))}
            self._codec.set_payload(will, self.will.get("value", EMPTY))
            hello["will"] = will
        return hello

    def _open(self, state: str = "open") -> None:
        """Connects, says hello, waits for welcome, starts the reader. Raises on failure.

        After a reconnect the state is "resubscribing" until every subscription is back, so
        that publishes made meanwhile are buffered and keep their order.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.connect_timeout)
            sock.connect(self.path)
            self._refs: Dict[int, dict] = {}  # what each "fref" stands for on this connection
            sock.sendall(self._codec.frame_bytes(self._hello(), MAX_FRAME_BYTES))
            buf = bytearray()
            deadline = time.monotonic() + self.connect_timeout
            while True:
                f = self._codec.take_frame(buf, MAX_FRAME_BYTES)
                if f is not None:
                    break
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    raise DisconnectedError("broker closed the connection during the handshake")
                buf += chunk
            if f.get("op") == "err":
                raise UdsbusError.from_frame(f)
            if f.get("op") != "welcome":
                raise UdsbusError(6, "BAD_FRAME", f"expected welcome, got {f.get('op')!r}")
            sock.settimeout(None)
        except UdsbusError:
            sock.close()
            raise
        except socket.timeout as e:
            sock.close()
            raise RequestTimeoutError("no welcome within the connect timeout") from e
        except OSError as e:
            sock.close()
            raise DisconnectedError(f"cannot connect to {self.path}: {e}") from e
        except BaseException:
            sock.close()
            raise
        self.cid = _text(f.get("cid")) or ""
        self.server = _text(f.get("server")) or ""
        self.keepalive = _uint(f.get("keepalive")) or self.keepalive
        limits = f.get("limits")
        self.limits = {k: v for k, v in limits.items() if isinstance(k, str) and _uint(v) is not None} if isinstance(limits, dict) else {}
        with self._lock:
            if self._closing.is_set():  # close() ran while we were connecting
                sock.close()
                raise DisconnectedError("client closed")
            self._gen += 1
            self._sock = sock
            self._state = state
            self._fatal = None
            self._last_rx = time.monotonic()
            gen = self._gen
        threading.Thread(target=self._reader, args=(sock, gen, buf), name="udsbus-reader", daemon=True).start()

    @property
    def connected(self) -> bool:
        return self._state == "open"

    def _max_frame(self) -> int:
        return min(self.limits.get("maxFrameBytes", 1024 * 1024), MAX_FRAME_BYTES)

    def _send(self, frame: dict, buffer_if_down: bool = False, internal: bool = False) -> None:
        """Writes one frame. `buffer_if_down`: keep it for after a reconnect (plain publishes).
        `internal`: the client's own frames (re-subscriptions, pongs), allowed while resubscribing."""
        data = self._codec.frame_bytes(frame, self._max_frame())
        with self._lock:
            sock, state = self._sock, self._state
            writable = state == "open" or (internal and state == "resubscribing")
            if not writable or sock is None:
                if buffer_if_down and state in ("reconnecting", "resubscribing"):
                    if self._outage_bytes + len(data) > self.outage_buffer_bytes:
                        raise DisconnectedError("disconnected and the publish buffer is full")
                    self._outage.append(data)
                    self._outage_bytes += len(data)
                    return
                raise DisconnectedError("client is closed" if state == "closed" else "not connected")
        self._write(sock, data)

    def _write(self, sock: socket.socket, data: bytes) -> None:
        try:
            with self._wlock:
                sock.sendall(data)
            self.stats["frames_out"] += 1
        except OSError as e:
            self._connection_lost(sock, e)
            raise DisconnectedError(f"write failed: {e}") from e

    def _call(self, frame: dict, timeout: Optional[float], what: str,
              on_error: Optional[Callable[[UdsbusError], None]] = None) -> None:
        """Sends a frame with a fresh id and waits for its ok (or raises its err)."""
        call = _Call(on_error)
        with self._lock:
            fid = next(self._ids)
            self._calls[fid] = call
        try:
            self._send({**frame, "id": fid})
            call.wait(self.request_timeout if timeout is None else timeout, what)
        finally:
            with self._lock:
                self._calls.pop(fid, None)

    # ---------------------------------------------------------------- reading

    def _reader(self, sock: socket.socket, gen: int, buf: bytearray) -> None:
        err: Optional[BaseException] = None
        try:
            while True:
                while True:
                    f = self._codec.take_frame(buf, MAX_FRAME_BYTES)
                    if f is None:
                        break
                    self._last_rx = time.monotonic()
                    self.stats["frames_in"] += 1
                    self._handle(f)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                self._last_rx = time.monotonic()
                buf += chunk
        except UdsbusError as e:  # the broker broke the protocol: drop the connection
            err = e
            log.warning("udsbus: bad frame from broker: %s", e)
        except OSError as e:
            err = e
        self._connection_lost(sock, err)

    def _handle(self, f: dict) -> None:
        op = f.get("op")
        if op == "who":
            if isinstance(f.get("ref"), int) and isinstance(f.get("from"), dict):
                self._refs[f["ref"]] = f["from"]
            return
        if op == "forget":
            self._refs.pop(f.get("ref"), None)
            return
        if op == "msg" and "from" not in f and isinstance(f.get("fref"), int):
            f["from"] = self._refs.get(f["fref"])
        if op == "msg":
            sid = f.get("sid")
            if not isinstance(f.get("topic"), str) or not isinstance(sid, int):
                raise UdsbusError(6, "BAD_FRAME", "msg without sid/topic")
            if self._inbox_sub is not None and sid == self._inbox_sub.sid:
                self._reply_arrived(Message(f, self._codec.json))
                return
            sub = self._subs.get(sid)
            if sub is not None and not sub.closed:
                sub._put(Message(f, self._codec.json))
        elif op in ("ok", "pong"):
            fid = f.get("id")
            with self._lock:
                call = self._calls.get(fid) if isinstance(fid, int) else None
            if call is not None:
                call.resolve()
        elif op == "err":
            e = UdsbusError.from_frame(f)
            with self._lock:
                call = self._calls.get(e.id) if e.id is not None else None
                if e.fatal:
                    self._fatal = e
            if call is not None:
                call.resolve(e)
            else:
                self._report_error(e)
        elif op == "loss":
            sub = self._subs.get(f.get("sid"))  # type: ignore[arg-type]
            if sub is not None and not sub.closed:
                sub._put(Loss(f, sub.pattern))
        elif op == "ping":
            self.stats["pings_received"] += 1
            pong: Dict[str, Any] = {"op": "pong"}
            if "id" in f:
                pong["id"] = f["id"]
            try:
                self._send(pong, internal=True)
            except DisconnectedError:
                pass
        # Anything else (a later version's frame) is ignored, as §4 asks of receivers.

    def _report_error(self, e: UdsbusError) -> None:
        try:
            self.on_error(e)
        except Exception:
            log.exception("udsbus: on_error callback failed")

    def _blocking_put(self, q: "_queue.Queue", item: Any) -> None:
        """Reader thread: wait for queue space (backpressure), but not past close()."""
        try:
            q.put_nowait(item)
            return
        except _queue.Full:
            pass
        self._reader_busy = True
        try:
            while not self._closing.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except _queue.Full:
                    continue
        finally:
            self._reader_busy = False

    def _dispatch_put(self, sub: Subscription, item: Any) -> None:
        with self._lock:
            if self._dispatch_q is None:
                self._dispatch_q = _queue.Queue(maxsize=10_000)
                threading.Thread(target=self._dispatch_loop, args=(self._dispatch_q,), name="udsbus-dispatch", daemon=True).start()
            q = self._dispatch_q
        self._blocking_put(q, (sub, item))

    def _dispatch_loop(self, q: "_queue.Queue") -> None:
        while True:
            entry = q.get()
            if entry is _CLOSED:
                return
            sub, item = entry
            m = sub._consume(item)
            if m is None or sub.closed or sub._callback is None:
                continue
            try:
                sub._callback(m)
            except Exception:
                log.exception("udsbus: subscription callback for %s failed", sub.pattern)

    # ---------------------------------------------------------------- loss of the connection

    def _connection_lost(self, sock: socket.socket, err: Optional[BaseException]) -> None:
        with self._lock:
            if sock is not self._sock:
                return  # already handled, or an old connection
            self._sock = None
            fatal = self._fatal
            calls, self._calls = self._calls, {}
            replies, self._replies = self._replies, {}
            closing = self._closing.is_set()
            self._state = "closed" if closing or not self.reconnect else "reconnecting"
            start = self._state == "reconnecting" and not self._reconnect_running
            if start:
                self._reconnect_running = True
        _close_quietly(sock)
        why = fatal or err
        for call in calls.values():
            call.resolve(DisconnectedError(f"connection lost ({why or 'closed by the broker'})"))
        for waiter in replies.values():
            waiter[0].set()  # the requester finds no message and reports DISCONNECTED
        if closing:
            return
        self._status("disconnected", {"error": str(why) if why else None})
        if start:
            threading.Thread(target=self._reconnect_loop, name="udsbus-reconnect", daemon=True).start()
        elif not self.reconnect:
            self._finish_close()

    def _reconnect_loop(self) -> None:
        """The only thread that reconnects; it runs until the client is open again or gives up."""
        delay = 0.05
        attempt = 0
        while not self._closing.is_set():
            attempt += 1
            try:
                self._open("resubscribing")
                self._resubscribe()
            except (UdsbusError, OSError) as e:
                self._drop_half_open()
                if self.max_reconnect_attempts is not None and attempt >= self.max_reconnect_attempts:
                    log.warning("udsbus: giving up after %d reconnect attempts: %s", attempt, e)
                    with self._lock:
                        self._reconnect_running = False
                    self._finish_close()
                    return
                self._closing.wait(delay)
                delay = min(delay * 2, self.reconnect_max_wait)
                continue
            with self._lock:
                self._reconnect_running = False
                done = self._state == "open"
            if done:
                self.stats["reconnects"] += 1
                self._status("reconnected", {"cid": self.cid, "attempt": attempt})
                return
            with self._lock:  # lost again while finishing; we are still the reconnecting thread
                self._reconnect_running = True
        with self._lock:
            self._reconnect_running = False

    def _drop_half_open(self) -> None:
        with self._lock:
            sock = self._sock
            if sock is not None and self._state == "resubscribing":
                self._sock = None
                self._state = "reconnecting"
            else:
                sock = None
        if sock is not None:
            _close_quietly(sock)

    def _resubscribe(self) -> None:
        """Sends `sub` again for every live subscription (same sid), waits for the oks, then
        sends the publishes buffered during the outage and only then reopens the client."""
        gen = self._gen
        while True:
            with self._lock:
                if self._gen != gen or self._state != "resubscribing":
                    raise DisconnectedError("connection lost while re-subscribing")
                todo = [s for s in self._subs.values() if not s.closed and s._gen != gen]
                frames, self._outage, self._outage_bytes = self._outage, [], 0
                if not todo and not frames:
                    self._state = "open"
                    return
                sock = self._sock
            calls = []
            for sub in todo:
                sub._gen = gen
                call = _Call()
                with self._lock:
                    fid = next(self._ids)
                    self._calls[fid] = call
                self._send({**sub._frame, "id": fid}, internal=True)
                calls.append((fid, call, sub))
            for fid, call, sub in calls:
                try:
                    call.wait(self.connect_timeout, f"re-subscribe {sub.pattern}")
                except DisconnectedError:
                    raise
                except UdsbusError as e:  # e.g. the new broker has other limits: report, keep going
                    self._report_error(e)
                finally:
                    with self._lock:
                        self._calls.pop(fid, None)
            if sock is not None:
                for data in frames:
                    self._write(sock, data)

    def _status(self, event: str, info: dict) -> None:
        try:
            self.on_status(event, info)
        except Exception:
            log.exception("udsbus: on_status callback failed")

    # ---------------------------------------------------------------- keepalive

    def _keepalive_loop(self) -> None:
        outstanding: Optional[float] = None
        while True:
            ka = max(self.keepalive, 100) / 1000.0
            if self._closing.wait(min(ka / 4, 1.0)):
                return
            with self._lock:
                sock, state = self._sock, self._state
            if state != "open" or sock is None:
                outstanding = None
                continue
            if self._reader_busy:
                continue  # bytes are waiting in the socket; the broker is alive
            idle = time.monotonic() - self._last_rx
            if idle < ka:
                outstanding = None
                continue
            if outstanding is None:
                outstanding = time.monotonic()
                self.stats["pings_sent"] += 1
                try:
                    self._send({"op": "ping"})
                except DisconnectedError:
                    pass
            elif time.monotonic() - outstanding >= ka:
                outstanding = None
                with self._lock:
                    self._fatal = UdsbusError(36, "KEEPALIVE_TIMEOUT", "the broker stopped answering pings")
                self._connection_lost(sock, self._fatal)

    # ---------------------------------------------------------------- public API

    def publish(self, topic: str, value: Any = EMPTY, *, retain: bool = False, owned: bool = False,
                headers: Optional[Dict[str, str]] = None, reply: Optional[str] = None,
                wait: bool = False, timeout: Optional[float] = None) -> None:
        """Publishes `value` (CBOR-encoded; EMPTY for no value) to `topic` (§7).

        Without `wait`, the call returns once the frame is written (or buffered while
        reconnecting) and a broker error arrives later through `on_error`. With `wait=True` the
        frame carries an id and the call raises the broker's error (e.g. INVALID_TOPIC, code 20).
        """
        frame: Dict[str, Any] = {"op": "pub", "topic": topic}
        self._codec.set_payload(frame, value)
        if retain:
            frame["retain"] = True
        if owned:
            frame["owned"] = True
        if headers:
            frame["hdr"] = dict(headers)
        if reply is not None:
            frame["reply"] = reply
        if wait:
            self._call(frame, timeout, f"publish to {topic}")
        else:
            self._send(frame, buffer_if_down=True)

    def subscribe(self, pattern: str, callback: Optional[Callable[[Message], Any]] = None, *,
                  queue: Optional[str] = None, retained: bool = True, policy: Optional[str] = None,
                  max_msgs: Optional[int] = None, max_bytes: Optional[int] = None, pending: int = 10_000,
                  on_loss: Optional[Callable[[Loss], Any]] = None, timeout: Optional[float] = None) -> Subscription:
        """Subscribes and waits for the broker's ok, so retained messages are already queued and
        every later publish matches (§7 "no slow joiner", §9).

        With `callback`, messages are handed to it on the client's dispatcher thread; otherwise
        iterate the subscription. `policy`, `max_msgs`, `max_bytes` are the broker-side flow
        control of §10; `pending` bounds the local queue.
        """
        with self._lock:
            sid = next(self._sids)
        frame: Dict[str, Any] = {"op": "sub", "sid": sid, "pattern": pattern}
        if queue is not None:
            frame["queue"] = queue
        if not retained:
            frame["retained"] = False
        if policy is not None:
            frame["policy"] = policy
        if max_msgs is not None:
            frame["maxMsgs"] = int(max_msgs)
        if max_bytes is not None:
            frame["maxBytes"] = int(max_bytes)
        sub = Subscription(self, sid, pattern, frame, callback, pending, on_loss)
        with self._lock:
            if self._state == "closed":
                raise DisconnectedError("client is closed")
            self._subs[sid] = sub
            down = self._state != "open"
            sub._gen = self._gen
        if down:
            sub._gen = -1
            return sub  # sent with the others once the connection is back
        try:
            self._call(frame, timeout, f"subscribe {pattern}")
        except BaseException:
            with self._lock:
                self._subs.pop(sid, None)
            sub._end()
            raise
        return sub

    def _unsubscribe(self, sub: Subscription, timeout: Optional[float]) -> None:
        with self._lock:
            live = self._subs.pop(sub.sid, None) is not None
            open_ = self._state == "open"
        sub._end()
        if live and open_:
            try:
                self._call({"op": "unsub", "sid": sub.sid}, timeout, f"unsubscribe {sub.pattern}")
            except DisconnectedError:
                pass  # the broker forgets it with the connection

    def flush(self, timeout: Optional[float] = None) -> None:
        """Round trip: a ping with an id, answered by a pong once the broker processed all before it."""
        call = _Call()
        with self._lock:
            fid = next(self._ids)
            self._calls[fid] = call
        try:
            self.stats["pings_sent"] += 1
            self._send({"op": "ping", "id": fid})
            call.wait(self.request_timeout if timeout is None else timeout, "ping")
        finally:
            with self._lock:
                self._calls.pop(fid, None)

    def _ensure_inbox(self) -> None:
        with self._lock:
            if self._inbox_sub is not None:
                return
        sub = self.subscribe(f"{self._inbox}.>", lambda m: None, retained=False)
        with self._lock:
            if self._inbox_sub is None:
                self._inbox_sub = sub
                return
        sub.unsubscribe()

    def _reply_arrived(self, m: Message) -> None:
        with self._lock:
            waiter = self._replies.get(m.topic)
        if waiter is not None and waiter[1] is None:
            waiter[1] = m
            waiter[0].set()

    def request_message(self, topic: str, value: Any = EMPTY, *, timeout: Optional[float] = None,
                        headers: Optional[Dict[str, str]] = None) -> Message:
        """Request/reply (§8): returns the reply message as it came."""
        timeout = self.request_timeout if timeout is None else timeout
        self._ensure_inbox()
        reply_to = f"{self._inbox}.{next(self._req_seq)}"
        waiter: List[Any] = [threading.Event(), None]

        def failed(e: UdsbusError) -> None:  # NO_RESPONDERS (or any err for the pub) ends the wait now
            waiter[0].set()

        call = _Call(failed)
        with self._lock:
            self._replies[reply_to] = waiter
            fid = next(self._ids)
            self._calls[fid] = call
        try:
            frame: Dict[str, Any] = {"op": "pub", "topic": topic, "reply": reply_to, "id": fid}
            self._codec.set_payload(frame, value)
            if headers:
                frame["hdr"] = dict(headers)
            self._send(frame)
            waiter[0].wait(timeout)
            if waiter[1] is not None:
                return waiter[1]
            if call.error is not None:
                raise call.error
            if not waiter[0].is_set():
                raise RequestTimeoutError(f"no reply from {topic} within {timeout:g} s")
            raise DisconnectedError(f"connection lost while waiting for a reply from {topic}")
        finally:
            with self._lock:
                self._replies.pop(reply_to, None)
                self._calls.pop(fid, None)

    def request(self, topic: str, value: Any = EMPTY, *, timeout: Optional[float] = None,
                headers: Optional[Dict[str, str]] = None) -> Any:
        """Request/reply (§8) returning the result of the reply envelope.

        Raises NoRespondersError (40) at once when nothing serves `topic`, RequestTimeoutError
        (41) after `timeout` seconds, RemoteError for an `{ok: false}` reply. A reply without the
        envelope is returned unchanged.
        """
        return unwrap_reply(self.request_message(topic, value, timeout=timeout, headers=headers).value)

    def serve(self, pattern: str, handler: Callable[[Message], Any], *, queue: Optional[str] = "serve",
              **options: Any) -> Subscription:
        """Answers requests on `pattern` with the §8 envelope. `handler(msg)` returns the result
        or raises RemoteError (any other exception becomes code "internal").

        Like every udsbus client's serve, it joins the queue group "serve" unless told
        otherwise, so workers sharing a pattern share the requests, and skips retained messages.
        """
        options.setdefault("retained", False)

        def on_request(m: Message) -> None:
            hdr = None
            try:
                body = {"ok": True, "result": handler(m)}
                self._codec.set_payload({}, body)  # unencodable results become an error reply
            except RemoteError as e:
                err: Dict[str, Any] = {"code": e.code, "message": e.message}
                if e.data is not None:
                    err["data"] = e.data
                body, hdr = {"ok": False, "error": err}, {"status": "error"}
            except Exception as e:  # a bug in the handler; don't leave the requester waiting
                log.exception("udsbus: handler for %s failed", m.topic)
                body, hdr = {"ok": False, "error": {"code": "internal", "message": str(e) or type(e).__name__}}, {"status": "error"}
            if m.reply:
                try:
                    self.publish(m.reply, body, headers=hdr)
                except UdsbusError as e:
                    self._report_error(e)

        return self.subscribe(pattern, on_request, queue=queue, **options)

    def close(self, timeout: float = 2.0) -> None:
        """Says `bye` (the broker flushes our queue, publishes no will) and closes."""
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
            sock, open_ = self._sock, self._state == "open"
        if sock is not None and open_:
            try:
                with self._wlock:
                    sock.sendall(self._codec.frame_bytes({"op": "bye"}, MAX_FRAME_BYTES))
                # The broker closes after flushing; wait for that (bounded), then close ourselves.
                deadline = time.monotonic() + timeout
                while self._sock is sock and time.monotonic() < deadline:
                    time.sleep(0.01)
            except OSError:
                pass
        with self._lock:
            sock, self._sock = self._sock, None
            calls, self._calls = self._calls, {}
            self._state = "closed"
        if sock is not None:
            _close_quietly(sock)
        for call in calls.values():
            call.resolve(DisconnectedError("client closed"))
        self._finish_close()

    def _finish_close(self) -> None:
        with self._lock:
            self._closing.set()
            self._state = "closed"
            subs, self._subs = list(self._subs.values()), {}
            dq = self._dispatch_q
        for s in subs:
            s._end()
        if dq is not None:
            try:
                dq.put_nowait(_CLOSED)
            except _queue.Full:
                pass
        self._status("closed", {})

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def unwrap_reply(value: Any) -> Any:
    """The §8 envelope: a map whose `ok` is a boolean. `{ok: true, result}` -> result (None if
    absent); `{ok: false, error: {code, message, data}}` -> RemoteError. Anything else is
    returned unchanged."""
    if isinstance(value, dict) and isinstance(value.get("ok"), bool):
        if value["ok"]:
            return value.get("result")
        err = value.get("error")
        err = err if isinstance(err, dict) else {}
        code, message = err.get("code"), err.get("message")
        raise RemoteError(code if isinstance(code, str) else "internal",
                          message if isinstance(message, str) else "", err.get("data"))
    return value


# ---------------------------------------------------------------------------------- framing

class _CborCodec:
    """Length-prefixed CBOR frames (§2); payloads are CBOR bytes."""

    json = False

    def set_payload(self, frame: dict, value: Any) -> None:
        frame["payload"] = encode_value(value)

    def frame_bytes(self, frame: dict, max_frame: int) -> bytes:
        return _frame_bytes(frame, max_frame)

    def take_frame(self, buf: bytearray, max_frame: int) -> Optional[dict]:
        return _take_frame(buf, max_frame)


class _JsonCodec:
    """Newline-delimited JSON frames (§15); payloads are JSON values, bytes as {"$bytes": hex},
    no payload key for an empty payload."""

    json = True

    def set_payload(self, frame: dict, value: Any) -> None:
        if value is EMPTY:
            frame.pop("payload", None)
            return
        payload = _to_json(value)
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise UdsbusError(4, "UNSUPPORTED_CBOR", f"cannot send this payload as JSON: {e}") from e
        frame["payload"] = payload

    def frame_bytes(self, frame: dict, max_frame: int) -> bytes:
        line = json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        if len(line) > max_frame:
            raise UdsbusError(2, "FRAME_TOO_LARGE", f"{len(line)} bytes; the broker allows {max_frame}")
        return line + b"\n"

    def take_frame(self, buf: bytearray, max_frame: int) -> Optional[dict]:
        while True:
            i = buf.find(b"\n")
            if i < 0:
                if len(buf) > max_frame:
                    raise UdsbusError(2, "FRAME_TOO_LARGE", f"line longer than {max_frame} bytes")
                return None
            line = bytes(buf[:i]).rstrip(b"\r")
            del buf[:i + 1]
            if line.strip():
                break
        try:
            f = json.loads(line)
        except ValueError as e:
            raise UdsbusError(6, "BAD_FRAME", f"not JSON: {e}") from e
        if not isinstance(f, dict) or not isinstance(f.get("op"), str):
            raise UdsbusError(6, "BAD_FRAME", "frame is not an object with a text op")
        if "payload" in f:
            f["payload"] = _from_json(f["payload"])
        return f


def _to_json(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_json(x) for x in v]
    return v


def _from_json(v: Any) -> Any:
    if isinstance(v, dict):
        if len(v) == 1 and isinstance(v.get("$bytes"), str):
            try:
                return bytes.fromhex(v["$bytes"])
            except ValueError:
                return v
        return {k: _from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    return v


def _frame_bytes(frame: dict, max_frame: int) -> bytes:
    body = cbor2.dumps(frame)
    if len(body) > max_frame:
        raise UdsbusError(2, "FRAME_TOO_LARGE", f"{len(body)} bytes; the broker allows {max_frame}")
    return struct.pack(">I", len(body)) + body


def _take_frame(buf: bytearray, max_frame: int) -> Optional[dict]:
    """Removes and decodes one whole frame from the front of buf; None if it is not all there."""
    if len(buf) < 4:
        return None
    (n,) = struct.unpack_from(">I", buf)
    if n == 0:
        raise UdsbusError(6, "BAD_FRAME", "zero-length frame")
    if n > max_frame:  # checked before waiting for the body (§2)
        raise UdsbusError(2, "FRAME_TOO_LARGE", f"frame of {n} bytes")
    if len(buf) < 4 + n:
        return None
    body = bytes(buf[4:4 + n])
    del buf[:4 + n]
    check_portable(body)
    try:
        f = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError) as e:
        raise UdsbusError(3, "BAD_CBOR", str(e)) from e
    if not isinstance(f, dict) or not isinstance(f.get("op"), str):
        raise UdsbusError(6, "BAD_FRAME", "frame is not a map with a text op")
    return f


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
