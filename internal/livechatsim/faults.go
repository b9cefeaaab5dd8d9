package livechatsim

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Endpoint names one simulated endpoint for faults, latency and call counters.
type Endpoint string

// The simulated endpoints. The token endpoint counts as two, by grant_type; a token
// request with no or another grant_type counts as EndpointTokenExchange.
const (
	EndpointAuthorize     Endpoint = "authorize"      // GET / (consent page) and Simulator.Authorize/Deny
	EndpointTokenExchange Endpoint = "token_exchange" // POST /v2/token grant_type=authorization_code
	EndpointTokenRefresh  Endpoint = "token_refresh"  // POST /v2/token grant_type=refresh_token
	EndpointInfo          Endpoint = "info"           // GET /v2/info
	EndpointRevoke        Endpoint = "revoke"         // DELETE /v2/token
	EndpointListChats     Endpoint = "list_chats"     // POST /v3.6/agent/action/list_chats
)

// HugeBodySize is the size of a Fault.Huge body: over the client's 10 MiB List Chats
// limit (and so over every limit).
const HugeBodySize = 11 << 20

// Fault is something going wrong at one endpoint. Fields combine in this order:
// Latency (then continue), Reset, Hang, then the answer: Status (default 200 when
// Body, Malformed or Huge is set) with Body, else a truncated JSON body if Malformed,
// else a valid but Huge body, else LiveChat's error body for Status on that endpoint.
// A Fault with only Latency delays the real answer.
type Fault struct {
	// Status is the HTTP status to answer with.
	Status int
	// Body replaces the answer's body verbatim.
	Body string
	// Latency delays the request (bounded by the request's context).
	Latency time.Duration
	// Hang holds the request until its context ends (client timeout or disconnect)
	// or the simulator is closed.
	Hang bool
	// Malformed answers truncated JSON.
	Malformed bool
	// Reset closes the TCP connection with a RST, without any answer.
	Reset bool
	// Huge answers HugeBodySize bytes of valid JSON.
	Huge bool
	// RetryAfter sets the Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// Times is how many requests the fault applies to; 0 means every request.
	Times int
}

type faultState struct {
	f    Fault
	left int // -1 = forever
}

// InjectFault queues f for endpoint e. Queued faults apply in order, each for its
// Times requests; a fault with Times 0 stays until ClearFaults.
func (s *Simulator) InjectFault(e Endpoint, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.faults[e] = append(s.faults[e], &faultState{f: f, left: left})
}

// ClearFaults removes every queued fault and every latency setting.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Endpoint][]*faultState{}
	s.latency = map[Endpoint]time.Duration{}
}

// SetLatency delays every request to e by d (0 removes it), before any fault.
func (s *Simulator) SetLatency(e Endpoint, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, e)
		return
	}
	s.latency[e] = d
}

// Calls counts the requests that reached e, faulted or not.
func (s *Simulator) Calls(e Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[e]
}

// begin counts a call to e and takes the fault that applies to it, if any.
func (s *Simulator) begin(e Endpoint) (latency time.Duration, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[e]++
	latency = s.latency[e]
	q := s.faults[e]
	if len(q) == 0 {
		return latency, nil
	}
	fs := q[0]
	ff := fs.f
	if fs.left > 0 {
		fs.left--
		if fs.left == 0 {
			s.faults[e] = q[1:]
		}
	}
	return latency, &ff
}

// sleep waits d or until ctx ends or the simulator closes; false if cut short.
func (s *Simulator) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// abortIfClosed drops the connection of a request cut short by Close, so that the
// client sees a failure rather than an empty 200.
func (s *Simulator) abortIfClosed() {
	select {
	case <-s.done:
		panic(http.ErrAbortHandler)
	default:
	}
}

// intercept runs the latency and fault for e. It returns true when it answered the
// request itself (the real handler must not run).
func (s *Simulator) intercept(e Endpoint, w http.ResponseWriter, r *http.Request) bool {
	latency, f := s.begin(e)
	if !s.sleep(r.Context(), latency) {
		s.abortIfClosed()
		return true
	}
	if f == nil {
		return false
	}
	if !s.sleep(r.Context(), f.Latency) {
		s.abortIfClosed()
		return true
	}
	switch {
	case f.Reset:
		resetConnection(w)
		return true
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
			// Released by Close: drop the connection rather than answer 200.
			panic(http.ErrAbortHandler)
		}
		return true
	}
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	status := f.Status
	if status == 0 && (f.Body != "" || f.Malformed || f.Huge) {
		status = http.StatusOK
	}
	switch {
	case f.Body != "":
		writeRaw(w, status, f.Body)
	case f.Malformed:
		writeRaw(w, status, malformedBody(e))
	case f.Huge:
		writeHuge(w, status)
	case status != 0:
		s.writeDefaultError(w, r, e, status)
	default:
		return false
	}
	return true
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// malformedBody is JSON cut off in the middle, as a proxy dropping the connection
// mid-body would leave it.
func malformedBody(e Endpoint) string {
	switch e {
	case EndpointTokenExchange, EndpointTokenRefresh:
		return `{"access_token":"dal:trunc`
	case EndpointListChats:
		return `{"chats_summary":[{"id":"PJ0MRSHTDG","users":[`
	}
	return `{"account_id":`
}

// writeHuge streams HugeBodySize bytes of valid JSON without holding them in memory.
func writeHuge(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	const item = `{"id":"HUGEHUGEHU","properties":{"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}},`
	bw := bufio.NewWriterSize(w, 64<<10)
	n, _ := bw.WriteString(`{"chats_summary":[`)
	for n < HugeBodySize {
		m, err := bw.WriteString(item)
		if err != nil {
			return // the client stopped reading at its limit
		}
		n += m
	}
	_, _ = bw.WriteString(`{"id":"HUGEHUGEHU"}],"found_chats":1}`)
	_ = bw.Flush()
}

// resetConnection hijacks the connection and closes it with SO_LINGER 0, which sends
// a TCP RST: the client sees "connection reset by peer", not a clean EOF.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: aborting the stream is the closest thing
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeDefaultError answers status with the error body LiveChat would send for it on
// endpoint e.
func (s *Simulator) writeDefaultError(w http.ResponseWriter, r *http.Request, e Endpoint, status int) {
	switch e {
	case EndpointListChats:
		typ := "internal"
		switch {
		case status == http.StatusTooManyRequests:
			typ = "too_many_requests"
		case status == http.StatusUnauthorized:
			typ = "authentication"
		case status == http.StatusForbidden:
			typ = "authorization"
		case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
			typ = "request_timeout"
		case status == http.StatusServiceUnavailable || status == http.StatusBadGateway:
			typ = "service_unavailable"
		case status >= 400 && status < 500:
			typ = "validation"
		}
		writeAPIError(w, status, typ, "Simulated "+strings.ReplaceAll(typ, "_", " ")+" error", nil)
	case EndpointAuthorize:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>LiveChat simulator</title><p>Simulated HTTP %d.</p>", status)
	default:
		code := "server_error"
		switch {
		case status == http.StatusTooManyRequests:
			code = "temporarily_unavailable"
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			code = "unauthorized_client"
			if e == EndpointInfo || e == EndpointRevoke {
				code = "invalid_token"
			}
		case status == http.StatusNotFound:
			code = "not_found"
		case status >= 400 && status < 500:
			code = "invalid_request"
		}
		s.writeTokenError(w, status, code, "Simulated "+strings.ReplaceAll(code, "_", " "))
	}
}
