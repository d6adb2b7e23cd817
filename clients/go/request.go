package udsbus

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/fxamacker/cbor/v2"
)

func (c *Client) ensureInbox(ctx context.Context) error {
	c.inboxMu.Lock()
	defer c.inboxMu.Unlock()
	c.mu.Lock()
	have := c.inboxSub != nil
	c.mu.Unlock()
	if have {
		return nil
	}
	// Replies are routed by the reader straight to the waiting request; this channel stays empty.
	s, err := c.Subscribe(ctx, c.inbox+".>", NoRetained(), Buffer(1))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.inboxSub = s
	c.mu.Unlock()
	return nil
}

// RequestMsg publishes req to topic with a fresh reply topic (§8) and returns the reply as it
// came. Errors: ErrNoResponders at once when nothing serves topic; ErrTimeout (wrapping
// context.DeadlineExceeded) when ctx expires, after Options.RequestTimeout if ctx has no deadline.
func (c *Client) RequestMsg(ctx context.Context, topic string, req any, opts ...PubOption) (*Msg, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	payload, err := encodeValue(req)
	if err != nil {
		return nil, err
	}
	if err := c.ensureInbox(ctx); err != nil {
		return nil, err
	}
	replyTo := fmt.Sprintf("%s.%d", c.inbox, c.reqSeq.Add(1))
	replies := make(chan *Msg, 1)
	c.mu.Lock()
	c.replies[replyTo] = replies
	id, callCh := c.newCallLocked()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.replies, replyTo)
		c.mu.Unlock()
		c.dropCall(id)
	}()
	frame := pubFrame(topic, payload, append(opts, ReplyTo(replyTo)))
	frame["id"] = id
	if err := c.send(frame, false, false); err != nil {
		return nil, err
	}
	for {
		select {
		case m, ok := <-replies:
			if !ok {
				return nil, newError(CodeDisconnected, "connection lost while waiting for a reply from "+topic)
			}
			return m, nil
		case err := <-callCh:
			if err != nil {
				return nil, err
			}
			callCh = nil // ok: the request reached a subscriber; keep waiting for the reply
		case <-ctx.Done():
			return nil, ctxError(ctx, "request to "+topic)
		}
	}
}

type envelope struct {
	OK     *bool           `cbor:"ok"`
	Result cbor.RawMessage `cbor:"result"`
	Error  cbor.RawMessage `cbor:"error"`
}

// Request is RequestMsg that unwraps the reply envelope: {ok: true, result} decodes result into
// resp (a pointer, or nil to ignore it); {ok: false, error} returns a *RemoteError. A reply
// without the envelope is decoded into resp as a whole.
func (c *Client) Request(ctx context.Context, topic string, req any, resp any, opts ...PubOption) error {
	m, err := c.RequestMsg(ctx, topic, req, opts...)
	if err != nil {
		return err
	}
	return UnwrapReply(m, resp)
}

// UnwrapReply applies the §8 envelope rules to a reply message: a map whose "ok" is a boolean is
// an envelope; anything else is the reply itself.
func UnwrapReply(m *Msg, resp any) error {
	if m.Empty() {
		return nil
	}
	var env envelope
	if err := decodeInto(m.Payload, &env); err == nil && env.OK != nil {
		if *env.OK {
			if resp == nil || len(env.Result) == 0 {
				return nil
			}
			return decodeInto(env.Result, resp)
		}
		remote := &RemoteError{Code: "internal"}
		var e map[string]any
		if len(env.Error) > 0 && decodeInto(env.Error, &e) == nil {
			if code, ok := e["code"].(string); ok {
				remote.Code = code
			}
			if msg, ok := e["message"].(string); ok {
				remote.Message = msg
			}
			remote.Data = e["data"]
		}
		return remote
	}
	if resp == nil {
		return nil
	}
	return m.Decode(resp)
}

// Handler answers one request; ctx is canceled when the client closes. Return a *RemoteError
// to answer with an application error code; any other error is answered as "internal".
type Handler func(ctx context.Context, m *Msg) (any, error)

// Serve answers requests on pattern with the §8 envelope, one at a time, in order. Like every
// udsbus client's serve it joins the queue group "serve" (override with Queue) so workers
// sharing a pattern share the requests, and skips retained messages.
func (c *Client) Serve(ctx context.Context, pattern string, h Handler, opts ...SubOption) (*Subscription, error) {
	opts = append([]SubOption{Queue("serve"), NoRetained()}, opts...)
	return c.SubscribeFunc(ctx, pattern, func(m *Msg) {
		result, err := h(c.ctx, m)
		var payload []byte
		var hdr map[string]string
		if err == nil {
			payload, err = encodeValue(map[string]any{"ok": true, "result": result})
		}
		if err != nil {
			hdr = map[string]string{"status": "error"}
			var remote *RemoteError
			body := map[string]any{"code": "internal", "message": err.Error()}
			if errors.As(err, &remote) {
				body = map[string]any{"code": remote.Code, "message": remote.Message}
				if remote.Data != nil {
					body["data"] = remote.Data
				}
			} else {
				log.Printf("udsbus: handler for %s failed: %v", m.Topic, err)
			}
			if payload, err = encodeValue(map[string]any{"ok": false, "error": body}); err != nil {
				payload, _ = encodeValue(map[string]any{"ok": false, "error": map[string]any{"code": "internal", "message": "unencodable error data"}})
			}
		}
		if m.Reply == "" {
			return
		}
		if err := c.send(pubFrame(m.Reply, payload, []PubOption{Headers(hdr)}), true, false); err != nil {
			var e *Error
			if errors.As(err, &e) {
				c.opts.OnError(e)
			}
		}
	}, opts...)
}
