// Command conformance is the Go client's scenario driver for test/conformance.test.ts.
//
//	UDSBUS_SOCKET=/path/bus.sock conformance <scenario>
//
// It connects, performs one named scenario and prints JSON lines ({"event": ...}) for the test to
// check; the other side of each scenario is the test itself. Every wait is bounded; exit status
// 0 after {"event":"done"}, 1 after {"event":"fatal"}.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	udsbus "github.com/udsbus/udsbus/clients/go"
)

const (
	lang = "go"
	wait = 10 * time.Second
)

var outMu sync.Mutex

func emit(event string, fields map[string]any) {
	line := map[string]any{"event": event}
	for k, v := range fields {
		line[k] = jsonable(v)
	}
	b, err := json.Marshal(line)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": "fatal", "error": err.Error()})
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// jsonable turns decoded CBOR into JSON: byte strings become {"$bytes": hex}.
func jsonable(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]any{"$bytes": hex.EncodeToString(x)}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	default:
		return v
	}
}

func msgLine(m *udsbus.Msg, sub string) map[string]any {
	v, err := m.Value()
	if err != nil {
		v = map[string]any{"$error": err.Error()}
	}
	var fromName any
	if m.From != nil {
		fromName = m.From.Name
	}
	return map[string]any{"sub": sub, "topic": m.Topic, "seq": m.Seq, "retained": m.Retained, "empty": m.Empty(), "value": v, "lostBefore": m.LostBefore, "fromName": fromName}
}

func errorLine(step string, err error, t0 time.Time) {
	var e *udsbus.Error
	if !errors.As(err, &e) {
		emit("unexpected", map[string]any{"step": step, "error": fmt.Sprint(err)})
		return
	}
	f := map[string]any{"step": step, "code": e.Code, "name": e.Name, "fatal": e.Fatal}
	if !t0.IsZero() {
		f["ms"] = time.Since(t0).Milliseconds()
	}
	emit("error", f)
}

func sampleValue() map[string]any {
	return map[string]any{"from": lang, "n": -5, "u": uint64(1)<<32 - 1, "f": 1.5, "s": "ünïcødé ✓", "b": []byte{0, 1, 2, 255},
		"l": []any{1, "two", nil, false, true}, "m": map[string]any{"nested": map[string]any{"deep": []any{}}}}
}

type session struct {
	bus         *udsbus.Client
	asyncErrors int
	mu          sync.Mutex
}

func connect(ctx context.Context, o udsbus.Options) (*session, error) {
	s := &session{}
	o.Name = "conformance-" + lang
	o.OnError = func(e *udsbus.Error) {
		s.mu.Lock()
		s.asyncErrors++
		s.mu.Unlock()
		emit("async-error", map[string]any{"code": e.Code, "name": e.Name, "fatal": e.Fatal})
	}
	bus, err := udsbus.Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	s.bus = bus
	emit("connected", map[string]any{"cid": bus.CID(), "keepalive": bus.Keepalive().Milliseconds(), "limits": bus.Limits()})
	return s, nil
}

func next(sub *udsbus.Subscription, d time.Duration, what string) (*udsbus.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := sub.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", what, err)
	}
	return m, nil
}

// drain prints messages until none arrives for idle.
func drain(sub *udsbus.Subscription, name string, idle time.Duration) {
	for {
		m, err := next(sub, idle, "")
		if err != nil {
			return
		}
		emit("msg", msgLine(m, name))
	}
}

// ------------------------------------------------------------------------ scenarios

func pubsub(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	a, err := s.bus.Subscribe(ctx, "conf.ps.*.motion")
	if err != nil {
		return err
	}
	b, err := s.bus.Subscribe(ctx, "conf.ps.>")
	if err != nil {
		return err
	}
	emit("ready", nil)
	for {
		m, err := next(b, wait, "conf.ps.done on B")
		if err != nil {
			return err
		}
		emit("msg", msgLine(m, "B"))
		if m.Topic == "conf.ps.done" {
			break
		}
	}
	drain(a, "A", 300*time.Millisecond)
	if err := s.bus.PublishSync(ctx, "conf.ps.back.value", sampleValue()); err != nil {
		return err
	}
	if err := s.bus.PublishSync(ctx, "conf.ps.back.empty", udsbus.NoValue); err != nil {
		return err
	}
	emit("published", nil)
	return nil
}

