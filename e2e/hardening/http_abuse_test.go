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
	"lcauth/internal/testrig/harness"
)

// stateCookieOf returns the state cookie browser b holds for the callback of s.
func (s *stack) stateCookieOf(b *harness.Browser) string {
	s.T.Helper()
	u, _ := url.Parse(s.URL + "/callback")
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == httpapi.StateCookieName {
			return c.Value
		}
	}
	s.T.Fatal("no state cookie after /install")
	return ""
}

// callbackWith sends GET callbackURL (moved onto s) with exactly the given state cookie ("" = none).
func (s *stack) callbackWith(callbackURL, cookie string, accept string) harness.Response {
	s.T.Helper()
	u, err := url.Parse(callbackURL)
	if err != nil {
		s.T.Fatal(err)
	}
	target := s.URL + "/callback?" + u.RawQuery
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.StateCookieName, Value: cookie})
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return harness.Do(s.T, noRedirect(), req)
}

func noRedirect() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestAbuse_CallbackCSRFMatrix: a callback is refused with 400 invalid_state, before any code reaches
// LiveChat, unless it carries the state /install issued to this very browser, unexpired and unused.
// A replay in another process reaches LiveChat only to be refused there (codes are single-use), and
// leaves the first installation and its key intact.
func TestAbuse_CallbackCSRFMatrix(t *testing.T) {
	s := newStack(t, harness.Options{})
	other := newStack(t, harness.Options{ClientSecret: "another-apps-client-secret-77"})

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
			b := harness.NewBrowser(t)
			return attempt{s.Consent(s.StartInstall(b), s.Account.AccountID), ""}
		}, false, "invalid_state"},
		{"cookie of another browser's attempt", func(t *testing.T) attempt {
			victim, attacker := harness.NewBrowser(t), harness.NewBrowser(t)
			cb := s.Consent(s.StartInstall(attacker), s.Account.AccountID)
			s.StartInstall(victim)
			return attempt{cb, s.stateCookieOf(victim)}
		}, false, "invalid_state"},
		{"forged cookie", func(t *testing.T) attempt {
			b := harness.NewBrowser(t)
			return attempt{s.Consent(s.StartInstall(b), s.Account.AccountID), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		}, false, "invalid_state"},
		{"expired state", func(t *testing.T) attempt {
			b := harness.NewBrowser(t)
			cb := s.Consent(s.StartInstall(b), s.Account.AccountID)
			s.Sim.Advance(httpapi.DefaultStateTTL + time.Minute)
			return attempt{cb, s.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"state and cookie of another client", func(t *testing.T) attempt {
			b := harness.NewBrowser(t)
			loc := other.StartInstall(b)
			u, _ := url.Parse(loc)
			state := u.Query().Get("state")
			return attempt{s.URL + "/callback?code=" + url.QueryEscape("dal:forged-code-123") + "&state=" + url.QueryEscape(state), other.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"forged state with a code", func(t *testing.T) attempt {
			b := harness.NewBrowser(t)
			s.StartInstall(b)
			return attempt{s.URL + "/callback?code=dal%3Aforged&state=AQAAAABqHXRAul0repSYwB7UkO1ka4XixUFAv8kMfTYZq8akOrpAisarpyomdi4EwbRFGigGlLV_", s.stateCookieOf(b)}
		}, false, "invalid_state"},
		{"error parameters without a cookie", func(t *testing.T) attempt {
			b := harness.NewBrowser(t)
			loc := s.StartInstall(b)
			u, _ := url.Parse(loc)
			return attempt{s.URL + "/callback?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")), ""}
		}, false, "invalid_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.prepare(t)
			before := s.Sim.Calls(livechatsim.EndpointTokenExchange)
			r := s.callbackWith(a.callbackURL, a.cookie, "application/json")
			r.JSONError(t, http.StatusBadRequest, tt.code)
			if got := s.Sim.Calls(livechatsim.EndpointTokenExchange) - before; got != 0 {
				t.Fatalf("%d code exchanges reached LiveChat for a forged callback", got)
			}
			if _, err := s.Store.Get(context.Background(), store.InstallationID(s.Account.OrganizationID, s.Account.AccountID)); err == nil {
				t.Fatal("an installation was written")
			}
		})
	}

	t.Run("replayed state in the same process", func(t *testing.T) {
		b := harness.NewBrowser(t)
		cb := s.Consent(s.StartInstall(b), s.Account.AccountID)
		cookie := s.stateCookieOf(b)
		first := s.callbackWith(cb, cookie, "application/json")
		if first.Status != http.StatusOK {
			t.Fatalf("first callback: %d %s", first.Status, first.Body)
		}
		var res harness.InstallResult
		_ = json.Unmarshal([]byte(first.Body), &res)
		before := s.Sim.Calls(livechatsim.EndpointTokenExchange)
		s.callbackWith(cb, cookie, "application/json").JSONError(t, http.StatusBadRequest, "invalid_state")
		if s.Sim.Calls(livechatsim.EndpointTokenExchange) != before {
			t.Fatal("a replayed callback reached LiveChat")
		}

		// Another process (no memory of used states) with the same table and secret: LiveChat refuses
		// the used code; the installation and its key are untouched.
		inst := s.Get(res.InstallationID)
		peer := newStack(t, harness.Options{Table: s.Table, Sim: s.Sim, SimURL: s.SimURL})
		// The state is bound to the client secret, not to a host: it verifies in the peer, and LiveChat
		// refuses the code it carries.
		peer.callbackWith(cb, cookie, "application/json").JSONError(t, http.StatusBadRequest, "exchange_failed")
		after := s.Get(res.InstallationID)
		if after.Version != inst.Version || after.AccessToken != inst.AccessToken {
			t.Fatal("a replayed callback changed the installation")
		}
		if s.Chats(res.APIKey, "limit=1").Status != http.StatusOK {
			t.Fatal("the first installation's key stopped working")
		}
	})
	s.NoSecretsLogged()
}

