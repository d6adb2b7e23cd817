"""Unit tests of the parts of udsbus.py that need no broker: /usr/bin/python3 -m unittest test_udsbus"""
import datetime
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import udsbus  # noqa: E402


class CheckPortable(unittest.TestCase):
    def code(self, hexstr, nesting=32):
        try:
            udsbus.check_portable(bytes.fromhex(hexstr), nesting)
        except udsbus.UdsbusError as e:
            return e.code
        return 0

    def test_accepts_the_subset(self):
        for h in ("a1616101", "f7", "f93c00", "fb3ff8000000000000", "1b0000010000000000", "3b000000ffffffffff", "40", "60"):
            self.assertEqual(self.code(h), 0, h)

    def test_rejects_everything_else(self):
        cases = {
            "c11a514b67b0": 4,  # tag 1
            "5f4101ff": 4,      # indefinite byte string
            "ff": 4,            # break
            "f0": 4,            # simple value 16
            "f820": 4,          # one-byte simple value
            "1c": 3,            # reserved additional information
            "a16161": 3,        # map runs past the end
            "6261": 3,          # string runs past the end
            "0101": 3,          # trailing bytes
            "9bffffffffffffffff": 3,  # absurd length: refused without allocating
        }
        for h, code in cases.items():
            self.assertEqual(self.code(h), code, h)

    def test_nesting(self):
        self.assertEqual(self.code("81" * 32 + "01"), 0)
        self.assertEqual(self.code("81" * 33 + "01"), 5)


class Values(unittest.TestCase):
    def test_empty_and_null(self):
        self.assertEqual(udsbus.encode_value(udsbus.EMPTY), b"")
        self.assertEqual(udsbus.encode_value(None), b"\xf6")
        self.assertIsNone(udsbus.decode_value(b""))

    def test_values_that_become_tags_are_refused_before_sending(self):
        for v in (datetime.datetime.now(datetime.timezone.utc), {1, 2}, 2**70):
            with self.assertRaises(udsbus.UdsbusError) as cm:
                udsbus.encode_value(v)
            self.assertEqual((cm.exception.code, cm.exception.name), (4, "UNSUPPORTED_CBOR"))


class Envelope(unittest.TestCase):
    def test_rules(self):
        self.assertEqual(udsbus.unwrap_reply({"ok": True, "result": {"uri": "x"}}), {"uri": "x"})
        self.assertIsNone(udsbus.unwrap_reply({"ok": True}))
        self.assertEqual(udsbus.unwrap_reply("plain"), "plain")
        self.assertEqual(udsbus.unwrap_reply({"ok": "yes"}), {"ok": "yes"})
        with self.assertRaises(udsbus.RemoteError) as cm:
            udsbus.unwrap_reply({"ok": False, "error": {"code": "not-found", "message": "no", "data": 7}})
        self.assertEqual((cm.exception.code, cm.exception.message, cm.exception.data), ("not-found", "no", 7))
        with self.assertRaises(udsbus.RemoteError) as cm:
            udsbus.unwrap_reply({"ok": False})
        self.assertEqual(cm.exception.code, "internal")


class Framing(unittest.TestCase):
    def test_frames_split_anywhere(self):
        data = udsbus._frame_bytes({"op": "ok", "id": 1}, 1 << 20) * 2
        buf = bytearray()
        got = []
        for b in data:
            buf.append(b)
            f = udsbus._take_frame(buf, 1 << 20)
            if f is not None:
                got.append(f)
        self.assertEqual(got, [{"op": "ok", "id": 1}] * 2)

    def test_length_checked_before_the_body(self):
        with self.assertRaises(udsbus.UdsbusError) as cm:
            udsbus._take_frame(bytearray(struct.pack(">I", 1 << 24)), udsbus.MAX_FRAME_BYTES)
        self.assertEqual(cm.exception.name, "FRAME_TOO_LARGE")
        with self.assertRaises(udsbus.UdsbusError) as cm:
            udsbus._take_frame(bytearray(b"\0\0\0\0"), udsbus.MAX_FRAME_BYTES)
        self.assertEqual(cm.exception.name, "BAD_FRAME")

    def test_errors_carry_code_and_name(self):
        e = udsbus.UdsbusError.from_frame({"op": "err", "code": 40, "name": "NO_RESPONDERS", "text": "x", "id": 3})
        self.assertIsInstance(e, udsbus.NoRespondersError)
        self.assertEqual((e.code, e.name, e.id, e.fatal), (40, "NO_RESPONDERS", 3, False))
        self.assertIsInstance(udsbus.RequestTimeoutError(), TimeoutError)
        self.assertEqual(udsbus.UdsbusError(77).name, "E77")


if __name__ == "__main__":
    unittest.main()
