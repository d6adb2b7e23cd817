package udsbus

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ProtocolVersion is the wire protocol version this client speaks.
const ProtocolVersion = 1

type connState int

const (
	stateNew connState = iota
	stateOpen
	stateResubscribing // reconnected; subscriptions are being sent again, publishes are buffered
	stateReconnecting
	stateClosed
)

// Client is one connection to the broker; it reconnects and re-subscribes by itself. All
// methods are safe for concurrent use.
type Client struct {
	opts Options
	path string

	mu          sync.Mutex // everything below that is not atomic
	wmu         sync.Mutex // one writer on the socket at a time
	conn        net.Conn
	readerDone  chan struct{}
	gen         uint64
	state       connState
	fatal       *Error
	calls       map[uint64]chan error
	subs        map[uint64]*Subscription
	nextID      uint64
	nextSid     uint64
	outage      [][]byte
	outageBytes int
	reconnectOn bool
	cid         string
	server      string
	keepalive   time.Duration
	limits      map[string]uint64
	replies     map[string]chan *Msg
	inboxSub    *Subscription

	inbox      string
	inboxMu    sync.Mutex
	reqSeq     atomic.Uint64
	lastRx     atomic.Int64
	readerBusy atomic.Int32

	pingsReceived atomic.Uint64
	pingsSent     atomic.Uint64
	reconnects    atomic.Uint64

	ctx        context.Context // canceled by Close; handed to Serve handlers
	cancel     context.CancelFunc
	closing    chan struct{}
	closeOnce  sync.Once
	finishOnce sync.Once
}

// Stats are counters for diagnostics and tests.
type Stats struct {
	PingsReceived, PingsSent, Reconnects uint64
}

// Connect dials the broker and completes the handshake (§5) within ctx.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	if opts.Socket == "" {
		opts.Socket = DefaultSocketPath()
	}
	if opts.Name == "" {
		opts.Name = "go"
	}
	if opts.ReconnectMaxWait <= 0 {
		opts.ReconnectMaxWait = 2 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.OutageBufferBytes <= 0 {
		opts.OutageBufferBytes = 8 << 20
	}
	if opts.OnError == nil {
		opts.OnError = func(e *Error) { log.Printf("udsbus: %v", e) }
	}
	if opts.OnLoss == nil {
		opts.OnLoss = func(l Loss) {
			log.Printf("udsbus: %d messages lost on %q (policy %s, last seq %d)", l.Lost, l.Pattern, l.Policy, l.LastSeq)
		}
	}
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, err
	}
	c := &Client{
		opts:      opts,
		path:      opts.Socket,
		calls:     map[uint64]chan error{},
		subs:      map[uint64]*Subscription{},
		replies:   map[string]chan *Msg{},
		keepalive: 30 * time.Second,
		inbox:     "_INBOX." + hex.EncodeToString(token[:]),
		closing:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.open(ctx, stateOpen); err != nil {
		c.cancel()
		return nil, err
	}
	go c.keepaliveLoop()
	return c, nil
}

// CID is the broker's id for the current connection (it changes after a reconnect).
func (c *Client) CID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cid
}

// Keepalive is the interval the broker announced in welcome.
func (c *Client) Keepalive() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keepalive
}

// Limits are the limits the broker announced in welcome (§13).
func (c *Client) Limits() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.limits))
	for k, v := range c.limits {
		out[k] = v
	}
	return out
}

// Stats returns counters.
func (c *Client) Stats() Stats {
	return Stats{PingsReceived: c.pingsReceived.Load(), PingsSent: c.pingsSent.Load(), Reconnects: c.reconnects.Load()}
}

func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *Client) limit(key string, def uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.limits[key]; ok {
		return v
	}
	return def
}

func (c *Client) maxFrame() int {
	v := c.limit("maxFrameBytes", 1<<20)
	if v > maxFrameBytes {
		v = maxFrameBytes
	}
	return int(v)
}

// ---------------------------------------------------------------- connection

