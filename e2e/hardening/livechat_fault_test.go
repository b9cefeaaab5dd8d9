package hardening_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/syncbuf"
)

// newDueStack starts a stack with one installation whose token is due (30 minutes left) and runs
// prepare, if any, on it.
func newDueStack(t *testing.T, prepare func(*stack, livechatsim.Account)) (*stack, *store.Installation, livechatsim.Account) {
	t.Helper()
	s := newStack(t, harness.Options{})
	inst, _, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
	s.Sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
	if prepare != nil {
		prepare(s, acc)
	}
	return s, inst, acc
}

// failingPass runs a pass that must fail, stopped for reason, raise the PassFailed metric and leave
// every installation of insts unchanged; it returns the pass's error.
func (s *stack) failingPass(t *testing.T, reason string, insts []*store.Installation) error {
	t.Helper()
	metrics := &syncbuf.Buffer{}
	sum, err := s.passRefresher(metrics).RunPass(context.Background())
	if !sum.PassFailed || sum.StoppedReason != reason {
		t.Fatalf("summary %+v err %v, want a failed pass stopped as %s", sum, err, reason)
	}
	if metricValue(metrics.String(), "PassFailed") != 1 {
		t.Fatalf("PassFailed metric not 1:\n%s", metrics.String())
	}
	for _, inst := range insts {
		s.unchanged(inst)
	}
	return err
}

// faultCase is one LiveChat fault and the answer /chats must give for it: status, error code and
// the error class its request log line names.
type faultCase struct {
	name   string
	fault  livechatsim.Fault
	status int
	code   string
	class  string
}

// faultOnce clears the simulator's faults and makes the next call to endpoint fail with f.
func (s *stack) faultOnce(endpoint livechatsim.Endpoint, f livechatsim.Fault) {
	s.Sim.ClearFaults()
	f.Times = 1
	s.Sim.InjectFault(endpoint, f)
}

// unchanged asserts that the stored installation still has before's tokens and version and is active:
// a fault lost nothing and marked nothing.
func (s *stack) unchanged(before *store.Installation) *store.Installation {
	s.T.Helper()
	now := s.Get(before.ID)
	switch {
	case now.Status != store.StatusActive:
		s.T.Fatalf("installation marked %s (%s) by a fault that is not its own", now.Status, now.StatusReason)
	case now.AccessToken != before.AccessToken || now.RefreshToken != before.RefreshToken:
		s.T.Fatal("the stored tokens changed")
	case now.Version != before.Version:
		s.T.Fatalf("version %d, want %d", now.Version, before.Version)
	}
	return now
}

// passRefresher is a refresher over the stack's store and LiveChat client with test-scaled timings,
// logging to the stack's log and writing metrics to metrics.
func (s *stack) passRefresher(metrics *syncbuf.Buffer) *refresh.Refresher {
	return refresh.New(s.Store, s.App.LiveChat(), refresh.Options{
		Concurrency: 4, LeaseTTL: 10 * time.Second, WaitForOther: 2 * time.Second, SafetyMargin: 300 * time.Millisecond,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxGlobalBackoff: 200 * time.Millisecond,
		StoreTimeout: 2 * time.Second, MinCallTime: 100 * time.Millisecond, MaxAttempts: 3,
		Now: s.Sim.Now, Logger: slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: metrics, OwnerPrefix: "pass",
	})
}

// metricValue returns the value of an EMF metric in the last metrics line that has it (-1 if none).
func metricValue(metrics, name string) float64 {
	v := -1.0
	for _, line := range strings.Split(metrics, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if f, ok := m[name].(float64); ok {
			v = f
		}
	}
	return v
}