// TestAbuse_NoOpenRedirect: no input moves a redirect off the configured LiveChat authorize URL and
// our own /install; a code without our state restarts the flow once, then stops.
func TestAbuse_NoOpenRedirect(t *testing.T) {
	s := newStack(t, harness.Options{})
	simURL, _ := url.Parse(s.SimURL)
	evil := "https://evil.example/steal"

	send := func(method, path, host string, cookies ...*http.Cookie) harness.Response {
		req, _ := http.NewRequest(method, s.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return harness.Do(t, noRedirect(), req)
	}
	for _, tt := range []struct{ name, path, host string }{
		{"redirect_uri parameter", "/install?redirect_uri=" + url.QueryEscape(evil), ""},
		{"next and return_to parameters", "/install?next=" + url.QueryEscape(evil) + "&return_to=" + url.QueryEscape(evil), ""},
		{"spoofed Host header", "/install", "evil.example"},
		{"spoofed Host and X-Forwarded-Host", "/install?redirect_uri=//evil.example", "evil.example:443"},
	} {
		t.Run("install "+tt.name, func(t *testing.T) {
			r := send(http.MethodGet, tt.path, tt.host)
			if r.Status != http.StatusFound {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			loc, err := url.Parse(r.Header.Get("Location"))
			if err != nil || loc.Host != simURL.Host || loc.Scheme != simURL.Scheme {
				t.Fatalf("redirect to %q, want the authorize URL on %s", r.Header.Get("Location"), simURL.Host)
			}
			if got := loc.Query().Get("redirect_uri"); got != s.URL+"/callback" {
				t.Fatalf("redirect_uri = %q, want the configured %q", got, s.URL+"/callback")
			}
			if strings.Contains(r.Header.Get("Location"), "evil") {
				t.Fatal("the authorize URL carries attacker input")
			}
		})
	}
	t.Run("callback without state restarts once, to our install URL only", func(t *testing.T) {
		r := send(http.MethodGet, "/callback?code=dal%3Adirect&redirect_uri="+url.QueryEscape(evil), "evil.example")
		if r.Status != http.StatusFound || r.Header.Get("Location") != s.URL+"/install" {
			t.Fatalf("status %d Location %q, want 302 to %s", r.Status, r.Header.Get("Location"), s.URL+"/install")
		}
		var restart *http.Cookie
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if c.Name == httpapi.RestartCookieName {
				restart = c
			}
		}
		if restart == nil {
			t.Fatal("no restart cookie")
		}
		again := send(http.MethodGet, "/callback?code=dal%3Adirect", "", &http.Cookie{Name: restart.Name, Value: restart.Value})
		if again.Status != http.StatusBadRequest || again.Header.Get("Location") != "" {
			t.Fatalf("second code without state: %d Location %q, want 400 and no redirect", again.Status, again.Header.Get("Location"))
		}
	})
	t.Run("scheme-relative path", func(t *testing.T) {
		// net/http's mux cleans the path and may redirect, but only to a path on this host.
		r := send(http.MethodGet, "//evil.example/install", "")
		if loc := r.Header.Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("redirect to %q leaves this host", loc)
			}
		}
	})
	if n := s.Sim.Calls(livechatsim.EndpointTokenExchange); n != 0 {
		t.Fatalf("%d code exchanges", n)
	}
}