func (c *Client) hello() (map[string]any, error) {
	// fromRefs (§7): each publisher's identity arrives once ("who"), then as a number.
	h := map[string]any{"op": "hello", "v": ProtocolVersion, "name": c.opts.Name, "fromRefs": true}
	if c.opts.Keepalive > 0 {
		h["keepalive"] = uint64(c.opts.Keepalive / time.Millisecond)
	}
	if w := c.opts.Will; w != nil {
		v := w.Value
		if v == nil {
			v = NoValue
		}
		payload, err := encodeValue(v)
		if err != nil {
			return nil, err
		}
		h["will"] = map[string]any{"topic": w.Topic, "payload": payload, "retain": w.Retain}
	}
	return h, nil
}

// open dials, says hello, waits for welcome and starts the reader.
func (c *Client) open(ctx context.Context, state connState) error {
	hello, err := c.hello()
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return wrapError(CodeDisconnected, fmt.Sprintf("cannot connect to %s: %v", c.path, err), err)
	}
	fail := func(err error) error {
		conn.Close()
		return err
	}
	_ = conn.SetDeadline(deadline)
	data, err := encodeFrame(hello, maxFrameBytes)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(data); err != nil {
		return fail(wrapError(CodeDisconnected, "hello: "+err.Error(), err))
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	f, err := readFrame(br, 32)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fail(wrapError(CodeTimeout, "no welcome within the connect timeout", err))
		}
		return fail(err)
	}
	if f.Op == "err" {
		return fail(f.err())
	}
	if f.Op != "welcome" {
		return fail(newError(CodeBadFrame, "expected welcome, got "+f.Op))
	}
	_ = conn.SetDeadline(time.Time{})
	limits := map[string]uint64{}
	for k, v := range f.Limits {
		if u, ok := v.(uint64); ok {
			limits[k] = u
		}
	}
	done := make(chan struct{})
	c.mu.Lock()
	if c.isClosing() { // Close ran while we were connecting
		c.mu.Unlock()
		return fail(newError(CodeDisconnected, "client closed"))
	}
	c.gen++
	gen := c.gen
	c.conn = conn
	c.readerDone = done
	c.state = state
	c.fatal = nil
	c.cid, c.server, c.limits = f.Cid, f.Server, limits
	if f.Keepalive > 0 {
		c.keepalive = durationMs(f.Keepalive)
	}
	c.mu.Unlock()
	c.lastRx.Store(time.Now().UnixNano())
	go c.readLoop(conn, br, gen, done)
	return nil
}

func readFrame(br *bufio.Reader, maxNesting int) (*inFrame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, newError(CodeBadFrame, "zero-length frame")
	}
	if n > maxFrameBytes { // checked before reading the body (§2)
		return nil, newError(CodeFrameTooLarge, fmt.Sprintf("frame of %d bytes", n))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	return decodeFrame(body, maxNesting)
}

func (c *Client) readLoop(conn net.Conn, br *bufio.Reader, gen uint64, done chan struct{}) {
	defer close(done)
	maxNesting := int(c.limit("maxNesting", 32))
	// What each "fref" stands for on this connection; only this goroutine reads frames.
	refs := map[uint64]*Origin{}
	for {
		f, err := readFrame(br, maxNesting)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				log.Printf("udsbus: bad frame from broker: %v", e)
			}
			c.connectionLost(conn, err)
			return
		}
		c.lastRx.Store(time.Now().UnixNano())
		switch f.Op {
		case "who":
			refs[f.Ref] = f.From
			continue
		case "forget":
			delete(refs, f.Ref)
			continue
		case "msg":
			if f.From == nil && f.Fref != nil {
				f.From = refs[*f.Fref]
			}
		}
		c.handle(f)
	}
}