// TestFault_ListChatsFailuresAnswerJSONAndKeepTokens: whatever list_chats does wrong (5xx, 429, cut-off
// or malformed JSON, an 11 MiB body, a reset connection, a hang, slowness), /chats answers a JSON error
// with the right status (or 200 when it merely was slow), touches no token and marks nothing.
func TestFault_ListChatsFailuresAnswerJSONAndKeepTokens(t *testing.T) {
	s := newStack(t, harness.Options{LiveChatTimeout: time.Second})
	inst, key, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
	tests := []faultCase{
		{"500 internal", livechatsim.Fault{Status: 500}, 502, "upstream_error", "transient"},
		{"503 service unavailable", livechatsim.Fault{Status: 503}, 502, "upstream_error", "transient"},
		{"429 with Retry-After", livechatsim.Fault{Status: 429, RetryAfter: 7 * time.Second}, 429, "rate_limited", "rate_limited"},
		{"truncated JSON", livechatsim.Fault{Malformed: true}, 502, "upstream_error", "transient"},
		{"HTML instead of JSON", livechatsim.Fault{Status: 200, Body: "<html>proxy error</html>"}, 502, "upstream_error", "transient"},
		{"error body not JSON", livechatsim.Fault{Status: 502, Body: "Bad Gateway"}, 502, "upstream_error", "transient"},
		{"connection reset", livechatsim.Fault{Reset: true}, 502, "upstream_error", "transient"},
		{"hang until timeout", livechatsim.Fault{Hang: true}, 504, "upstream_timeout", "transient"},
		{"slower than the client timeout", livechatsim.Fault{Latency: 3 * time.Second}, 504, "upstream_timeout", "transient"},
		{"slow but in time", livechatsim.Fault{Latency: 200 * time.Millisecond}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.faultOnce(livechatsim.EndpointListChats, tt.fault)
			r := s.Chats(key, "limit=5")
			r.Want(t, tt.status, tt.code)
			if tt.status != http.StatusOK {
				l := s.LastRequestLog("chats")
				if l["status"] != float64(tt.status) || l["error_class"] != tt.class {
					t.Fatalf("request log %v, want status %d error_class %s", l, tt.status, tt.class)
				}
			}
			if tt.status == http.StatusTooManyRequests && r.Header.Get("Retry-After") != "7" {
				t.Fatalf("Retry-After %q, want LiveChat's 7", r.Header.Get("Retry-After"))
			}
			s.unchanged(inst)
			if n := s.Sim.RefreshesOf(acc.AccountID); n != 0 {
				t.Fatalf("%d refreshes for a list_chats fault", n)
			}
			// The next request, with LiveChat healthy again, works.
			if r := s.Chats(key, "limit=5"); r.Status != http.StatusOK {
				t.Fatalf("after the fault: %d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("huge body", func(t *testing.T) {
		// 11 MiB over the 10 MiB limit: refused as too large (502 response_too_large: ask for a smaller
		// limit), or cut by the client timeout on a slow machine; either way a JSON 5xx of class transient.
		s.Sim.ClearFaults()
		s.Sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Huge: true, Times: 1})
		r := s.Chats(key, "limit=5")
		switch r.Status {
		case http.StatusBadGateway:
			r.JSONError(t, http.StatusBadGateway, "response_too_large")
		case http.StatusGatewayTimeout:
			r.AnyJSONError(t)
		default:
			t.Fatalf("status %d, want 502 response_too_large or 504", r.Status)
		}
		if l := s.LastRequestLog("chats"); l["error_class"] != "transient" {
			t.Fatalf("request log %v", l)
		}
		s.unchanged(inst)
	})
	t.Run("token rejected once: one refresh, one retry", func(t *testing.T) {
		s.Sim.ClearFaults()
		s.Sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 401, Times: 1})
		if r := s.Chats(key, "limit=5"); r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if n := s.Sim.RefreshesOf(acc.AccountID); n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		if l := s.LastRequestLog("chats"); l["refreshed"] != "rejected" {
			t.Fatalf("request log %v, want refreshed=rejected", l)
		}
		now := s.Get(inst.ID)
		if now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken) {
			t.Fatal("the refreshed token was not saved")
		}
	})
	s.NoSecretsLogged(key, inst.AccessToken, inst.RefreshToken)
}

// TestFault_TokenEndpointFailuresDuringChats: with the access token expired, a failing refresh
// answers a JSON 429/502/504 and leaves the stored tokens and status as they were (even when LiveChat
// claims our client credentials are wrong); once LiveChat recovers, one refresh fixes it. With the token
// about to expire but still valid, a failed refresh falls back to the old token.
func TestFault_TokenEndpointFailuresDuringChats(t *testing.T) {
	s := newStack(t, harness.Options{LiveChatTimeout: time.Second})
	inst, key, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
	s.Sim.Advance(livechatsim.DefaultTokenLifetime + time.Minute) // expired
	tests := []faultCase{
		{"500 server_error", livechatsim.Fault{Status: 500}, 502, "upstream_error", "transient"},
		{"429 temporarily_unavailable", livechatsim.Fault{Status: 429, RetryAfter: 3 * time.Second}, 429, "rate_limited", "rate_limited"},
		{"truncated JSON", livechatsim.Fault{Malformed: true}, 502, "upstream_error", "transient"},
		{"200 without a token", livechatsim.Fault{Status: 200, Body: `{"token_type":"Bearer"}`}, 502, "upstream_error", "transient"},
		{"huge body", livechatsim.Fault{Huge: true}, 502, "upstream_error", "transient"},
		{"connection reset", livechatsim.Fault{Reset: true}, 502, "upstream_error", "transient"},
		{"hang until timeout", livechatsim.Fault{Hang: true}, 504, "upstream_timeout", "transient"},
		{"401 unauthorized_client (our credentials?)", livechatsim.Fault{Status: 401}, 502, "upstream_error", "misconfiguration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.faultOnce(livechatsim.EndpointTokenRefresh, tt.fault)
			r := s.Chats(key, "limit=5")
			r.JSONError(t, tt.status, tt.code)
			if l := s.LastRequestLog("chats"); l["error_class"] != tt.class || l["refreshed"] != "expiring" {
				t.Fatalf("request log %v, want error_class %s refreshed=expiring", l, tt.class)
			}
			if !s.HasLog("refresh: refresh failed", map[string]any{"installation_id": inst.ID, "class": tt.class}) {
				t.Fatal(`no "refresh: refresh failed" line with the class`)
			}
			now := s.unchanged(inst)
			if now.LastRefreshError == nil || now.LastRefreshError.Class != tt.class {
				t.Fatalf("LastRefreshError = %+v, want class %s", now.LastRefreshError, tt.class)
			}
			if n := s.Sim.RefreshesOf(acc.AccountID); n != 0 {
				t.Fatalf("%d successful refreshes", n)
			}
		})
	}
	s.Sim.ClearFaults()
	if r := s.Chats(key, "limit=5"); r.Status != http.StatusOK {
		t.Fatalf("after LiveChat recovered: %d %s", r.Status, r.Body)
	}
	now := s.Get(inst.ID)
	if n := s.Sim.RefreshesOf(acc.AccountID); n != 1 || now.Version != inst.Version+1 || now.LastRefreshError != nil || !s.Sim.TokenValid(now.AccessToken) {
		t.Fatalf("recovery: %d refreshes, version %d (was %d), last error %+v", n, now.Version, inst.Version, now.LastRefreshError)
	}

	t.Run("expiring but valid: falls back to the old token", func(t *testing.T) {
		s.Sim.Advance(now.ExpiresAt.Sub(s.Sim.Now()) - time.Minute)
		s.Sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 503, Times: 1})
		if r := s.Chats(key, "limit=5"); r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if l := s.LastRequestLog("chats"); l["error_class"] != "refresh_transient" {
			t.Fatalf("request log %v, want error_class refresh_transient", l)
		}
		s.unchanged(now)
	})
	s.NoSecretsLogged(key, inst.AccessToken, inst.RefreshToken, now.AccessToken)
}