// TestAbuse_APIKeyGuessingLearnsNothing: an unknown installation, a wrong secret for a real one, a
// revoked key and malformed keys all get the same 401, byte for byte, after the same single read.
func TestAbuse_APIKeyGuessingLearnsNothing(t *testing.T) {
	s := newStack(t, harness.Options{})
	res := s.Install(s.Account.AccountID)
	key := res.APIKey
	// A second key of the same installation, revoked.
	revoked, oldKey, err := s.Store.CreateInstallationKey(context.Background(), res.InstallationID, "to revoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.RevokeKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	if s.Chats(key, "limit=1").Status != http.StatusOK {
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
	var ref harness.Response
	first := true
	for name, k := range wellFormed {
		t.Run(name, func(t *testing.T) {
			before := s.DB.Count("GetItem")
			r := s.Chats(k, "limit=1")
			r.JSONError(t, http.StatusUnauthorized, "unauthorized")
			if reads := s.DB.Count("GetItem") - before; reads != 1 {
				t.Fatalf("%d reads, want exactly 1 for every well-formed key", reads)
			}
			if first {
				ref, first = r, false
				return
			}
			if r.Body != ref.Body || r.Header.Get("WWW-Authenticate") != ref.Header.Get("WWW-Authenticate") {
				t.Fatalf("answer differs from another bad key's:\n%s %s\n%s %s", r.Body, r.Header.Get("WWW-Authenticate"), ref.Body, ref.Header.Get("WWW-Authenticate"))
			}
		})
	}
	for name, k := range malformed {
		t.Run(name, func(t *testing.T) {
			before := s.DB.Count("GetItem")
			r := s.Chats(k, "limit=1")
			r.JSONError(t, http.StatusUnauthorized, "unauthorized")
			if r.Body != ref.Body {
				t.Fatalf("a malformed key is told apart: %s vs %s", r.Body, ref.Body)
			}
			if reads := s.DB.Count("GetItem") - before; reads != 0 {
				t.Fatalf("a malformed key cost %d reads", reads)
			}
		})
	}
	// The log tells operators which installation a good key used, but never which one a bad key named.
	for _, l := range s.RequestLogs("chats") {
		if l["status"] == float64(http.StatusUnauthorized) && l["installation_id"] != nil {
			t.Fatalf("a 401 log line names an installation: %v", l)
		}
	}
	vals := []string{key, oldKey}
	for _, k := range wellFormed {
		vals = append(vals, k)
	}
	s.NoSecretsLogged(vals...)
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
// installation's id into it gets a 401; a reinstall keeps the key working (issue 12).
func TestAbuse_CrossTenantIsolation(t *testing.T) {
	s := newStack(t, harness.Options{})
	accB := s.Sim.AddAccount(livechatsim.Account{Email: "b@example.com", Chats: 9})
	a := s.Install(s.Account.AccountID)
	b := s.Install(accB.AccountID)
	if a.InstallationID == b.InstallationID || a.OrganizationID == b.OrganizationID {
		t.Fatal("two tenants share an installation")
	}
	ra, rb := s.Chats(a.APIKey, "limit=100"), s.Chats(b.APIKey, "limit=100")
	if ra.Status != http.StatusOK || rb.Status != http.StatusOK {
		t.Fatalf("status %d/%d", ra.Status, rb.Status)
	}
	idsA, idsB := chatIDs(t, ra.Body), chatIDs(t, rb.Body)
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
	s.Chats(spliced, "limit=1").JSONError(t, http.StatusUnauthorized, "unauthorized")
	if a2 := s.Install(s.Account.AccountID); !a2.Reinstalled || a2.APIKey != "" {
		t.Fatalf("reinstall answered %v", a2.Fields)
	}
	if r := s.Chats(a.APIKey, "limit=100"); r.Status != http.StatusOK || len(chatIDs(t, r.Body)) != 7 {
		t.Fatalf("A's key after A reinstalled: %d", r.Status)
	}
	if r := s.Chats(b.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("tenant B's key broke when A reinstalled: %d", r.Status)
	}
}

// TestAbuse_HeaderAndLogInjection: CR/LF and forged log records in every input end up neither in a
// harness.Response header nor as a log line of their own; the server refuses raw control characters in headers.
func TestAbuse_HeaderAndLogInjection(t *testing.T) {
	s := newStack(t, harness.Options{})
	res := s.Install(s.Account.AccountID)
	forged := "\r\n{\"level\":\"ERROR\",\"msg\":\"forged\"}\r\nSet-Cookie: pwn=1"
	requests := 0

	// LiveChat's error parameters, reflected in the page, behind a valid state.
	b := harness.NewBrowser(t)
	loc, _ := url.Parse(s.StartInstall(b))
	cb := s.URL + "/callback?state=" + url.QueryEscape(loc.Query().Get("state")) +
		"&error=" + url.QueryEscape("invalid_scope"+forged) + "&error_description=" + url.QueryEscape(forged)
	r := b.Get(cb)
	requests++
	if r.Status != http.StatusBadRequest {
		t.Fatalf("callback with error: %d", r.Status)
	}
	checkNoInjectedHeader(t, r)

	// /chats parameter names and values, and the JSON body.
	for _, q := range []string{
		url.QueryEscape("x"+forged) + "=1",
		"sort_order=" + url.QueryEscape(forged),
		"page_id=" + url.QueryEscape(forged),
	} {
		r := s.Chats(res.APIKey, q)
		requests++
		if r.Status != http.StatusBadRequest && r.Status != http.StatusOK {
			t.Fatalf("query %q: %d %s", q, r.Status, r.Body)
		}
		if r.Status == http.StatusBadRequest {
			r.AnyJSONError(t)
		}
		checkNoInjectedHeader(t, r)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/chats", strings.NewReader(`{"sort_order":`+mustJSON(forged)+`}`))
	req.Header.Set("Authorization", "Bearer "+res.APIKey)
	r = harness.Do(t, http.DefaultClient, req)
	requests++
	r.JSONError(t, http.StatusBadRequest, "invalid_request")
	checkNoInjectedHeader(t, r)

	// Raw control characters in header values never reach a handler: net/http answers 400.
	for _, raw := range []string{
		"GET /chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer lca_x\rX-Evil: 1\r\n\r\n",
		"GET /chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00lca_x\r\n\r\n",
		"GET /callback?code=a\r\nX-Evil: 1 HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		status := rawRequest(t, s.URL, raw)
		if status != http.StatusBadRequest {
			t.Fatalf("raw request with control characters: status %d, want 400", status)
		}
	}

	// Every log line is still one JSON object, none is the forged one, one request line per request.
	lines := s.LogLines()
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

func checkNoInjectedHeader(t *testing.T, r harness.Response) {
	t.Helper()
	for name, vals := range r.Header {
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
	s := newStack(t, harness.Options{})
	res := s.Install(s.Account.AccountID)
	long := strings.Repeat("a", httpapi.DefaultMaxQueryBytes+1)

	s.Chats(res.APIKey, "page_id="+long).JSONError(t, http.StatusRequestURITooLong, "request_too_large")
	jb := harness.NewBrowser(t)
	jb.Accept = "application/json"
	jb.Get(s.URL+"/callback?code="+long).JSONError(t, http.StatusRequestURITooLong, "request_too_large")
	jb.Get(s.URL+"/install?x="+long).JSONError(t, http.StatusRequestURITooLong, "request_too_large")
	s.Chats(res.APIKey, "group_ids="+strings.TrimSuffix(strings.Repeat("1,", 201), ",")).JSONError(t, http.StatusBadRequest, "invalid_request")
	s.Chats(store.APIKeyPrefix+strings.Repeat("a", 600), "limit=1").JSONError(t, http.StatusUnauthorized, "unauthorized")

	post := func(body io.Reader, length int64) harness.Response {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/chats", body)
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+res.APIKey)
		req.Header.Set("Content-Type", "application/json")
		return harness.Do(t, http.DefaultClient, req)
	}
	big := `{"filters":{"properties":{"k":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}}}`
	post(strings.NewReader(big), int64(len(big))).JSONError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	e := &endless{}
	post(e, -1).JSONError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	if n := e.n.Load(); n > 8<<20 {
		t.Fatalf("the server read %d bytes of an endless body", n)
	}

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/chats", nil)
	req.Header.Set("Authorization", "Bearer "+res.APIKey)
	req.Header.Set("X-Pad", strings.Repeat("p", httpapi.MaxHeaderBytes+4096))
	if r := harness.Do(t, http.DefaultClient, req); r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", r.Status)
	}
	if n := s.Sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Fatalf("oversized input reached LiveChat %d times", n)
	}
}

// TestAbuse_HTMLInjectionIsEscaped: markup in LiveChat's error parameters and in identifiers LiveChat
// returns is escaped on our pages, which also carry a script-free Content-Security-Policy.
func TestAbuse_HTMLInjectionIsEscaped(t *testing.T) {
	s := newStack(t, harness.Options{})
	payloads := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `javascript:alert(1)`, `</p><iframe src=//evil.example>`}
	checkPage := func(t *testing.T, r harness.Response, scripts int) {
		t.Helper()
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP %q", csp)
		}
		low := strings.ToLower(r.Body)
		if strings.Count(low, "<script") != scripts || strings.Contains(low, "<img") || strings.Contains(low, "<iframe") || strings.Contains(low, `href="javascript:`) {
			t.Fatalf("markup injected into the page:\n%s", r.Body)
		}
	}
	for i, p := range payloads {
		t.Run(fmt.Sprintf("error parameters %d", i), func(t *testing.T) {
			b := harness.NewBrowser(t)
			loc, _ := url.Parse(s.StartInstall(b))
			r := b.Get(s.URL + "/callback?state=" + url.QueryEscape(loc.Query().Get("state")) + "&error=" + url.QueryEscape(p) + "&error_description=" + url.QueryEscape(p))
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d", r.Status)
			}
			checkPage(t, r, 0)
		})
	}
	t.Run("identifiers from LiveChat on the success page", func(t *testing.T) {
		acc := s.Sim.AddAccount(livechatsim.Account{OrganizationID: payloads[1], Email: "x@example.com"})
		b := harness.NewBrowser(t)
		r := b.Get(s.Consent(s.StartInstall(b), acc.AccountID))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		checkPage(t, r, 1)
		if !strings.Contains(r.Body, "&#34;&gt;&lt;img") {
			t.Fatalf("organization id not escaped as expected:\n%s", r.Body)
		}
	})
}