func (c *Client) handle(f *inFrame) {
	switch f.Op {
	case "msg":
		m := &Msg{Sid: f.Sid, Seq: f.Seq, Topic: f.Topic, Payload: f.Payload, Retained: f.Retained, Reply: f.Reply, Header: f.Hdr, From: f.From}
		if m.Payload == nil {
			m.Payload = []byte{}
		}
		c.mu.Lock()
		if c.inboxSub != nil && f.Sid == c.inboxSub.Sid {
			if ch, ok := c.replies[f.Topic]; ok {
				select {
				case ch <- m:
				default: // a second reply to the same request: the first one won
				}
			}
			c.mu.Unlock()
			return
		}
		s := c.subs[f.Sid]
		c.mu.Unlock()
		if s != nil {
			s.deliver(m)
		}
	case "ok", "pong":
		if f.ID != nil {
			c.resolveCall(*f.ID, nil)
		}
	case "err":
		e := f.err()
		c.mu.Lock()
		if e.Fatal {
			c.fatal = e
		}
		c.mu.Unlock()
		if f.ID == nil || !c.resolveCall(*f.ID, e) {
			c.opts.OnError(e)
		}
	case "loss":
		c.mu.Lock()
		s := c.subs[f.Sid]
		c.mu.Unlock()
		if s != nil {
			s.loss(Loss{Sid: f.Sid, Pattern: s.Pattern, Lost: f.Lost, Policy: f.Policy, LastSeq: f.LastSeq})
		}
	case "ping":
		c.pingsReceived.Add(1)
		pong := map[string]any{"op": "pong"}
		if f.ID != nil {
			pong["id"] = *f.ID
		}
		_ = c.send(pong, false, true)
	default:
		// A frame of a later version: ignored, as §4 asks of receivers.
	}
}

// ---------------------------------------------------------------- calls (frames with an id)

func (c *Client) newCallLocked() (uint64, chan error) {
	c.nextID++
	ch := make(chan error, 1)
	c.calls[c.nextID] = ch
	return c.nextID, ch
}

func (c *Client) dropCall(id uint64) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

func (c *Client) resolveCall(id uint64, err error) bool {
	c.mu.Lock()
	ch, ok := c.calls[id]
	delete(c.calls, id)
	c.mu.Unlock()
	if ok {
		ch <- err
	}
	return ok
}

// withTimeout applies RequestTimeout when ctx has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return wrapError(CodeTimeout, "no answer to "+what+" in time", ctx.Err())
	}
	return ctx.Err()
}

// call sends frame with a fresh id and waits for its ok, or returns its err.
func (c *Client) call(ctx context.Context, frame map[string]any, what string) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	id, ch := c.newCallLocked()
	c.mu.Unlock()
	defer c.dropCall(id)
	frame["id"] = id
	if err := c.send(frame, false, false); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctxError(ctx, what)
	}
}

// ---------------------------------------------------------------- writing

