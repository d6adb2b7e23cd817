// Command go-backend is an HTTP service in front of the camera RPCs on the bus:
//
//	POST /cameras/{id}/users        {"username": "...", "password": "...", "level": "User"}
//	                                -> 201 {"cameraId", "username"}
//	GET  /cameras/{id}/stream-uri   [?profile=&stream=RTP-Unicast|RTP-Multicast&transport=UDP|TCP|RTSP|HTTP]
//	                                -> 200 {"cameraId", "uri", "profile"}
//
// Each request is validated here, then sent as a bus request to camera.rpc.<id>.users-create or
// camera.rpc.<id>.stream-uri (SCHEMAS.md) and answered by whichever ONVIF worker serves the
// camera. Errors are {"error": {"code", "message"}} with an HTTP status that says whose fault
// it is: 400 bad input, 404 unknown camera resource, 502 the camera failed, 503 no worker or no
// bus, 504 too slow.
//
//	UDSBUS_SOCKET=/run/udsbus/bus.sock go-backend -listen 127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	udsbus "github.com/udsbus/udsbus/clients/go"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address (port 0: any free port)")
	socket := flag.String("socket", "", "bus socket (default $UDSBUS_SOCKET or the per-user default)")
	rpcTimeout := flag.Duration("rpc-timeout", 10*time.Second, "how long to wait for the camera worker")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	bus, err := udsbus.Connect(cctx, udsbus.Options{Socket: *socket, Name: "go-backend"})
	cancel()
	if err != nil {
		log.Fatalf("go-backend: cannot reach the bus: %v (is the broker running? set UDSBUS_SOCKET or -socket)", err)
	}
	defer bus.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("go-backend: %v", err)
	}
	srv := &http.Server{
		Handler:           &api{bus: bus, timeout: *rpcTimeout},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      *rpcTimeout + 5*time.Second,
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("go-backend: %v", err)
		os.Exit(1)
	}
}

type api struct {
	bus     *udsbus.Client
	timeout time.Duration
}

// A camera id is one topic token (SCHEMAS.md "Ids are topic tokens").
var cameraID = regexp.MustCompile(`^[A-Za-z0-9_~%@:=-]{1,64}$`)

var userLevels = map[string]bool{"Administrator": true, "Operator": true, "User": true, "Anonymous": true, "Extended": true}

type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid-argument", fmt.Sprintf(format, a...)}
}

// ServeHTTP routes by hand: Go 1.19's ServeMux has no methods or path parameters.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "cameras" || (parts[2] != "users" && parts[2] != "stream-uri") {
		writeError(w, &apiError{http.StatusNotFound, "not-found", "no such resource; try POST /cameras/{id}/users or GET /cameras/{id}/stream-uri"})
		return
	}
	id, resource := parts[1], parts[2]
	method := map[string]string{"users": http.MethodPost, "stream-uri": http.MethodGet}[resource]
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, &apiError{http.StatusMethodNotAllowed, "method-not-allowed", fmt.Sprintf("%s /cameras/{id}/%s only", method, resource)})
		return
	}
	if !cameraID.MatchString(id) {
		writeError(w, badRequest("camera id must be 1-64 characters of A-Z a-z 0-9 _ ~ %% @ : = -"))
		return
	}
	var (
		status int
		body   any
		err    error
	)
	if resource == "users" {
		status, body, err = a.createUser(r, id)
	} else {
		status, body, err = a.streamURI(r, id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, body)
}

func (a *api) createUser(r *http.Request, id string) (int, any, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return 0, nil, &apiError{http.StatusUnsupportedMediaType, "invalid-argument", "send Content-Type: application/json"}
	}
	var in struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
		Level    *string `json:"level"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return 0, nil, badRequest("body must be a JSON object {username, password, level}: %v", err)
	}
	if dec.More() {
		return 0, nil, badRequest("body must hold exactly one JSON object")
	}
	switch {
	case in.Username == nil || len(*in.Username) < 1 || len(*in.Username) > 64:
		return 0, nil, badRequest("username must be 1-64 characters")
	case in.Password == nil || len(*in.Password) < 1 || len(*in.Password) > 128:
		return 0, nil, badRequest("password must be 1-128 characters")
	case in.Level == nil || !userLevels[*in.Level]:
		return 0, nil, badRequest("level must be one of Administrator, Operator, User, Anonymous, Extended")
	}
	var res struct {
		Username string `json:"username"`
	}
	req := map[string]any{"username": *in.Username, "password": *in.Password, "level": *in.Level}
	if err := a.request(r.Context(), "camera.rpc."+id+".users-create", req, &res); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"cameraId": id, "username": res.Username}, nil
}

func (a *api) streamURI(r *http.Request, id string) (int, any, error) {
	q := r.URL.Query()
	req := map[string]any{}
	allowed := map[string][]string{"profile": nil, "stream": {"RTP-Unicast", "RTP-Multicast"}, "transport": {"UDP", "TCP", "RTSP", "HTTP"}}
	for key, values := range q {
		choices, ok := allowed[key]
		if !ok {
			return 0, nil, badRequest("unknown query parameter %q (profile, stream, transport)", key)
		}
		if len(values) != 1 || values[0] == "" {
			return 0, nil, badRequest("%s must be given once, not empty", key)
		}
		if choices != nil && !contains(choices, values[0]) {
			return 0, nil, badRequest("%s must be one of %s", key, strings.Join(choices, ", "))
		}
		req[key] = values[0]
	}
	var res struct {
		URI     string `json:"uri"`
		Profile string `json:"profile"`
	}
	if err := a.request(r.Context(), "camera.rpc."+id+".stream-uri", req, &res); err != nil {
		return 0, nil, err
	}
	if u, err := url.Parse(res.URI); err != nil || u.User != nil {
		return 0, nil, &apiError{http.StatusBadGateway, "camera-fault", "the worker returned an unusable URI"}
	}
	return http.StatusOK, map[string]string{"cameraId": id, "uri": res.URI, "profile": res.Profile}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// request is one bus request, its failures translated to HTTP.
func (a *api) request(ctx context.Context, topic string, req, res any) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	err := a.bus.Request(ctx, topic, req, res)
	var remote *udsbus.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, udsbus.ErrNoResponders):
		return &apiError{http.StatusServiceUnavailable, "no-worker", "no worker serves this camera"}
	case errors.Is(err, udsbus.ErrTimeout):
		return &apiError{http.StatusGatewayTimeout, "timeout", "the camera worker did not answer in time"}
	case errors.Is(err, udsbus.ErrDisconnected):
		return &apiError{http.StatusServiceUnavailable, "bus-unavailable", "the bus is not reachable right now"}
	case errors.As(err, &remote):
		status := map[string]int{
			"invalid-argument": http.StatusBadRequest,
			"not-found":        http.StatusNotFound,
			"unauthorized":     http.StatusBadGateway, // the camera refused the worker, not the caller
			"unreachable":      http.StatusBadGateway,
			"camera-fault":     http.StatusBadGateway,
			"timeout":          http.StatusGatewayTimeout,
			"internal":         http.StatusInternalServerError,
		}[remote.Code]
		if status == 0 {
			status = http.StatusBadGateway
		}
		return &apiError{status, remote.Code, remote.Message}
	}
	log.Printf("go-backend: %s: %v", topic, err)
	return &apiError{http.StatusInternalServerError, "internal", "unexpected error"}
}

func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{http.StatusInternalServerError, "internal", err.Error()}
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
