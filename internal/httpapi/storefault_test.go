package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"lcauth/internal/httpapi"
	"lcauth/internal/testrig/harness"
)

// TestChats_StoreDownAnswers503WithRetryAfter: when DynamoDB cannot be reached, /chats answers 503
// service_unavailable with Retry-After (clients retry; it is not our bug), and the log has the cause.
func TestChats_StoreDownAnswers503WithRetryAfter(t *testing.T) {
	e, key := newInstalledEnv(t)
	e.DB.Add(harness.Rule{Kind: harness.Down})
	r := e.Chats(key, "")
	r.JSONError(t, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After on a 503: %v", r.Header)
	}
	if l := e.LastRequestLog("chats"); l["error_class"] != "store" || l["error"] == nil {
		t.Fatalf("request log %v, want error_class store and the error", l)
	}
}

// TestCallback_StoreDownAnswers503AndShowsNoKey: the code was exchanged but the installation cannot be
// saved: 503 service_unavailable, and no API key is shown.
func TestCallback_StoreDownAnswers503AndShowsNoKey(t *testing.T) {
	e := newEnv(t)
	b, cb := e.Consented(e.Account.AccountID)
	e.DB.Add(harness.Rule{Kind: harness.Down})
	r := b.Get(cb)
	r.JSONError(t, http.StatusServiceUnavailable, httpapi.CodeUnavailable)
	if strings.Contains(r.Body, "lca_") {
		t.Fatalf("a key was shown although nothing was saved: %s", r.Body)
	}
}

// TestRoutes_EveryRouteIsServed: each route httpapi.Routes lists (the stack's API Gateway routes)
// reaches a handler of its function: no 404 or 405 from the router.
func TestRoutes_EveryRouteIsServed(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for _, rt := range httpapi.Routes() {
		if rt.Function == "" || seen[rt.Method+" "+rt.Path] {
			t.Fatalf("route %+v: no function, or listed twice", rt)
		}
		seen[rt.Method+" "+rt.Path] = true
		method := rt.Method
		if method == httpapi.MethodAny {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, e.URL+rt.Path, nil)
		r := harness.Do(t, http.DefaultClient, req)
		if r.Status == http.StatusNotFound && strings.Contains(r.Body, "No such route") || r.Status == http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d %s", rt.Method, rt.Path, r.Status, r.Body)
		}
	}
}