// send writes one frame. bufferIfDown keeps plain publishes for after a reconnect; internal
// frames (re-subscriptions, pongs) may be written while resubscribing.
func (c *Client) send(frame map[string]any, bufferIfDown, internal bool) error {
	data, err := encodeFrame(frame, c.maxFrame())
	if err != nil {
		return err
	}
	c.mu.Lock()
	conn, st := c.conn, c.state
	writable := st == stateOpen || (internal && st == stateResubscribing)
	if !writable || conn == nil {
		if bufferIfDown && (st == stateReconnecting || st == stateResubscribing) {
			if c.outageBytes+len(data) > c.opts.OutageBufferBytes {
				c.mu.Unlock()
				return newError(CodeDisconnected, "disconnected and the publish buffer is full")
			}
			c.outage = append(c.outage, data)
			c.outageBytes += len(data)
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		if st == stateClosed {
			return newError(CodeDisconnected, "client is closed")
		}
		return newError(CodeDisconnected, "not connected")
	}
	c.mu.Unlock()
	return c.write(conn, data)
}

func (c *Client) write(conn net.Conn, data []byte) error {
	c.wmu.Lock()
	_, err := conn.Write(data)
	c.wmu.Unlock()
	if err != nil {
		c.connectionLost(conn, err)
		return wrapError(CodeDisconnected, "write: "+err.Error(), err)
	}
	return nil
}

// ---------------------------------------------------------------- losing and regaining the connection

func (c *Client) connectionLost(conn net.Conn, cause error) {
	c.mu.Lock()
	if conn != c.conn {
		c.mu.Unlock()
		return // already handled, or an old connection
	}
	c.conn = nil
	why := cause
	if c.fatal != nil {
		why = c.fatal
	}
	calls := c.calls
	c.calls = map[uint64]chan error{}
	for _, ch := range c.replies {
		close(ch) // the requester reports DISCONNECTED
	}
	c.replies = map[string]chan *Msg{}
	closing := c.isClosing()
	if closing || c.opts.NoReconnect {
		c.state = stateClosed
	} else {
		c.state = stateReconnecting
	}
	start := c.state == stateReconnecting && !c.reconnectOn
	if start {
		c.reconnectOn = true
	}
	c.mu.Unlock()
	conn.Close()
	for _, ch := range calls {
		ch <- wrapError(CodeDisconnected, fmt.Sprintf("connection lost (%v)", why), why)
	}
	if closing {
		return
	}
	c.status(Status{Kind: StatusDisconnected, Err: why})
	if start {
		go c.reconnectLoop()
	} else if c.opts.NoReconnect {
		c.finishClose()
	}
}

// reconnectLoop is the only goroutine that reconnects; it runs until the client is open again,
// is closed, or gives up.
func (c *Client) reconnectLoop() {
	delay := 50 * time.Millisecond
	for attempt := 1; !c.isClosing(); attempt++ {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err := c.open(ctx, stateResubscribing)
		if err == nil {
			err = c.resubscribe(ctx)
		}
		cancel()
		if err == nil {
			c.mu.Lock()
			done := c.state == stateOpen
			c.reconnectOn = !done
			cid := c.cid
			c.mu.Unlock()
			if done {
				c.reconnects.Add(1)
				c.status(Status{Kind: StatusReconnected, Cid: cid, Attempt: attempt})
				return
			}
			continue // lost again while finishing; still our job
		}
		c.dropHalfOpen()
		if c.opts.MaxReconnectAttempts > 0 && attempt >= c.opts.MaxReconnectAttempts {
			log.Printf("udsbus: giving up after %d reconnect attempts: %v", attempt, err)
			c.mu.Lock()
			c.reconnectOn = false
			c.mu.Unlock()
			c.finishClose()
			return
		}
		select {
		case <-c.closing:
		case <-time.After(delay):
		}
		if delay *= 2; delay > c.opts.ReconnectMaxWait {
			delay = c.opts.ReconnectMaxWait
		}
	}
	c.mu.Lock()
	c.reconnectOn = false
	c.mu.Unlock()
}

func (c *Client) dropHalfOpen() {
	c.mu.Lock()
	conn := c.conn
	if conn == nil || c.state != stateResubscribing {
		c.mu.Unlock()
		return
	}
	c.conn = nil
	c.state = stateReconnecting
	c.mu.Unlock()
	conn.Close()
}

// resubscribe sends sub again for every live subscription (same sid), waits for the oks, then
// writes the publishes buffered during the outage, and only then opens the client again.
func (c *Client) resubscribe(ctx context.Context) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if c.gen != gen || c.state != stateResubscribing {
			c.mu.Unlock()
			return newError(CodeDisconnected, "connection lost while re-subscribing")
		}
		var todo []*Subscription
		for _, s := range c.subs {
			if s.gen != gen {
				todo = append(todo, s)
			}
		}
		frames := c.outage
		c.outage, c.outageBytes = nil, 0
		if len(todo) == 0 && len(frames) == 0 {
			c.state = stateOpen
			c.mu.Unlock()
			return nil
		}
		conn := c.conn
		type pending struct {
			id uint64
			ch chan error
			s  *Subscription
		}
		var calls []pending
		for _, s := range todo {
			s.gen = gen
			id, ch := c.newCallLocked()
			calls = append(calls, pending{id, ch, s})
		}
		c.mu.Unlock()
		for _, p := range calls {
			frame := p.s.subFrame()
			frame["id"] = p.id
			if err := c.send(frame, false, true); err != nil {
				return err
			}
		}
		for _, p := range calls {
			select {
			case err := <-p.ch:
				var e *Error
				if errors.As(err, &e) && e.Code == CodeDisconnected {
					return err
				}
				if e != nil {
					c.opts.OnError(e) // e.g. the new broker has other limits; keep going
				}
			case <-ctx.Done():
				c.dropCall(p.id)
				return ctxError(ctx, "re-subscribe "+p.s.Pattern)
			}
		}
		for _, data := range frames {
			if err := c.write(conn, data); err != nil {
				return err
			}
		}
	}
}

func (c *Client) status(s Status) {
	if c.opts.OnStatus != nil {
		c.opts.OnStatus(s)
	}
}

// ---------------------------------------------------------------- keepalive

