package udsbus

import (
	"encoding/binary"
	"reflect"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// maxFrameBytes is the protocol's absolute cap (§2): frame lengths are below 16 MiB.
const maxFrameBytes = 16*1024*1024 - 1

var (
	// Payload and frame encoding: the portable subset (§3). time.Time becomes RFC 3339 text,
	// as the camera schemas want; big.Int or cbor.Tag values are caught by checkPortable.
	encMode cbor.EncMode
	// Decoding: no indefinite lengths, no tags, maps of text keys as map[string]any.
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, IndefLength: cbor.IndefLengthForbidden}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		IndefLength:     cbor.IndefLengthForbidden,
		TagsMd:          cbor.TagsForbidden,
		MaxNestedLevels: 64, // checkPortable enforces the broker's maxNesting first
		DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// checkPortable returns an *Error unless b is exactly one CBOR item of the portable subset
// (§3), at most maxNesting deep. Run on everything from the broker before decoding it, and on
// encoded payloads before sending them.
func checkPortable(b []byte, maxNesting int) error {
	n := uint64(len(b))
	var pos uint64
	todo := []uint64{1} // items still to read per open level; len(todo)-1 is the depth
	for len(todo) > 0 {
		top := len(todo) - 1
		if todo[top] == 0 {
			todo = todo[:top]
			continue
		}
		todo[top]--
		if pos >= n {
			return newError(CodeBadCBOR, "item runs past the end of the frame")
		}
		ib := b[pos]
		pos++
		major, info := ib>>5, ib&0x1f
		var arg uint64
		switch {
		case info < 24:
			arg = uint64(info)
		case info <= 27:
			size := uint64(1) << (info - 24)
			if pos+size > n {
				return newError(CodeBadCBOR, "truncated argument")
			}
			switch size {
			case 1:
				arg = uint64(b[pos])
			case 2:
				arg = uint64(binary.BigEndian.Uint16(b[pos:]))
			case 4:
				arg = uint64(binary.BigEndian.Uint32(b[pos:]))
			default:
				arg = binary.BigEndian.Uint64(b[pos:])
			}
			pos += size
		case info == 31:
			return newError(CodeUnsupportedCBOR, "indefinite length or break byte")
		default:
			return newError(CodeBadCBOR, "reserved additional information")
		}
		switch major {
		case 0, 1:
		case 2, 3:
			if arg > n-pos {
				return newError(CodeBadCBOR, "string runs past the end of the frame")
			}
			pos += arg
		case 4, 5:
			count := arg
			if major == 5 {
				if arg > n {
					return newError(CodeBadCBOR, "map runs past the end of the frame")
				}
				count = arg * 2
			}
			if count > n-pos { // every item takes at least one byte
				return newError(CodeBadCBOR, "container runs past the end of the frame")
			}
			if len(todo) > maxNesting {
				return newError(CodeTooDeep, "nesting deeper than the limit")
			}
			todo = append(todo, count)
		case 6:
			return newError(CodeUnsupportedCBOR, "tags are not allowed")
		default: // 7
			switch info {
			case 20, 21, 22, 23, 25, 26, 27: // false true null undefined, float16/32/64
			default:
				return newError(CodeUnsupportedCBOR, "reserved simple value")
			}
		}
	}
	if pos != n {
		return newError(CodeBadCBOR, "trailing bytes after the item")
	}
	return nil
}

type noValue struct{}

// NoValue publishes an empty payload ("no value", §7); with Retain it clears the topic's
// retained message (§9). A nil value is different: it is sent as CBOR null.
var NoValue = noValue{}

// RawPayload is sent as is: bytes that already hold one CBOR item of the portable subset.
type RawPayload []byte

func encodeValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case noValue:
		return []byte{}, nil
	case RawPayload:
		if len(x) == 0 {
			return []byte{}, nil
		}
		if err := checkPortable(x, 32); err != nil {
			return nil, err
		}
		return []byte(x), nil
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, wrapError(CodeUnsupportedCBOR, "cannot encode payload: "+err.Error(), err)
	}
	if err := checkPortable(b, 32); err != nil {
		return nil, err
	}
	return b, nil
}

// Msg is one delivery (a msg frame).
type Msg struct {
	Sid      uint64
	Seq      uint64 // 1, 2, … per subscription; 0 for retained replays; restarts after a reconnect
	Topic    string
	Payload  []byte // the CBOR bytes; empty means "no value"
	Retained bool
	Reply    string
	Header   map[string]string
	// From is who published, stamped by the broker (§7); nil on the broker's own messages.
	From *Origin
	// LostBefore counts messages the broker dropped for this subscription just before this one.
	LostBefore uint64
}

