package udsbus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Subscription is a live subscription. Receive from C (closed when the subscription ends), or
// call Next. After a reconnect the client subscribes again with the same Sid; Seq then restarts
// at 1.
type Subscription struct {
	Sid     uint64
	Pattern string
	// C delivers the messages in order; it is closed after Unsubscribe or Close.
	C <-chan *Msg

	c           *Client
	cfg         subConfig
	in          chan *Msg
	out         chan *Msg
	done        chan struct{}
	endOnce     sync.Once
	gen         uint64 // connection generation the sub frame was last sent on (guarded by c.mu)
	pendingLost uint64 // reader goroutine only
	lost        atomic.Uint64
}

func (s *Subscription) subFrame() map[string]any {
	f := map[string]any{"op": "sub", "sid": s.Sid, "pattern": s.Pattern}
	if s.cfg.queue != "" {
		f["queue"] = s.cfg.queue
	}
	if s.cfg.noRetained {
		f["retained"] = false
	}
	if s.cfg.policy != "" {
		f["policy"] = string(s.cfg.policy)
	}
	if s.cfg.maxMsgs > 0 {
		f["maxMsgs"] = s.cfg.maxMsgs
	}
	if s.cfg.maxBytes > 0 {
		f["maxBytes"] = s.cfg.maxBytes
	}
	return f
}

// forward moves messages from the bounded inbound channel to C, and closes C at the end, so the
// reader never sends on a closed channel.
func (s *Subscription) forward() {
	defer close(s.out)
	for {
		select {
		case m := <-s.in:
			select {
			case s.out <- m:
			case <-s.done:
				return
			}
		case <-s.done:
			return
		}
	}
}

// deliver runs on the reader goroutine; a full channel makes it wait (backpressure, §10).
func (s *Subscription) deliver(m *Msg) {
	m.LostBefore, s.pendingLost = s.pendingLost, 0
	select {
	case s.in <- m:
		return
	default:
	}
	s.c.readerBusy.Add(1)
	defer s.c.readerBusy.Add(-1)
	select {
	case s.in <- m:
	case <-s.done:
	case <-s.c.closing:
	}
}

func (s *Subscription) loss(l Loss) {
	s.lost.Add(l.Lost)
	s.pendingLost += l.Lost
	if s.cfg.onLoss != nil {
		s.cfg.onLoss(l)
	} else {
		s.c.opts.OnLoss(l)
	}
}

// Lost is the total number of messages the broker reported dropped for this subscription.
func (s *Subscription) Lost() uint64 { return s.lost.Load() }

func (s *Subscription) end() { s.endOnce.Do(func() { close(s.done) }) }

// Next returns the next message, ErrSubscriptionClosed once the subscription has ended, or the
// context's error.
func (s *Subscription) Next(ctx context.Context) (*Msg, error) {
	select {
	case m, ok := <-s.C:
		if !ok {
			return nil, ErrSubscriptionClosed
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Unsubscribe ends the subscription; nothing is delivered for it afterwards.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	_, live := c.subs[s.Sid]
	delete(c.subs, s.Sid)
	open := c.state == stateOpen
	c.mu.Unlock()
	s.end()
	if !live || !open {
		return nil // the broker forgets it with the connection
	}
	err := c.call(ctx, map[string]any{"op": "unsub", "sid": s.Sid}, "unsubscribe "+s.Pattern)
	if errors.Is(err, ErrDisconnected) {
		return nil
	}
	return err
}

// Subscribe subscribes to pattern and waits for the broker's ok, so matching retained messages
// are already in C and every later publish matches (§7, §9).
func (c *Client) Subscribe(ctx context.Context, pattern string, opts ...SubOption) (*Subscription, error) {
	cfg := subConfig{buffer: 4096}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.buffer < 1 {
		cfg.buffer = 1
	}
	s := &Subscription{Pattern: pattern, c: c, cfg: cfg, in: make(chan *Msg, cfg.buffer), out: make(chan *Msg), done: make(chan struct{})}
	s.C = s.out
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return nil, newError(CodeDisconnected, "client is closed")
	}
	c.nextSid++
	if c.nextSid > 1<<32-1 {
		c.nextSid = 1
	}
	s.Sid = c.nextSid
	c.subs[s.Sid] = s
	down := c.state != stateOpen
	s.gen = c.gen
	if down {
		s.gen = 0 // sent with the others once the connection is back
	}
	c.mu.Unlock()
	go s.forward()
	if down {
		return s, nil
	}
	if err := c.call(ctx, s.subFrame(), "subscribe "+pattern); err != nil {
		c.mu.Lock()
		delete(c.subs, s.Sid)
		c.mu.Unlock()
		s.end()
		return nil, err
	}
	return s, nil
}

// SubscribeFunc is Subscribe with a callback, called for each message, in order, on a goroutine
// of this subscription.
func (c *Client) SubscribeFunc(ctx context.Context, pattern string, fn func(*Msg), opts ...SubOption) (*Subscription, error) {
	s, err := c.Subscribe(ctx, pattern, opts...)
	if err != nil {
		return nil, err
	}
	go func() {
		for m := range s.C {
			fn(m)
		}
	}()
	return s, nil
}
