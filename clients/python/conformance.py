#!/usr/bin/python3
"""Conformance scenario driver for the Python client (see test/conformance.test.ts).

    UDSBUS_SOCKET=/path/bus.sock /usr/bin/python3 conformance.py <scenario>
    UDSBUS_SOCKET=/path/bus.sock UDSBUS_ENCODING=json python3 conformance.py <scenario>   # JSON mode

Connects, performs one named scenario and prints JSON lines ({"event": ...}) for the test to
check. The other side of each scenario (publisher, server, broker restarts) is the test itself.
Every wait is bounded; exit status 0 after {"event": "done"}, 1 after {"event": "fatal"}.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import udsbus  # noqa: E402

ENCODING = os.environ.get("UDSBUS_ENCODING", "cbor")
LANG = "python" if ENCODING == "cbor" else f"python-{ENCODING}"
WAIT = 10.0
_out = threading.Lock()


def emit(event, **fields):
    with _out:
        sys.stdout.write(json.dumps({"event": event, **fields}, default=jsonable) + "\n")
        sys.stdout.flush()


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if udsbus.cbor2 is not None and v is udsbus.cbor2.undefined:
        return None
    raise TypeError(f"not JSON: {type(v)}")


def msg_line(m, sub):
    return dict(sub=sub, topic=m.topic, seq=m.seq, retained=m.retained, empty=m.empty,
                value=None if m.empty else m.value, lostBefore=m.lost_before,
                fromName=(m.origin or {}).get("name"))


def error_line(step, e, t0=None):
    fields = dict(step=step, code=e.code, name=e.name, fatal=e.fatal)
    if t0 is not None:
        fields["ms"] = round((time.monotonic() - t0) * 1000)
    emit("error", **fields)


def sample_value():
    return {"from": LANG, "n": -5, "u": 2**32 - 1, "f": 1.5, "s": "ünïcødé ✓", "b": bytes([0, 1, 2, 255]),
            "l": [1, "two", None, False, True], "m": {"nested": {"deep": []}}}


def connect(**kw):
    errors = []
    kw.setdefault("on_error", lambda e: (errors.append(e), emit("async-error", code=e.code, name=e.name, fatal=e.fatal)))
    bus = udsbus.connect(name=f"conformance-{LANG}", encoding=ENCODING, **kw)
    emit("connected", cid=bus.cid, keepalive=bus.keepalive, limits=bus.limits)
    return bus, errors


def need(m, what):
    if m is None:
        raise RuntimeError(f"timed out waiting for {what}")
    return m


# ------------------------------------------------------------------------------- scenarios

def pubsub():
    bus, _ = connect()
    a = bus.subscribe("conf.ps.*.motion")
    b = bus.subscribe("conf.ps.>")
    emit("ready")
    while True:
        m = need(b.next(WAIT), "conf.ps.done on B")
        emit("msg", **msg_line(m, "B"))
        if m.topic == "conf.ps.done":
            break
    for m in a.messages(idle_timeout=0.3):
        emit("msg", **msg_line(m, "A"))
    bus.publish("conf.ps.back.value", sample_value(), wait=True)
    bus.publish("conf.ps.back.empty", wait=True)
    emit("published")
    bus.close()


def retained():
    bus, _ = connect()
    s = bus.subscribe("conf.ret.*")
    for m in s.messages(idle_timeout=0.3):
        emit("msg", **msg_line(m, "S"))
    n = bus.subscribe("conf.ret.*", retained=False)
    emit("count", sub="N", count=0 if n.next(0.2) is None else 1)
    bus.publish("conf.ret.d", {"n": 4, "from": LANG}, retain=True, wait=True)
    bus.publish("conf.ret.a", retain=True, wait=True)  # empty + retain clears it
    for _ in range(2):
        emit("msg", **msg_line(need(s.next(WAIT), "own publish"), "S"))
    emit("published")
    bus.close()


def request():
    bus, _ = connect()
    emit("reply", step="echo", value=bus.request("conf.svc.echo", {"x": 1, "s": "hi"}, timeout=WAIT))
    try:
        bus.request("conf.svc.fail", {}, timeout=WAIT)
        emit("unexpected", step="fail")
    except udsbus.RemoteError as e:
        emit("remote-error", step="fail", code=e.code, message=e.message, data=e.data)
    emit("reply", step="raw", value=bus.request("conf.svc.raw", {}, timeout=WAIT))
    emit("reply", step="bare", value=bus.request("conf.svc.bare", {}, timeout=WAIT))
    for step, topic, timeout in (("silent", "conf.svc.silent", 0.3), ("nobody", "conf.svc.nobody", 5.0)):
        t0 = time.monotonic()
        try:
            bus.request(topic, {}, timeout=timeout)
            emit("unexpected", step=step)
        except udsbus.UdsbusError as e:
            error_line(step, e, t0)
    results = [None] * 5

    def one(i):
        results[i] = bus.request("conf.svc.echo", {"i": i}, timeout=WAIT)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    emit("parallel", values=sorted(r["i"] for r in results if r is not None))
    bus.close()


def serve():
    bus, _ = connect()
    stop = threading.Event()

    def handler(m):
        action = m.topic.rsplit(".", 1)[-1]
        if action == "add":
            return {"sum": m.value["a"] + m.value["b"]}
        if action == "fail":
            raise udsbus.RemoteError("invalid-argument", "bad input", {"field": "a"})
        if action == "boom":
            raise RuntimeError("kaput")
        if action == "stop":
            stop.set()
            return "bye"
        raise udsbus.RemoteError("not-found", f"no action {action}")

    bus.serve("conf.rpc.*", handler, queue="conf-workers")
    emit("ready")
    if not stop.wait(WAIT * 2):
        raise RuntimeError("never asked to stop")
    bus.flush()
    bus.close()


def errors():
    bus, async_errors = connect()
    cid = bus.cid
    steps = [
        ("pub-invalid-topic", lambda: bus.publish("conf.bad..topic", 1, wait=True)),
        ("sub-invalid-pattern", lambda: bus.subscribe("conf.>.x")),
        ("pub-reserved-topic", lambda: bus.publish("$SYS.x", 1, wait=True)),
        ("pub-topic-too-long", lambda: bus.publish("conf." + "a" * 300, 1, wait=True)),
    ]
    for step, fn in steps:
        try:
            fn()
            emit("unexpected", step=step)
        except udsbus.UdsbusError as e:
            error_line(step, e)
    bus.publish("conf.*.x", 1)  # no id: the error arrives on its own (on_error)
    bus.flush()
    bus.publish("conf.err.ok", 1, wait=True)
    emit("still-connected", cid=bus.cid, sameCid=bus.cid == cid, asyncErrors=len(async_errors))
    bus.close()


def loss():
    total = 200
    bus, _ = connect()
    losses = []
    s = bus.subscribe("conf.loss.>", policy="drop-newest", max_msgs=1, pending=1,
                      on_loss=lambda l: losses.append(l))
    emit("ready")
    time.sleep(1.0)  # not reading: the local queue (1) fills, the reader waits, the broker drops
    delivered, seqs = 0, []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and delivered + sum(l.lost for l in losses) < total:
        m = s.next(0.5)
        if m is not None:
            delivered += 1
            seqs.append(m.seq)
    for l in losses:
        emit("loss", lost=l.lost, policy=l.policy, lastSeq=l.last_seq)
    max_seq = max(seqs + [l.last_seq for l in losses] + [0])
    emit("summary", delivered=delivered, lost=sum(l.lost for l in losses), maxSeq=max_seq,
         ordered=all(x < y for x, y in zip(seqs, seqs[1:])), subLost=s.lost)
    bus.close()


def keepalive():
    bus, _ = connect(keepalive_ms=600)
    cid = bus.cid
    ticks = bus.subscribe("conf.ka.>")
    emit("ready")
    # While the test publishes ticks we hear the broker all the time and never ping; we send
    # nothing, so the broker pings us and we must answer.
    n = 0
    while need(ticks.next(WAIT), "conf.ka.end").topic != "conf.ka.end":
        n += 1
    during = bus.stats["pings_received"]
    time.sleep(1.5)  # idle both ways
    bus.flush()
    emit("alive", cid=bus.cid, sameCid=bus.cid == cid, ticks=n, pingsDuringTicks=during,
         pingsReceived=bus.stats["pings_received"], reconnects=bus.stats["reconnects"])
    bus.close()


def wideints():
    bus, _ = connect()
    s = bus.subscribe("conf.wi.in")
    emit("ready")
    m = need(s.next(WAIT), "conf.wi.in")
    emit("msg", **msg_line(m, "S"), payloadHex=None if m.payload is None else m.payload.hex())
    bus.publish("conf.wi.back", {"big": 2**40, "neg": -(2**40), "max": 2**53 - 1}, wait=True)
    emit("published")
    bus.close()


def reconnect():
    statuses = []
    reconnected = threading.Event()

    def on_status(event, info):
        statuses.append(event)
        if event == "disconnected":
            emit("disconnected")
        elif event == "reconnected":
            emit("reconnected", cid=info["cid"])
            reconnected.set()

    bus, _ = connect(on_status=on_status, reconnect_max_wait=0.2)
    s = bus.subscribe("conf.rc.>")
    emit("ready")
    emit("msg", **msg_line(need(s.next(WAIT), "conf.rc.before"), "S"))
    if not reconnected.wait(WAIT * 2):
        raise RuntimeError("never reconnected")
    emit("msg", **msg_line(need(s.next(WAIT), "conf.rc.after"), "S"))
    bus.publish("conf.rc.back", {"from": LANG}, wait=True)
    emit("published")
    bus.close()


def backoff():
    reconnected = threading.Event()

    def on_status(event, info):
        if event == "disconnected":
            emit("disconnected")
        elif event == "reconnected":
            emit("reconnected", cid=info["cid"])
            reconnected.set()

    bus, _ = connect(on_status=on_status, reconnect_max_wait=0.2)
    emit("ready")
    # The test lets every attempt fail for a while (counting them), then starts a broker.
    if not reconnected.wait(WAIT * 2):
        raise RuntimeError("never reconnected")
    bus.close()


SCENARIOS = {f.__name__: f for f in (pubsub, retained, request, serve, errors, loss, keepalive, wideints, reconnect, backoff)}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.stderr.write(f"usage: conformance.py <{'|'.join(SCENARIOS)}>\n")
        return 2
    try:
        SCENARIOS[sys.argv[1]]()
    except Exception as e:  # report, don't hide: the test prints it
        emit("fatal", error=f"{type(e).__name__}: {e}")
        return 1
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
