package udsbus

import (
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestCheckPortable(t *testing.T) {
	cases := []struct {
		hex  string
		code int // 0: accepted
	}{
		{"a1616101", 0},                       // {"a": 1}
		{"f7", 0},                             // undefined
		{"f93c00", 0},                         // float16 1.0
		{"1b0000010000000000", 0},             // 2^40
		{"c11a514b67b0", CodeUnsupportedCBOR}, // tag 1 (epoch time)
		{"5f4101ff", CodeUnsupportedCBOR},     // indefinite byte string
		{"ff", CodeUnsupportedCBOR},           // break
		{"f0", CodeUnsupportedCBOR},           // simple value 16
		{"f820", CodeUnsupportedCBOR},         // simple value 32 (one-byte form)
		{"1c", CodeBadCBOR},                   // reserved additional information
		{"a16161", CodeBadCBOR},               // map runs past the end
		{"6261", CodeBadCBOR},                 // string runs past the end
		{"0101", CodeBadCBOR},                 // trailing bytes
		{"9bffffffffffffffff", CodeBadCBOR},   // absurd length, no allocation
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		err := checkPortable(b, 32)
		var e *Error
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: unexpected %v", c.hex, err)
		case c.code != 0 && (!errors.As(err, &e) || e.Code != c.code):
			t.Errorf("%s: got %v, want code %d", c.hex, err, c.code)
		}
	}
	deep := make([]byte, 0, 40)
	for i := 0; i < 33; i++ {
		deep = append(deep, 0x81) // [[[ … ]]]
	}
	deep = append(deep, 0x01)
	if err := checkPortable(deep, 32); !errors.Is(err, &Error{Code: CodeTooDeep}) {
		t.Errorf("33 levels: got %v", err)
	}
	if err := checkPortable(deep[1:], 32); err != nil {
		t.Errorf("32 levels: %v", err)
	}
}

func TestEncodeValue(t *testing.T) {
	if b, _ := encodeValue(NoValue); len(b) != 0 {
		t.Errorf("NoValue: %x", b)
	}
	if b, _ := encodeValue(nil); hex.EncodeToString(b) != "f6" {
		t.Errorf("nil: %x", b)
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	if _, err := encodeValue(huge); !errors.Is(err, ErrUnsupportedCBOR) {
		t.Errorf("2^70 must be refused (it needs a bignum tag): %v", err)
	}
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	b, err := encodeValue(ts)
	if err != nil || hex.EncodeToString(b) != "74"+hex.EncodeToString([]byte("2024-05-01T12:00:00Z")) {
		t.Errorf("time.Time as RFC 3339 text: %x %v", b, err)
	}
}

func TestUnwrapReply(t *testing.T) {
	reply := func(v any) *Msg {
		b, err := encodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		return &Msg{Payload: b}
	}
	var out map[string]any
	if err := UnwrapReply(reply(map[string]any{"ok": true, "result": map[string]any{"uri": "rtsp://x"}}), &out); err != nil || out["uri"] != "rtsp://x" {
		t.Errorf("ok: %v %v", out, err)
	}
	err := UnwrapReply(reply(map[string]any{"ok": false, "error": map[string]any{"code": "not-found", "message": "no", "data": 7}}), nil)
	var remote *RemoteError
	if !errors.As(err, &remote) || remote.Code != "not-found" || remote.Message != "no" || remote.Data != uint64(7) {
		t.Errorf("error envelope: %#v", err)
	}
	if err := UnwrapReply(reply(map[string]any{"ok": false}), nil); !errors.As(err, &remote) || remote.Code != "internal" {
		t.Errorf("bare failure: %#v", err)
	}
	var s string
	if err := UnwrapReply(reply("plain"), &s); err != nil || s != "plain" {
		t.Errorf("no envelope: %q %v", s, err)
	}
	var m map[string]any
	if err := UnwrapReply(reply(map[string]any{"ok": "yes", "n": 1}), &m); err != nil || m["ok"] != "yes" {
		t.Errorf("ok that is not a boolean is not an envelope: %v %v", m, err)
	}
}
