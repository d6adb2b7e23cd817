package udsbus

import (
	"errors"
	"fmt"
)

// Protocol error codes (PROTOCOL.md §12). Codes never change meaning; an unknown code is a
// generic error.
const (
	CodeBadPreamble          = 1
	CodeFrameTooLarge        = 2
	CodeBadCBOR              = 3
	CodeUnsupportedCBOR      = 4
	CodeTooDeep              = 5
	CodeBadFrame             = 6
	CodeUnknownOp            = 7
	CodeHandshakeRequired    = 8
	CodeUnsupportedVersion   = 9
	CodeHandshakeTimeout     = 10
	CodeInvalidTopic         = 20
	CodeInvalidPattern       = 21
	CodeTopicTooLong         = 22
	CodeTopicTooDeep         = 23
	CodeReservedTopic        = 24
	CodeTooManyConnections   = 30
	CodeTooManySubscriptions = 31
	CodeDuplicateSid         = 32
	CodeUnknownSid           = 33
	CodeRetainedLimit        = 34
	CodeSlowConsumer         = 35
	CodeKeepaliveTimeout     = 36
	CodeNoResponders         = 40
	CodeTimeout              = 41
	CodeDisconnected         = 42
	CodePermissionDenied     = 50
	CodeSchemaInvalid        = 51
	CodeQuotaExceeded        = 52
	CodeShuttingDown         = 90
	CodeInternal             = 99
)

var errorNames = map[int]string{
	1: "BAD_PREAMBLE", 2: "FRAME_TOO_LARGE", 3: "BAD_CBOR", 4: "UNSUPPORTED_CBOR", 5: "TOO_DEEP",
	6: "BAD_FRAME", 7: "UNKNOWN_OP", 8: "HANDSHAKE_REQUIRED", 9: "UNSUPPORTED_VERSION",
	10: "HANDSHAKE_TIMEOUT", 20: "INVALID_TOPIC", 21: "INVALID_PATTERN", 22: "TOPIC_TOO_LONG",
	23: "TOPIC_TOO_DEEP", 24: "RESERVED_TOPIC", 30: "TOO_MANY_CONNECTIONS",
	31: "TOO_MANY_SUBSCRIPTIONS", 32: "DUPLICATE_SID", 33: "UNKNOWN_SID", 34: "RETAINED_LIMIT",
	35: "SLOW_CONSUMER", 36: "KEEPALIVE_TIMEOUT", 40: "NO_RESPONDERS", 41: "TIMEOUT",
	42: "DISCONNECTED", 50: "PERMISSION_DENIED", 51: "SCHEMA_INVALID", 52: "QUOTA_EXCEEDED",
	90: "SHUTTING_DOWN", 99: "INTERNAL",
}

// ErrorName is the protocol's name for a code, or "E<code>" for one this client does not know.
func ErrorName(code int) string {
	if n, ok := errorNames[code]; ok {
		return n
	}
	return fmt.Sprintf("E%d", code)
}

// Error is a protocol error: an err frame from the broker, or a client-side one (TIMEOUT,
// DISCONNECTED). Compare with errors.Is against the Err* values, which match by Code:
//
//	if errors.Is(err, udsbus.ErrNoResponders) { ... }
//	var e *udsbus.Error
//	if errors.As(err, &e) { log.Print(e.Code, e.Name) }
type Error struct {
	Code  int
	Name  string
	Text  string
	Fatal bool
	// ID is the id of the frame the error answers (0: none); Sid the subscription it concerns.
	ID    uint64
	Sid   uint64
	cause error
}

func (e *Error) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("udsbus: %s (%d)", e.Name, e.Code)
	}
	return fmt.Sprintf("udsbus: %s (%d): %s", e.Name, e.Code, e.Text)
}

func (e *Error) Unwrap() error { return e.cause }

// Is matches any *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrNoResponders    = &Error{Code: CodeNoResponders, Name: "NO_RESPONDERS"}
	ErrTimeout         = &Error{Code: CodeTimeout, Name: "TIMEOUT"}
	ErrDisconnected    = &Error{Code: CodeDisconnected, Name: "DISCONNECTED"}
	ErrInvalidTopic    = &Error{Code: CodeInvalidTopic, Name: "INVALID_TOPIC"}
	ErrInvalidPattern  = &Error{Code: CodeInvalidPattern, Name: "INVALID_PATTERN"}
	ErrReservedTopic   = &Error{Code: CodeReservedTopic, Name: "RESERVED_TOPIC"}
	ErrUnsupportedCBOR = &Error{Code: CodeUnsupportedCBOR, Name: "UNSUPPORTED_CBOR"}
)

// ErrSubscriptionClosed is returned by Subscription.Next once the subscription has ended.
var ErrSubscriptionClosed = errors.New("udsbus: subscription closed")

func newError(code int, text string) *Error {
	return &Error{Code: code, Name: ErrorName(code), Text: text}
}

func wrapError(code int, text string, cause error) *Error {
	return &Error{Code: code, Name: ErrorName(code), Text: text, cause: cause}
}

// RemoteError is a failure reply {"ok": false, "error": {code, message, data?}} (PROTOCOL.md §8).
// Return one from a Serve handler to answer with a specific application code.
type RemoteError struct {
	Code    string
	Message string
	Data    any
}

func (e *RemoteError) Error() string { return e.Code + ": " + e.Message }