func (c *Client) keepaliveLoop() {
	var outstanding time.Time
	for {
		ka := c.Keepalive()
		tick := ka / 4
		if tick > time.Second {
			tick = time.Second
		}
		timer := time.NewTimer(tick)
		select {
		case <-c.closing:
			timer.Stop()
			return
		case <-timer.C:
		}
		c.mu.Lock()
		conn, st := c.conn, c.state
		c.mu.Unlock()
		if st != stateOpen || conn == nil {
			outstanding = time.Time{}
			continue
		}
		if c.readerBusy.Load() > 0 {
			continue // bytes are waiting in the socket: the broker is alive
		}
		idle := time.Since(time.Unix(0, c.lastRx.Load()))
		switch {
		case idle < ka:
			outstanding = time.Time{}
		case outstanding.IsZero():
			outstanding = time.Now()
			c.pingsSent.Add(1)
			_ = c.send(map[string]any{"op": "ping"}, false, false)
		case time.Since(outstanding) >= ka:
			outstanding = time.Time{}
			e := newError(CodeKeepaliveTimeout, "the broker stopped answering pings")
			c.mu.Lock()
			c.fatal = e
			c.mu.Unlock()
			c.connectionLost(conn, e)
		}
	}
}

// ---------------------------------------------------------------- publish, flush, close

func pubFrame(topic string, payload []byte, opts []PubOption) map[string]any {
	var cfg pubConfig
	for _, o := range opts {
		o(&cfg)
	}
	f := map[string]any{"op": "pub", "topic": topic, "payload": payload}
	if cfg.retain {
		f["retain"] = true
	}
	if cfg.owned {
		f["owned"] = true
	}
	if len(cfg.hdr) > 0 {
		f["hdr"] = cfg.hdr
	}
	if cfg.reply != "" {
		f["reply"] = cfg.reply
	}
	return f
}

// Publish sends value (CBOR-encoded; NoValue for an empty payload) to topic without waiting
// (§7). While reconnecting it is buffered. An error the broker reports later (e.g.
// INVALID_TOPIC) goes to Options.OnError; use PublishSync to get it here.
func (c *Client) Publish(topic string, value any, opts ...PubOption) error {
	payload, err := encodeValue(value)
	if err != nil {
		return err
	}
	return c.send(pubFrame(topic, payload, opts), true, false)
}

// PublishSync publishes with an id and waits for the broker's ok; it returns the broker's *Error
// (e.g. code 20 INVALID_TOPIC, 24 RESERVED_TOPIC, 34 RETAINED_LIMIT).
func (c *Client) PublishSync(ctx context.Context, topic string, value any, opts ...PubOption) error {
	payload, err := encodeValue(value)
	if err != nil {
		return err
	}
	return c.call(ctx, pubFrame(topic, payload, opts), "publish to "+topic)
}

// Flush waits until the broker has processed everything sent before it (a ping with an id,
// answered by its pong).
func (c *Client) Flush(ctx context.Context) error {
	c.pingsSent.Add(1)
	return c.call(ctx, map[string]any{"op": "ping"}, "ping")
}

// Close says bye (the broker flushes what it queued for us and publishes no will) and closes.
// Subscriptions end; their channels are closed.
func (c *Client) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closing)
	})
	if !first {
		return nil
	}
	c.mu.Lock()
	conn, st, done := c.conn, c.state, c.readerDone
	c.mu.Unlock()
	if conn != nil && st == stateOpen {
		if data, err := encodeFrame(map[string]any{"op": "bye"}, maxFrameBytes); err == nil {
			c.wmu.Lock()
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, err = conn.Write(data)
			c.wmu.Unlock()
			if err == nil {
				select { // the broker closes once it has flushed
				case <-done:
				case <-time.After(2 * time.Second):
				}
			}
		}
	}
	c.mu.Lock()
	conn = c.conn
	c.conn = nil
	c.state = stateClosed
	calls := c.calls
	c.calls = map[uint64]chan error{}
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	for _, ch := range calls {
		ch <- newError(CodeDisconnected, "client closed")
	}
	c.finishClose()
	return nil
}

func (c *Client) finishClose() {
	c.finishOnce.Do(func() {
		c.closeOnce.Do(func() { close(c.closing) })
		c.cancel()
		c.mu.Lock()
		c.state = stateClosed
		subs := c.subs
		c.subs = map[uint64]*Subscription{}
		c.mu.Unlock()
		for _, s := range subs {
			s.end()
		}
		c.status(Status{Kind: StatusClosed})
	})
}