// TestFault_TokenEndpointFailuresDuringPass: a scheduled pass meets 5xx, 429, malformed answers and
// resets: it retries with backoff, counts the class in its summary and metrics, keeps every token and
// marks nothing; wrong client credentials across installations trip the circuit breaker instead of
// marking anyone; the next healthy pass refreshes them all.
func TestFault_TokenEndpointFailuresDuringPass(t *testing.T) {
	s := newStack(t, harness.Options{LiveChatTimeout: time.Second})
	var insts []*store.Installation
	var accs []livechatsim.Account
	for range 3 {
		inst, _, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
		insts, accs = append(insts, inst), append(accs, acc)
	}
	s.Sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute) // due within the default 60m window
	tests := []struct {
		name   string
		fault  livechatsim.Fault
		class  string
		metric string
	}{
		{"500", livechatsim.Fault{Status: 500}, "transient", "FailedTransient"},
		{"429", livechatsim.Fault{Status: 429}, "rate_limited", "FailedRateLimited"},
		{"truncated JSON", livechatsim.Fault{Malformed: true}, "transient", "FailedTransient"},
		{"connection reset", livechatsim.Fault{Reset: true}, "transient", "FailedTransient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Sim.ClearFaults()
			s.Sim.InjectFault(livechatsim.EndpointTokenRefresh, tt.fault)
			metrics := &syncbuf.Buffer{}
			sum, err := s.passRefresher(metrics).RunPass(context.Background())
			if err != nil {
				t.Fatalf("RunPass: %v (a LiveChat outage must not fail the pass)", err)
			}
			if sum.Failed[tt.class] != 3 || sum.Refreshed != 0 || sum.ReauthorizationRequired != 0 || sum.PassFailed {
				t.Fatalf("summary %+v, want 3 failed as %s", sum, tt.class)
			}
			if sum.Retries == 0 {
				t.Fatal("no retries")
			}
			if got := metricValue(metrics.String(), tt.metric); got != 3 {
				t.Fatalf("metric %s = %v, want 3\n%s", tt.metric, got, metrics.String())
			}
			for _, inst := range insts {
				s.unchanged(inst)
			}
		})
	}
	t.Run("wrong client secret trips the circuit breaker", func(t *testing.T) {
		s.Sim.ClearFaults()
		s.Sim.SetClientSecret("rotated-at-livechat-but-not-here")
		defer s.Sim.SetClientSecret(clientSecret)
		if err := s.failingPass(t, refresh.StopCircuitBreaker, insts); err == nil {
			t.Fatal("a pass stopped by the circuit breaker returned no error")
		}
	})
	s.Sim.ClearFaults()
	sum, err := s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
	if err != nil || sum.Refreshed != 3 {
		t.Fatalf("healthy pass: %+v %v", sum, err)
	}
	for i, inst := range insts {
		now := s.Get(inst.ID)
		if now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken) || s.Sim.RefreshesOf(accs[i].AccountID) != 1 {
			t.Fatalf("installation %d not recovered: version %d", i, now.Version)
		}
	}
	s.NoSecretsLogged(insts[0].AccessToken, insts[0].RefreshToken)
}