// Empty reports a zero-length payload (e.g. a cleared retained message).
func (m *Msg) Empty() bool { return len(m.Payload) == 0 }

// Decode unmarshals the payload into v (a pointer), like json.Unmarshal. Structs match CBOR
// map keys by their `cbor` or `json` tags.
func (m *Msg) Decode(v any) error {
	if m.Empty() {
		return newError(CodeBadFrame, "empty payload")
	}
	return decodeInto(m.Payload, v)
}

// Value decodes the payload into Go values (map[string]any, []any, uint64/int64, float64,
// string, []byte, bool, nil); nil for an empty payload.
func (m *Msg) Value() (any, error) {
	if m.Empty() {
		return nil, nil
	}
	var v any
	err := decodeInto(m.Payload, &v)
	return v, err
}

func decodeInto(b []byte, v any) error {
	if err := checkPortable(b, 32); err != nil {
		return err
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return wrapError(CodeBadCBOR, err.Error(), err)
	}
	return nil
}

// Origin identifies a publisher: its connection id and self-chosen name, and the kernel's view
// of its uid/gid/pid for Unix-socket clients (Anonymous for TCP clients).
type Origin struct {
	Cid       string `cbor:"cid"`
	Name      string `cbor:"name"`
	UID       *int64 `cbor:"uid"`
	GID       *int64 `cbor:"gid"`
	PID       *int64 `cbor:"pid"`
	Anonymous bool   `cbor:"anonymous"`
}

// Loss is a loss notice (§10): Lost messages for subscription Sid were dropped by its policy;
// the last of them had sequence number LastSeq.
type Loss struct {
	Sid     uint64
	Pattern string
	Lost    uint64
	Policy  string
	LastSeq uint64
}

// inFrame holds every field a broker frame may carry; unknown keys are ignored (§4).
type inFrame struct {
	Op        string            `cbor:"op"`
	ID        *uint64           `cbor:"id"`
	Sid       uint64            `cbor:"sid"`
	Seq       uint64            `cbor:"seq"`
	Topic     string            `cbor:"topic"`
	Payload   []byte            `cbor:"payload"`
	Retained  bool              `cbor:"retained"`
	Reply     string            `cbor:"reply"`
	Hdr       map[string]string `cbor:"hdr"`
	From      *Origin           `cbor:"from"`
	Fref      *uint64           `cbor:"fref"` // §7: from by reference, told by a "who" frame
	Ref       uint64            `cbor:"ref"`
	Code      int               `cbor:"code"`
	Name      string            `cbor:"name"`
	Text      string            `cbor:"text"`
	Fatal     bool              `cbor:"fatal"`
	Lost      uint64            `cbor:"lost"`
	Policy    string            `cbor:"policy"`
	LastSeq   uint64            `cbor:"lastSeq"`
	V         uint64            `cbor:"v"`
	Cid       string            `cbor:"cid"`
	Server    string            `cbor:"server"`
	Keepalive uint64            `cbor:"keepalive"`
	Limits    map[string]any    `cbor:"limits"`
}

func (f *inFrame) err() *Error {
	name := f.Name
	if name == "" {
		name = ErrorName(f.Code)
	}
	e := &Error{Code: f.Code, Name: name, Text: f.Text, Fatal: f.Fatal, Sid: f.Sid}
	if f.ID != nil {
		e.ID = *f.ID
	}
	return e
}

func decodeFrame(body []byte, maxNesting int) (*inFrame, error) {
	if err := checkPortable(body, maxNesting); err != nil {
		return nil, err
	}
	var f inFrame
	if err := decMode.Unmarshal(body, &f); err != nil {
		return nil, wrapError(CodeBadFrame, err.Error(), err)
	}
	if f.Op == "" {
		return nil, newError(CodeBadFrame, "frame without op")
	}
	return &f, nil
}

func encodeFrame(frame map[string]any, maxFrame int) ([]byte, error) {
	body, err := encMode.Marshal(frame)
	if err != nil {
		return nil, wrapError(CodeUnsupportedCBOR, err.Error(), err)
	}
	if len(body) > maxFrame {
		return nil, newError(CodeFrameTooLarge, "frame larger than the broker's maxFrameBytes")
	}
	out := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(out, uint32(len(body)))
	copy(out[4:], body)
	return out, nil
}

// durationMs converts a keepalive in ms from the wire.
func durationMs(ms uint64) time.Duration { return time.Duration(ms) * time.Millisecond }
