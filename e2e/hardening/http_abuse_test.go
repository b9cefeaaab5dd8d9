package hardening_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
)

// stateCookieOf returns the state cookie browser b holds for the callback of s.
func (s *stack) stateCookieOf(b *browser) string {
	s.t.Helper()
	u, _ := url.Parse(s.base + "/callback")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == httpapi.StateCookieName {
			return c.Value
		}
	}
	s.t.Fatal("no state cookie after /install")
	return ""
}

// callbackWith sends GET callbackURL (moved onto s) with exactly the given state cookie ("" = none).
func (s *stack) callbackWith(callbackURL, cookie string, accept string) response {
	s.t.Helper()
	u, err := url.Parse(callbackURL)
	if err != nil {
		s.t.Fatal(err)
	}
	target := s.base + "/callback?" + u.RawQuery
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.StateCookieName, Value: cookie})
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return do(s.t, noRedirect(), req)
}

func noRedirect() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestAbuse_CallbackCSRFMatrix: a callback is refused with 400 invalid_state, before any code reaches
// LiveChat, unless it carries the state /install issued to this very browser, unexpired and unused.
// A replay in another process reaches LiveChat only to be refused there (codes are single-use), and
// leaves the first installation and its key intact.
func TestAbuse_CallbackCSRFMatrix(t *testing.T) {
	s := newStack(t, stackConfig{})
	other := newStack(t, stackConfig{secret: "another-apps-client-secret-77"})

	type attempt struct {
		callbackURL, cookie string
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T) attempt
		// exchanged: the code reaches LiveChat (only the cross-process replay).
		exchanged bool
		code      string
	}{
		{"no cookie", func(t *testing.T) attempt {
			b := newBrowser(t)
			return attempt{s.consent(s.startInstall(b), s.account.AccountID), ""}
		}, false, "invalid_state"},
		{"cookie of another browser's attempt", func(t *testing.T) attempt {
			victim, attacker := newBrowser(t), newBrowser(t)
			cb := s.consent(s.startInstall(attacker), s.account.AccountID)
			s.startInstall(victim)
			return attempt{cb, s.stateCookieOf(victim)}
		}, false, "invalid_state"},
		{"forged cookie", func(t *testing.T) attempt {
			b := newBrowser(t)
			return attempt{s.consent(s.startInstall(b), s.account.AccountID), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		}, false, "invalid_state"},
		{"expired state", func(t *testing.T) attempt {
			b := newBrowser(t)
			cb := s.consent(s.startInstall(b), s.account.AccountID)
			s.sim.Advance(httpapi.DefaultStateTTL + time.Minute)
			return attempt{cb, s.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"state and cookie of another client", func(t *testing.T) attempt {
			b := newBrowser(t)
			loc := other.startInstall(b)
			u, _ := url.Parse(loc)
			state := u.Query().Get("state")
			return attempt{s.base + "/callback?code=" + url.QueryEscape("dal:forged-code-123") + "&state=" + url.QueryEscape(state), other.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"forged state with a code", func(t *testing.T) attempt {
			b := newBrowser(t)
			s.startInstall(b)
			return attempt{s.base + "/callback?code=dal%3Aforged&state=AQAAAABqHXRAul0repSYwB7UkO1ka4XixUFAv8kMfTYZq8akOrpAisarpyomdi4EwbRFGigGlLV_", s.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"error parameters without a cookie", func(t *testing.T) attempt {
			b := newBrowser(t)
			loc := s.startInstall(b)
			u, _ := url.Parse(loc)
			return attempt{s.base + "/callback?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")), ""}
		}, false, "invalid_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.prepare(t)
			before := s.sim.Calls(livechatsim.EndpointTokenExchange)
			r := s.callbackWith(a.callbackURL, a.cookie, "application/json")
			r.jsonError(t, http.StatusBadRequest, tt.code)
			if got := s.sim.Calls(livechatsim.EndpointTokenExchange) - before; got != 0 {
				t.Fatalf("%d code exchanges reached LiveChat for a forged callback", got)
			}
			if _, err := s.st.Get(context.Background(), store.InstallationID(s.account.OrganizationID, s.account.AccountID)); err == nil {
				t.Fatal("an installation was written")
			}
		})
	}

	t.Run("replayed state in the same process", func(t *testing.T) {
		b := newBrowser(t)
		cb := s.consent(s.startInstall(b), s.account.AccountID)
		cookie := s.stateCookieOf(b)
		first := s.callbackWith(cb, cookie, "application/json")
		if first.status != http.StatusOK {
			t.Fatalf("first callback: %d %s", first.status, first.body)
		}
		var res installResult
		_ = json.Unmarshal([]byte(first.body), &res)
		before := s.sim.Calls(livechatsim.EndpointTokenExchange)
		s.callbackWith(cb, cookie, "application/json").jsonError(t, http.StatusBadRequest, "invalid_state")
		if s.sim.Calls(livechatsim.EndpointTokenExchange) != before {
			t.Fatal("a replayed callback reached LiveChat")
		}

		// Another process (no memory of used states) with the same table and secret: LiveChat refuses
		// the used code; the installation and its key are untouched.
		inst := s.get(res.InstallationID)
		peer := newStack(t, stackConfig{table: s.table, sim: s.sim, simURL: s.simURL})
		// The state is bound to the client secret, not to a host: it verifies in the peer, and LiveChat
		// refuses the code it carries.
		peer.callbackWith(cb, cookie, "application/json").jsonError(t, http.StatusBadRequest, "exchange_failed")
		after := s.get(res.InstallationID)
		if after.Version != inst.Version || after.AccessToken != inst.AccessToken {
			t.Fatal("a replayed callback changed the installation")
		}
		if s.chats(res.APIKey, "limit=1").status != http.StatusOK {
			t.Fatal("the first installation's key stopped working")
		}
	})
	s.noSecretsLogged()
}

// TestAbuse_NoOpenRedirect: no input moves a redirect off the configured LiveChat authorize URL and
// our own /install; a code without our state restarts the flow once, then stops.
func TestAbuse_NoOpenRedirect(t *testing.T) {
	s := newStack(t, stackConfig{})
	simURL, _ := url.Parse(s.simURL)
	evil := "https://evil.example/steal"

	send := func(method, path, host string, cookies ...*http.Cookie) response {
		req, _ := http.NewRequest(method, s.base+path, nil)
		if host != "" {
			req.Host = host
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return do(t, noRedirect(), req)
	}
	for _, tt := range []struct{ name, path, host string }{
		{"redirect_uri parameter", "/install?redirect_uri=" + url.QueryEscape(evil), ""},
		{"next and return_to parameters", "/install?next=" + url.QueryEscape(evil) + "&return_to=" + url.QueryEscape(evil), ""},
		{"spoofed Host header", "/install", "evil.example"},
		{"spoofed Host and X-Forwarded-Host", "/install?redirect_uri=//evil.example", "evil.example:443"},
	} {
		t.Run("install "+tt.name, func(t *testing.T) {
			r := send(http.MethodGet, tt.path, tt.host)
			if r.status != http.StatusFound {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			loc, err := url.Parse(r.header.Get("Location"))
			if err != nil || loc.Host != simURL.Host || loc.Scheme != simURL.Scheme {
				t.Fatalf("redirect to %q, want the authorize URL on %s", r.header.Get("Location"), simURL.Host)
			}
			if got := loc.Query().Get("redirect_uri"); got != s.base+"/callback" {
				t.Fatalf("redirect_uri = %q, want the configured %q", got, s.base+"/callback")
			}
			if strings.Contains(r.header.Get("Location"), "evil") {
				t.Fatal("the authorize URL carries attacker input")
			}
		})
	}
	t.Run("callback without state restarts once, to our install URL only", func(t *testing.T) {
		r := send(http.MethodGet, "/callback?code=dal%3Adirect&redirect_uri="+url.QueryEscape(evil), "evil.example")
		if r.status != http.StatusFound || r.header.Get("Location") != s.base+"/install" {
			t.Fatalf("status %d Location %q, want 302 to %s", r.status, r.header.Get("Location"), s.base+"/install")
		}
		var restart *http.Cookie
		for _, c := range (&http.Response{Header: r.header}).Cookies() {
			if c.Name == httpapi.RestartCookieName {
				restart = c
			}
		}
		if restart == nil {
			t.Fatal("no restart cookie")
		}
		again := send(http.MethodGet, "/callback?code=dal%3Adirect", "", &http.Cookie{Name: restart.Name, Value: restart.Value})
		if again.status != http.StatusBadRequest || again.header.Get("Location") != "" {
			t.Fatalf("second code without state: %d Location %q, want 400 and no redirect", again.status, again.header.Get("Location"))
		}
	})
	t.Run("scheme-relative path", func(t *testing.T) {
		// net/http's mux cleans the path and may redirect, but only to a path on this host.
		r := send(http.MethodGet, "//evil.example/install", "")
		if loc := r.header.Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("redirect to %q leaves this host", loc)
			}
		}
	})
	if n := s.sim.Calls(livechatsim.EndpointTokenExchange); n != 0 {
		t.Fatalf("%d code exchanges", n)
	}
}

// TestAbuse_APIKeyGuessingLearnsNothing: an unknown installation, a wrong secret for a real one, a
// revoked key and malformed keys all get the same 401, byte for byte, after the same single read.
func TestAbuse_APIKeyGuessingLearnsNothing(t *testing.T) {
	s := newStack(t, stackConfig{})
	res := s.install(s.account.AccountID)
	oldKey := res.APIKey
	res = s.install(s.account.AccountID) // reinstall: the first key is revoked
	key := res.APIKey
	if s.chats(key, "limit=1").status != http.StatusOK {
		t.Fatal("the valid key does not work")
	}
	secretStart := len(store.APIKeyPrefix) + store.IDLength + 1
	flip := func(k string, i int) string {
		c := byte('a')
		if k[i] == 'a' {
			c = 'b'
		}
		return k[:i] + string(c) + k[i+1:]
	}
	unknownID := store.APIKeyPrefix + store.InstallationID("org-that-does-not-exist", "acc") + key[secretStart-1:]
	wellFormed := map[string]string{
		"unknown installation":             unknownID,
		"wrong secret, first character":    flip(key, secretStart),
		"wrong secret, last character":     flip(key, len(key)-1),
		"revoked key of the same tenant":   oldKey,
		"id of a real installation, blank": key[:secretStart] + strings.Repeat("a", len(key)-secretStart),
	}
	malformed := map[string]string{
		"truncated":       key[:len(key)-1],
		"extended":        key + "a",
		"upper case":      strings.ToUpper(key),
		"prefix only":     store.APIKeyPrefix,
		"separator moved": key[:secretStart-1] + "-" + key[secretStart:],
	}
	var ref response
	first := true
	for name, k := range wellFormed {
		t.Run(name, func(t *testing.T) {
			before := s.db.count("GetItem")
			r := s.chats(k, "limit=1")
			r.jsonError(t, http.StatusUnauthorized, "unauthorized")
			if reads := s.db.count("GetItem") - before; reads != 1 {
				t.Fatalf("%d reads, want exactly 1 for every well-formed key", reads)
			}
			if first {
				ref, first = r, false
				return
			}
			if r.body != ref.body || r.header.Get("WWW-Authenticate") != ref.header.Get("WWW-Authenticate") {
				t.Fatalf("answer differs from another bad key's:\n%s %s\n%s %s", r.body, r.header.Get("WWW-Authenticate"), ref.body, ref.header.Get("WWW-Authenticate"))
			}
		})
	}
	for name, k := range malformed {
		t.Run(name, func(t *testing.T) {
			before := s.db.count("GetItem")
			r := s.chats(k, "limit=1")
			r.jsonError(t, http.StatusUnauthorized, "unauthorized")
			if r.body != ref.body {
				t.Fatalf("a malformed key is told apart: %s vs %s", r.body, ref.body)
			}
			if reads := s.db.count("GetItem") - before; reads != 0 {
				t.Fatalf("a malformed key cost %d reads", reads)
			}
		})
	}
	// The log tells operators which installation a good key used, but never which one a bad key named.
	for _, l := range s.requestLogs("chats") {
		if l["status"] == float64(http.StatusUnauthorized) && l["installation_id"] != nil {
			t.Fatalf("a 401 log line names an installation: %v", l)
		}
	}
	vals := []string{key, oldKey}
	for _, k := range wellFormed {
		vals = append(vals, k)
	}
	s.noSecretsLogged(vals...)
}

// parseChatIDs returns the ids in a list_chats body.
func parseChatIDs(body string) (map[string]bool, error) {
	var b struct {
		Chats []struct {
			ID string `json:"id"`
		} `json:"chats_summary"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, c := range b.Chats {
		ids[c.ID] = true
	}
	return ids, nil
}

// chatIDs is parseChatIDs that fails the test on a bad body.
func chatIDs(t *testing.T, body string) map[string]bool {
	t.Helper()
	ids, err := parseChatIDs(body)
	if err != nil {
		t.Fatalf("list_chats body: %v", err)
	}
	return ids
}

// TestAbuse_CrossTenantIsolation: a key reads its own organization's chats only; splicing another
// installation's id into it, or using a key after its installation was reinstalled, gets a 401.
func TestAbuse_CrossTenantIsolation(t *testing.T) {
	s := newStack(t, stackConfig{})
	accB := s.sim.AddAccount(livechatsim.Account{Email: "b@example.com", Chats: 9})
	a := s.install(s.account.AccountID)
	b := s.install(accB.AccountID)
	if a.InstallationID == b.InstallationID || a.OrganizationID == b.OrganizationID {
		t.Fatal("two tenants share an installation")
	}
	ra, rb := s.chats(a.APIKey, "limit=100"), s.chats(b.APIKey, "limit=100")
	if ra.status != http.StatusOK || rb.status != http.StatusOK {
		t.Fatalf("status %d/%d", ra.status, rb.status)
	}
	idsA, idsB := chatIDs(t, ra.body), chatIDs(t, rb.body)
	if len(idsA) != 7 || len(idsB) != 9 {
		t.Fatalf("tenant A sees %d chats (want 7), B %d (want 9)", len(idsA), len(idsB))
	}
	for id := range idsA {
		if idsB[id] {
			t.Fatalf("chat %s visible to both tenants", id)
		}
	}
	secretStart := len(store.APIKeyPrefix) + store.IDLength + 1
	spliced := store.APIKeyPrefix + b.InstallationID + "_" + a.APIKey[secretStart:]
	s.chats(spliced, "limit=1").jsonError(t, http.StatusUnauthorized, "unauthorized")
	a2 := s.install(s.account.AccountID)
	s.chats(a.APIKey, "limit=1").jsonError(t, http.StatusUnauthorized, "unauthorized")
	if r := s.chats(a2.APIKey, "limit=100"); r.status != http.StatusOK || len(chatIDs(t, r.body)) != 7 {
		t.Fatalf("the new key: %d", r.status)
	}
	if r := s.chats(b.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("tenant B's key broke when A reinstalled: %d", r.status)
	}
}

// TestAbuse_HeaderAndLogInjection: CR/LF and forged log records in every input end up neither in a
// response header nor as a log line of their own; the server refuses raw control characters in headers.
func TestAbuse_HeaderAndLogInjection(t *testing.T) {
	s := newStack(t, stackConfig{})
	res := s.install(s.account.AccountID)
	forged := "\r\n{\"level\":\"ERROR\",\"msg\":\"forged\"}\r\nSet-Cookie: pwn=1"
	requests := 0

	// LiveChat's error parameters, reflected in the page, behind a valid state.
	b := newBrowser(t)
	loc, _ := url.Parse(s.startInstall(b))
	cb := s.base + "/callback?state=" + url.QueryEscape(loc.Query().Get("state")) +
		"&error=" + url.QueryEscape("invalid_scope"+forged) + "&error_description=" + url.QueryEscape(forged)
	r := b.get(cb)
	requests++
	if r.status != http.StatusBadRequest {
		t.Fatalf("callback with error: %d", r.status)
	}
	checkNoInjectedHeader(t, r)

	// /chats parameter names and values, and the JSON body.
	for _, q := range []string{
		url.QueryEscape("x"+forged) + "=1",
		"sort_order=" + url.QueryEscape(forged),
		"page_id=" + url.QueryEscape(forged),
	} {
		r := s.chats(res.APIKey, q)
		requests++
		if r.status != http.StatusBadRequest && r.status != http.StatusOK {
			t.Fatalf("query %q: %d %s", q, r.status, r.body)
		}
		if r.status == http.StatusBadRequest {
			r.anyJSONError(t)
		}
		checkNoInjectedHeader(t, r)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/chats", strings.NewReader(`{"sort_order":`+mustJSON(forged)+`}`))
	req.Header.Set("Authorization", "Bearer "+res.APIKey)
	r = do(t, http.DefaultClient, req)
	requests++
	r.jsonError(t, http.StatusBadRequest, "invalid_request")
	checkNoInjectedHeader(t, r)

	// Raw control characters in header values never reach a handler: net/http answers 400.
	for _, raw := range []string{
		"GET /chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer lca_x\rX-Evil: 1\r\n\r\n",
		"GET /chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00lca_x\r\n\r\n",
		"GET /callback?code=a\r\nX-Evil: 1 HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		status := rawRequest(t, s.base, raw)
		if status != http.StatusBadRequest {
			t.Fatalf("raw request with control characters: status %d, want 400", status)
		}
	}

	// Every log line is still one JSON object, none is the forged one, one request line per request.
	lines := s.logLines()
	n := 0
	for _, l := range lines {
		if l["msg"] == "forged" {
			t.Fatal("a forged log record became a log line")
		}
		if l["msg"] == "request" && (l["route"] == "chats" || (l["route"] == "callback" && l["status"] == float64(http.StatusBadRequest))) {
			n++
		}
	}
	if n < requests {
		t.Fatalf("%d request log lines for %d requests", n, requests)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func checkNoInjectedHeader(t *testing.T, r response) {
	t.Helper()
	for name, vals := range r.header {
		for _, v := range vals {
			if strings.Contains(v, "pwn") || strings.ContainsAny(v, "\r\n") {
				t.Fatalf("header %s = %q carries injected input", name, v)
			}
		}
	}
}

// rawRequest writes raw to the server and returns the status of its answer.
func rawRequest(t *testing.T, base, raw string) int {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a raw request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// endless is a request body that never ends; it counts what the server read.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	if e.n.Add(int64(len(p))) > 64<<20 {
		return 0, io.EOF // safety stop: the test fails below if the server read this much
	}
	return len(p), nil
}

// TestAbuse_OversizedInputsGet4xx: over-long queries, bodies, headers and API keys get a 4xx with a
// JSON error (or net/http's own 431 for headers), and an endless body is not read to its end.
func TestAbuse_OversizedInputsGet4xx(t *testing.T) {
	s := newStack(t, stackConfig{})
	res := s.install(s.account.AccountID)
	long := strings.Repeat("a", httpapi.DefaultMaxQueryBytes+1)

	s.chats(res.APIKey, "page_id="+long).jsonError(t, http.StatusRequestURITooLong, "request_too_large")
	jb := newBrowser(t)
	jb.accept = "application/json"
	jb.get(s.base+"/callback?code="+long).jsonError(t, http.StatusRequestURITooLong, "request_too_large")
	jb.get(s.base+"/install?x="+long).jsonError(t, http.StatusRequestURITooLong, "request_too_large")
	s.chats(res.APIKey, "group_ids="+strings.TrimSuffix(strings.Repeat("1,", 201), ",")).jsonError(t, http.StatusBadRequest, "invalid_request")
	s.chats(store.APIKeyPrefix+strings.Repeat("a", 600), "limit=1").jsonError(t, http.StatusUnauthorized, "unauthorized")

	post := func(body io.Reader, length int64) response {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/chats", body)
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+res.APIKey)
		req.Header.Set("Content-Type", "application/json")
		return do(t, http.DefaultClient, req)
	}
	big := `{"filters":{"properties":{"k":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}}}`
	post(strings.NewReader(big), int64(len(big))).jsonError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	e := &endless{}
	post(e, -1).jsonError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	if n := e.n.Load(); n > 8<<20 {
		t.Fatalf("the server read %d bytes of an endless body", n)
	}

	req, _ := http.NewRequest(http.MethodGet, s.base+"/chats", nil)
	req.Header.Set("Authorization", "Bearer "+res.APIKey)
	req.Header.Set("X-Pad", strings.Repeat("p", httpapi.MaxHeaderBytes+4096))
	if r := do(t, http.DefaultClient, req); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", r.status)
	}
	if n := s.sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Fatalf("oversized input reached LiveChat %d times", n)
	}
}

// TestAbuse_HTMLInjectionIsEscaped: markup in LiveChat's error parameters and in identifiers LiveChat
// returns is escaped on our pages, which also carry a script-free Content-Security-Policy.
func TestAbuse_HTMLInjectionIsEscaped(t *testing.T) {
	s := newStack(t, stackConfig{})
	payloads := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `javascript:alert(1)`, `</p><iframe src=//evil.example>`}
	checkPage := func(t *testing.T, r response, scripts int) {
		t.Helper()
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP %q", csp)
		}
		low := strings.ToLower(r.body)
		if strings.Count(low, "<script") != scripts || strings.Contains(low, "<img") || strings.Contains(low, "<iframe") || strings.Contains(low, `href="javascript:`) {
			t.Fatalf("markup injected into the page:\n%s", r.body)
		}
	}
	for i, p := range payloads {
		t.Run(fmt.Sprintf("error parameters %d", i), func(t *testing.T) {
			b := newBrowser(t)
			loc, _ := url.Parse(s.startInstall(b))
			r := b.get(s.base + "/callback?state=" + url.QueryEscape(loc.Query().Get("state")) + "&error=" + url.QueryEscape(p) + "&error_description=" + url.QueryEscape(p))
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d", r.status)
			}
			checkPage(t, r, 0)
		})
	}
	t.Run("identifiers from LiveChat on the success page", func(t *testing.T) {
		acc := s.sim.AddAccount(livechatsim.Account{OrganizationID: payloads[1], Email: "x@example.com"})
		b := newBrowser(t)
		r := b.get(s.consent(s.startInstall(b), acc.AccountID))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, 1)
		if !strings.Contains(r.body, "&#34;&gt;&lt;img") {
			t.Fatalf("organization id not escaped as expected:\n%s", r.body)
		}
	})
}
