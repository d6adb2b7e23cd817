// Package udsbus is a client for the udsbus wire protocol, version 1 (PROTOCOL.md), written from
// that document alone: length-prefixed CBOR frames over a Unix domain socket, topics with `*` and
// `>` wildcards, publish/subscribe, request/reply with the {ok, result|error} envelope, retained
// messages, loss notices, keepalive, and reconnection with re-subscription.
//
//	bus, err := udsbus.Connect(ctx, udsbus.Options{Name: "recorder"}) // $UDSBUS_SOCKET or the default path
//	if err != nil { ... }
//	defer bus.Close()
//
//	sub, _ := bus.Subscribe(ctx, "camera.event.*.motion")
//	for m := range sub.C {
//		var ev struct{ CameraID string `json:"cameraId"`; Active bool `json:"active"` }
//		_ = m.Decode(&ev)
//	}
//
//	var res struct{ URI string `json:"uri"` }
//	err = bus.Request(ctx, "camera.rpc.front-door.stream-uri", map[string]any{}, &res)
//	if errors.Is(err, udsbus.ErrNoResponders) { ... }   // nobody serves that camera
//	var remote *udsbus.RemoteError                       // {ok: false, error: {code, message}}
//	if errors.As(err, &remote) { ... }
//
// Payloads are encoded with github.com/fxamacker/cbor/v2 (struct fields by their `cbor` or
// `json` tags, time.Time as RFC 3339 text) and checked against the portable subset (§3) before
// they are sent; frames from the broker are checked before they are decoded, and decoded with
// indefinite lengths and tags forbidden.
//
// Flow control: each subscription has a bounded channel (Buffer, default 4096). When it is full
// the connection's reader waits, the socket is not read, and the broker applies the
// subscription's policy (§10) and reports drops as loss notices (OnLoss, Msg.LostBefore). While
// the reader waits nothing else on the connection is read, so a handler that makes a request
// while its own channel is full waits until that request times out.
package udsbus
