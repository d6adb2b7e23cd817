package udsbus

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Options configure Connect. The zero value is usable.
type Options struct {
	// Socket is the broker's Unix socket; default DefaultSocketPath().
	Socket string
	// Name labels the connection in logs and $SYS (not verified by anything).
	Name string
	// Keepalive asked of the broker; it clamps it and announces the value it uses.
	Keepalive time.Duration
	// Will is published by the broker if the connection ends without Close (§9).
	Will *Will
	// NoReconnect: give up on the first disconnect instead of reconnecting.
	NoReconnect bool
	// MaxReconnectAttempts in a row before giving up; 0 means never give up.
	MaxReconnectAttempts int
	// ReconnectMaxWait caps the backoff between attempts (default 2 s).
	ReconnectMaxWait time.Duration
	// RequestTimeout applies to calls whose context has no deadline (default 5 s).
	RequestTimeout time.Duration
	// OutageBufferBytes of publishes are kept while disconnected (default 8 MiB).
	OutageBufferBytes int
	// OnError receives err frames that answer no call of ours (e.g. a Publish without
	// confirmation to an invalid topic). Default: log.
	OnError func(*Error)
	// OnLoss receives loss notices of subscriptions without their own handler. It runs on the
	// connection's reader goroutine and must not block. Default: log.
	OnLoss func(Loss)
	// OnStatus receives connection state changes.
	OnStatus func(Status)
}

// Will is the last-will message registered in hello.
type Will struct {
	Topic  string
	Value  any // NoValue for an empty payload
	Retain bool
}

// StatusKind names a connection state change.
type StatusKind string

const (
	StatusDisconnected StatusKind = "disconnected"
	StatusReconnected  StatusKind = "reconnected"
	StatusClosed       StatusKind = "closed"
)

// Status is a connection state change.
type Status struct {
	Kind    StatusKind
	Cid     string // the new connection id, for StatusReconnected
	Attempt int
	Err     error // why, for StatusDisconnected
}

// Policy is a subscription's drop policy (§10).
type Policy string

const (
	PolicyDropOldest     Policy = "drop-oldest"
	PolicyDropNewest     Policy = "drop-newest"
	PolicyLatestPerTopic Policy = "latest-per-topic"
	PolicyDisconnect     Policy = "disconnect"
)

type subConfig struct {
	queue      string
	noRetained bool
	policy     Policy
	maxMsgs    uint64
	maxBytes   uint64
	buffer     int
	onLoss     func(Loss)
}

// SubOption configures Subscribe, SubscribeFunc and Serve.
type SubOption func(*subConfig)

// Queue joins the queue group `name`: each message goes to one member (§7).
func Queue(name string) SubOption { return func(c *subConfig) { c.queue = name } }

// NoRetained skips the replay of retained messages when the subscription starts.
func NoRetained() SubOption { return func(c *subConfig) { c.noRetained = true } }

// WithPolicy sets what the broker drops when this subscription's share is full.
func WithPolicy(p Policy) SubOption { return func(c *subConfig) { c.policy = p } }

// MaxMsgs asks for a smaller share of the connection's queue, in messages.
func MaxMsgs(n uint64) SubOption { return func(c *subConfig) { c.maxMsgs = n } }

// MaxBytes asks for a smaller share of the connection's queue, in bytes.
func MaxBytes(n uint64) SubOption { return func(c *subConfig) { c.maxBytes = n } }

// Buffer sets the local channel capacity (default 4096, at least 1).
func Buffer(n int) SubOption { return func(c *subConfig) { c.buffer = n } }

// OnLoss handles this subscription's loss notices (on the reader goroutine; must not block).
func OnLoss(fn func(Loss)) SubOption { return func(c *subConfig) { c.onLoss = fn } }

type pubConfig struct {
	retain bool
	owned  bool
	hdr    map[string]string
	reply  string
}

// PubOption configures Publish and PublishSync.
type PubOption func(*pubConfig)

// Retain stores the message as the topic's retained message (§9).
func Retain() PubOption { return func(c *pubConfig) { c.retain = true } }

// Owned marks a retained message as owned by this connection: cleared when it ends (§9).
func Owned() PubOption { return func(c *pubConfig) { c.owned = true } }

// Headers attaches text headers (hdr).
func Headers(h map[string]string) PubOption { return func(c *pubConfig) { c.hdr = h } }

// ReplyTo sets the reply topic of a hand-made request.
func ReplyTo(topic string) PubOption { return func(c *pubConfig) { c.reply = topic } }

// DefaultSocketPath follows PROTOCOL.md §1: $UDSBUS_SOCKET, else /run/udsbus/bus.sock for root,
// else $XDG_RUNTIME_DIR/udsbus/bus.sock, else /tmp/udsbus-<uid>/bus.sock.
func DefaultSocketPath() string {
	if p := os.Getenv("UDSBUS_SOCKET"); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return "/run/udsbus/bus.sock"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "udsbus", "bus.sock")
	}
	return fmt.Sprintf("/tmp/udsbus-%d/bus.sock", os.Getuid())
}