func retained(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	sub, err := s.bus.Subscribe(ctx, "conf.ret.*")
	if err != nil {
		return err
	}
	drain(sub, "S", 300*time.Millisecond)
	n, err := s.bus.Subscribe(ctx, "conf.ret.*", udsbus.NoRetained())
	if err != nil {
		return err
	}
	count := 0
	if _, err := next(n, 200*time.Millisecond, ""); err == nil {
		count = 1
	}
	emit("count", map[string]any{"sub": "N", "count": count})
	if err := s.bus.PublishSync(ctx, "conf.ret.d", map[string]any{"n": 4, "from": lang}, udsbus.Retain()); err != nil {
		return err
	}
	if err := s.bus.PublishSync(ctx, "conf.ret.a", udsbus.NoValue, udsbus.Retain()); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		m, err := next(sub, wait, "own publish")
		if err != nil {
			return err
		}
		emit("msg", msgLine(m, "S"))
	}
	emit("published", nil)
	return nil
}

func request(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var echo any
	if err := s.bus.Request(rctx, "conf.svc.echo", map[string]any{"x": 1, "s": "hi"}, &echo); err != nil {
		return err
	}
	emit("reply", map[string]any{"step": "echo", "value": echo})

	err = s.bus.Request(rctx, "conf.svc.fail", map[string]any{}, nil)
	var remote *udsbus.RemoteError
	if errors.As(err, &remote) {
		emit("remote-error", map[string]any{"step": "fail", "code": remote.Code, "message": remote.Message, "data": remote.Data})
	} else {
		emit("unexpected", map[string]any{"step": "fail", "error": fmt.Sprint(err)})
	}

	var raw any
	if err := s.bus.Request(rctx, "conf.svc.raw", map[string]any{}, &raw); err != nil {
		return err
	}
	emit("reply", map[string]any{"step": "raw", "value": raw})

	var bare any
	if err := s.bus.Request(rctx, "conf.svc.bare", map[string]any{}, &bare); err != nil {
		return err
	}
	emit("reply", map[string]any{"step": "bare", "value": bare})

	for _, c := range []struct {
		step, topic string
		timeout     time.Duration
	}{{"silent", "conf.svc.silent", 300 * time.Millisecond}, {"nobody", "conf.svc.nobody", 5 * time.Second}} {
		t0 := time.Now()
		cctx, ccancel := context.WithTimeout(ctx, c.timeout)
		err := s.bus.Request(cctx, c.topic, map[string]any{}, nil)
		ccancel()
		if err == nil {
			emit("unexpected", map[string]any{"step": c.step})
		} else {
			errorLine(c.step, err, t0)
		}
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var values []int
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var r struct {
				I int `cbor:"i"`
			}
			if err := s.bus.Request(rctx, "conf.svc.echo", map[string]any{"i": i}, &r); err == nil {
				mu.Lock()
				values = append(values, r.I)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	sort.Ints(values)
	emit("parallel", map[string]any{"values": values})
	return nil
}

func serve(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	stop := make(chan struct{})
	var once sync.Once
	_, err = s.bus.Serve(ctx, "conf.rpc.*", func(_ context.Context, m *udsbus.Msg) (any, error) {
		action := m.Topic[strings.LastIndexByte(m.Topic, '.')+1:]
		switch action {
		case "add":
			var in struct{ A, B int64 }
			if err := m.Decode(&in); err != nil {
				return nil, &udsbus.RemoteError{Code: "invalid-argument", Message: err.Error()}
			}
			return map[string]any{"sum": in.A + in.B}, nil
		case "fail":
			return nil, &udsbus.RemoteError{Code: "invalid-argument", Message: "bad input", Data: map[string]any{"field": "a"}}
		case "boom":
			return nil, errors.New("kaput")
		case "stop":
			once.Do(func() { close(stop) })
			return "bye", nil
		}
		return nil, &udsbus.RemoteError{Code: "not-found", Message: "no action " + action}
	}, udsbus.Queue("conf-workers"))
	if err != nil {
		return err
	}
	emit("ready", nil)
	select {
	case <-stop:
	case <-time.After(2 * wait):
		return errors.New("never asked to stop")
	}
	return s.bus.Flush(ctx)
}

func errorsScenario(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	cid := s.bus.CID()
	steps := []struct {
		step string
		fn   func() error
	}{
		{"pub-invalid-topic", func() error { return s.bus.PublishSync(ctx, "conf.bad..topic", 1) }},
		{"sub-invalid-pattern", func() error { _, err := s.bus.Subscribe(ctx, "conf.>.x"); return err }},
		{"pub-reserved-topic", func() error { return s.bus.PublishSync(ctx, "$SYS.x", 1) }},
		{"pub-topic-too-long", func() error { return s.bus.PublishSync(ctx, "conf."+strings.Repeat("a", 300), 1) }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			errorLine(st.step, err, time.Time{})
		} else {
			emit("unexpected", map[string]any{"step": st.step})
		}
	}
	if err := s.bus.Publish("conf.*.x", 1); err != nil { // no id: the error arrives on its own
		return err
	}
	if err := s.bus.Flush(ctx); err != nil {
		return err
	}
	if err := s.bus.PublishSync(ctx, "conf.err.ok", 1); err != nil {
		return err
	}
	s.mu.Lock()
	n := s.asyncErrors
	s.mu.Unlock()
	emit("still-connected", map[string]any{"cid": s.bus.CID(), "sameCid": s.bus.CID() == cid, "asyncErrors": n})
	return nil
}

func loss(ctx context.Context) error {
	const total = 200
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	var mu sync.Mutex
	var losses []udsbus.Loss
	lostSum := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		var n uint64
		for _, l := range losses {
			n += l.Lost
		}
		return n
	}
	sub, err := s.bus.Subscribe(ctx, "conf.loss.>", udsbus.WithPolicy(udsbus.PolicyDropNewest), udsbus.MaxMsgs(1), udsbus.Buffer(1),
		udsbus.OnLoss(func(l udsbus.Loss) { mu.Lock(); losses = append(losses, l); mu.Unlock() }))
	if err != nil {
		return err
	}
	emit("ready", nil)
	time.Sleep(time.Second) // not reading: the channel (1) fills, the reader waits, the broker drops
	var seqs []uint64
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && uint64(len(seqs))+lostSum() < total {
		if m, err := next(sub, 500*time.Millisecond, ""); err == nil {
			seqs = append(seqs, m.Seq)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var maxSeq, lost uint64
	for _, l := range losses {
		emit("loss", map[string]any{"lost": l.Lost, "policy": l.Policy, "lastSeq": l.LastSeq})
		lost += l.Lost
		if l.LastSeq > maxSeq {
			maxSeq = l.LastSeq
		}
	}
	ordered := true
	for i, q := range seqs {
		if q > maxSeq {
			maxSeq = q
		}
		if i > 0 && seqs[i-1] >= q {
			ordered = false
		}
	}
	emit("summary", map[string]any{"delivered": len(seqs), "lost": lost, "maxSeq": maxSeq, "ordered": ordered, "subLost": sub.Lost()})
	return nil
}

func keepalive(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{Keepalive: 600 * time.Millisecond})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	cid := s.bus.CID()
	ticks, err := s.bus.Subscribe(ctx, "conf.ka.>")
	if err != nil {
		return err
	}
	emit("ready", nil)
	// While the test publishes ticks we hear the broker all the time and never ping; we send
	// nothing, so the broker pings us and we must answer.
	n := 0
	for {
		m, err := next(ticks, wait, "conf.ka.end")
		if err != nil {
			return err
		}
		if m.Topic == "conf.ka.end" {
			break
		}
		n++
	}
	during := s.bus.Stats().PingsReceived
	time.Sleep(1500 * time.Millisecond) // idle both ways
	if err := s.bus.Flush(ctx); err != nil {
		return err
	}
	st := s.bus.Stats()
	emit("alive", map[string]any{"cid": s.bus.CID(), "sameCid": s.bus.CID() == cid, "ticks": n, "pingsDuringTicks": during,
		"pingsReceived": st.PingsReceived, "reconnects": st.Reconnects})
	return nil
}

func wideints(ctx context.Context) error {
	s, err := connect(ctx, udsbus.Options{})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	sub, err := s.bus.Subscribe(ctx, "conf.wi.in")
	if err != nil {
		return err
	}
	emit("ready", nil)
	m, err := next(sub, wait, "conf.wi.in")
	if err != nil {
		return err
	}
	line := msgLine(m, "S")
	line["payloadHex"] = hex.EncodeToString(m.Payload)
	emit("msg", line)
	if err := s.bus.PublishSync(ctx, "conf.wi.back", map[string]any{"big": uint64(1) << 40, "neg": -(int64(1) << 40), "max": uint64(1)<<53 - 1}); err != nil {
		return err
	}
	emit("published", nil)
	return nil
}

func reconnect(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	s, err := connect(ctx, udsbus.Options{
		ReconnectMaxWait: 200 * time.Millisecond,
		OnStatus: func(st udsbus.Status) {
			switch st.Kind {
			case udsbus.StatusDisconnected:
				emit("disconnected", nil)
			case udsbus.StatusReconnected:
				emit("reconnected", map[string]any{"cid": st.Cid})
				select {
				case reconnected <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	sub, err := s.bus.Subscribe(ctx, "conf.rc.>")
	if err != nil {
		return err
	}
	emit("ready", nil)
	m, err := next(sub, wait, "conf.rc.before")
	if err != nil {
		return err
	}
	emit("msg", msgLine(m, "S"))
	select {
	case <-reconnected:
	case <-time.After(2 * wait):
		return errors.New("never reconnected")
	}
	if m, err = next(sub, wait, "conf.rc.after"); err != nil {
		return err
	}
	emit("msg", msgLine(m, "S"))
	if err := s.bus.PublishSync(ctx, "conf.rc.back", map[string]any{"from": lang}); err != nil {
		return err
	}
	emit("published", nil)
	return nil
}

func backoff(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	s, err := connect(ctx, udsbus.Options{
		ReconnectMaxWait: 200 * time.Millisecond,
		OnStatus: func(st udsbus.Status) {
			switch st.Kind {
			case udsbus.StatusDisconnected:
				emit("disconnected", nil)
			case udsbus.StatusReconnected:
				emit("reconnected", map[string]any{"cid": st.Cid})
				select {
				case reconnected <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer s.bus.Close()
	emit("ready", nil)
	// The test lets every attempt fail for a while (counting them), then starts a broker.
	select {
	case <-reconnected:
		return nil
	case <-time.After(2 * wait):
		return errors.New("never reconnected")
	}
}

var scenarios = map[string]func(context.Context) error{
	"pubsub": pubsub, "retained": retained, "request": request, "serve": serve,
	"errors": errorsScenario, "loss": loss, "keepalive": keepalive, "wideints": wideints, "reconnect": reconnect, "backoff": backoff,
}

func main() {
	if len(os.Args) != 2 || scenarios[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: conformance <pubsub|retained|request|serve|errors|loss|keepalive|wideints|reconnect|backoff>")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := scenarios[os.Args[1]](ctx); err != nil {
		emit("fatal", map[string]any{"error": err.Error()})
		os.Exit(1)
	}
	emit("done", nil)
}
