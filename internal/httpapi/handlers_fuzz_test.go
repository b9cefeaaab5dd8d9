package httpapi

// Fuzz targets for the HTTP edge: state verification, the /callback query and the /chats query and body.
// They run the real handlers over in-memory fakes of the store, LiveChat and the refresher (no network),
// so that millions of inputs fit in `make fuzz`; the seeds run in `make test`. The invariants are the
// ones DESIGN.md promises for bad input: a clear 4xx, never a 500 or a panic, JSON errors where JSON was
// asked for, no code exchanged without a verified state and cookie, no redirect anywhere but /install,
// no header injection, no tag injected into a page, and no code, state or API key in a log line.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

const (
	fzSecret      = "fuzz-client-secret-3b1f"
	fzRedirectURL = "https://lcauth.example/callback"
	fzInstallURL  = "https://lcauth.example/install"
	// fzStatePlaceholder and fzCookiePlaceholder in a fuzzed input are replaced by a freshly issued,
	// valid state and cookie, so the fuzzer also explores what follows a successful verification.
	fzStatePlaceholder  = "STATE"
	fzCookiePlaceholder = "COOKIE"
	// fzCodePlaceholder is replaced by a random, realistic authorization code that must then never
	// be reflected in a response or a log line.
	fzCodePlaceholder = "CODE"
)

var fzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fzAPIKey is the one valid API key of the fake store: well-formed, as the store issues them.
var fzAPIKey = store.APIKeyPrefix + strings.Repeat("a", store.IDLength) + "_" + strings.Repeat("b", store.APIKeyLength-len(store.APIKeyPrefix)-store.IDLength-1)

// fzStore is an InstallationStore with one installation and one valid API key.
type fzStore struct {
	InstallationStore // methods the fuzz targets never reach (keys, listing)
	mu                sync.Mutex
	installs          int
	authOK            int
	authAttempt       int
}

func (s *fzStore) Install(_ context.Context, g store.Grant) (*store.Installation, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installs++
	if g.AccessToken == "" || g.RefreshToken == "" || g.OrganizationID == "" || g.AccountID == "" {
		return nil, "", store.ErrInvalid
	}
	return &store.Installation{ID: store.InstallationID(g.OrganizationID, g.AccountID), OrganizationID: g.OrganizationID,
		AccountID: g.AccountID, Status: store.StatusActive, ExpiresAt: g.ExpiresAt}, fzAPIKey, nil
}

func (s *fzStore) Authenticate(_ context.Context, key string) (*store.Installation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authAttempt++
	if key != fzAPIKey {
		return nil, store.ErrUnauthorized
	}
	s.authOK++
	return &store.Installation{ID: "installation1", OrganizationID: "org-1", AccountID: "acc-1", AccessToken: "dal:fuzz-access-token",
		RefreshToken: "fuzz-refresh-token", Status: store.StatusActive, ExpiresAt: fzNow.Add(8 * time.Hour)}, nil
}

// fzLiveChat records what the handlers sent to LiveChat.
type fzLiveChat struct {
	mu        sync.Mutex
	exchanges int
	codes     []string
	lists     []livechat.ListChatsRequest
}

func (l *fzLiveChat) AuthorizeURL(state string, _ livechat.PKCE) string {
	return "https://accounts.example/?state=" + url.QueryEscape(state)
}

func (l *fzLiveChat) Exchange(_ context.Context, code, _ string) (*livechat.Token, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exchanges++
	l.codes = append(l.codes, code)
	return &livechat.Token{AccessToken: "dal:fuzz-new-access", RefreshToken: "fuzz-new-refresh", TokenType: "Bearer",
		Expiry: fzNow.Add(8 * time.Hour), AccountID: "acc-1", OrganizationID: "org-1", Region: "dal"}, nil
}

func (l *fzLiveChat) ListChats(_ context.Context, _ string, req livechat.ListChatsRequest) (*livechat.ListChatsResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lists = append(l.lists, req)
	return &livechat.ListChatsResponse{Body: json.RawMessage(`{"chats_summary":[],"found_chats":0}`)}, nil
}

type fzRefresher struct{}

func (fzRefresher) RefreshInstallation(_ context.Context, inst *store.Installation) (*store.Installation, error) {
	return inst, nil
}

type fzSecretSource struct{}

func (fzSecretSource) ClientSecret(context.Context) (string, error) { return fzSecret, nil }

// fzServer is one handler stack over fresh fakes with its log in a buffer.
type fzServer struct {
	srv  *Server
	st   *fzStore
	lc   *fzLiveChat
	logs *bytes.Buffer
}

func newFzServer(tb testing.TB) *fzServer {
	tb.Helper()
	f := &fzServer{st: &fzStore{}, lc: &fzLiveChat{}, logs: &bytes.Buffer{}}
	srv, err := New(Options{
		Store: f.st, LiveChat: f.lc, Refresher: fzRefresher{}, Secret: fzSecretSource{},
		RedirectURL: fzRedirectURL, InstallURL: fzInstallURL,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return fzNow },
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.srv = srv
	return f
}

// checkCommon asserts what holds for every answer of every route.
func checkCommon(t *testing.T, rec *httptest.ResponseRecorder, forceJSON bool) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d for bad input; body %s", rec.Code, rec.Body.String())
	}
	for name, vals := range rec.Header() {
		for _, v := range vals {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("header %s carries a control character: %q", name, v)
			}
		}
	}
	if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("security headers missing on a %d", rec.Code)
	}
	ct := rec.Header().Get("Content-Type")
	if rec.Code == http.StatusFound {
		return
	}
	if forceJSON {
		if !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q, want JSON (status %d)", ct, rec.Code)
		}
		if rec.Code != http.StatusOK {
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Fatalf("status %d without a JSON error body: %v: %s", rec.Code, err, rec.Body.String())
			}
		}
		return
	}
	if !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want HTML (status %d)", ct, rec.Code)
	}
	// Pages come from html/template: whatever was reflected, the only tag that may run is our own
	// script on the success page.
	body := strings.ToLower(rec.Body.String())
	wantScripts := 0
	if rec.Code == http.StatusOK {
		wantScripts = 1
	}
	for _, tag := range []string{"<script", "<img", "<svg", "<iframe", "<a ", "<form", "<meta http-equiv"} {
		n := strings.Count(body, tag)
		if tag == "<script" && n == wantScripts || tag == "<a " && n <= 1 {
			continue
		}
		if n > 0 {
			t.Fatalf("page carries %d %q tags (injection): %s", n, tag, rec.Body.String())
		}
	}
}

// fzIssue is stateKeys.issue with a deterministic state nonce and cookie nonce (fill byte n).
func fzIssue(k *stateKeys, now time.Time, n byte, verifier string) issuedState {
	payload := make([]byte, statePayload, statePayload+stateMACSize)
	payload[0] = stateVersion
	binary.BigEndian.PutUint64(payload[1:9], uint64(now.Unix()))
	for i := 9; i < statePayload; i++ {
		payload[i] = n
	}
	state := base64.RawURLEncoding.EncodeToString(append(payload, k.sign(payload)...))
	plain := append(append([]byte{}, payload[9:]...), verifier...)
	gcmNonce := bytes.Repeat([]byte{n}, k.aes.NonceSize())
	sealed := k.aes.Seal(gcmNonce, gcmNonce, plain, []byte(cookieAADText))
	return issuedState{State: state, Cookie: base64.RawURLEncoding.EncodeToString(sealed)}
}

// FuzzVerifyState feeds arbitrary state parameters, cookies and clock offsets to the state check. Only
// the exact pair /install issued may verify, within its lifetime; every failure is one of the known
// errors (all answered 400 invalid_state) and says nothing about the input.
func FuzzVerifyState(f *testing.F) {
	keys, err := deriveStateKeys([]byte(fzSecret))
	if err != nil {
		f.Fatal(err)
	}
	// Seeds must be the same in every fuzzing worker process, so the pairs are issued from fixed nonces.
	issued := fzIssue(keys, fzNow, 1, "verifier-0123456789-0123456789-0123456789-abc")
	other, _ := deriveStateKeys([]byte("another client's secret"))
	foreign := fzIssue(other, fzNow, 2, "")
	f.Add(issued.State, issued.Cookie, int64(0))
	f.Add(issued.State, issued.Cookie, int64(601))
	f.Add(issued.State, issued.Cookie, int64(-31))
	f.Add(foreign.State, foreign.Cookie, int64(0))
	f.Add(issued.State, foreign.Cookie, int64(0))
	f.Add(issued.State+"A", issued.Cookie, int64(0))
	f.Add("", "", int64(0))
	f.Add("%00", "\r\nSet-Cookie: x=y", int64(0))
	wantState, _ := base64.RawURLEncoding.DecodeString(issued.State)
	wantCookie, _ := base64.RawURLEncoding.DecodeString(issued.Cookie)
	known := []error{errStateMissing, errStateMalformed, errStateSignature, errStateExpired, errCookieMissing, errCookieInvalid, errCookieMismatch}

	f.Fuzz(func(t *testing.T, state, cookie string, offset int64) {
		now := fzNow.Add(time.Duration(offset%(1<<40)) * time.Second)
		v, err := keys.verify(now, DefaultStateTTL, state, cookie)
		if err != nil {
			ok := false
			for _, k := range known {
				ok = ok || errors.Is(err, k)
			}
			if !ok {
				t.Fatalf("unexpected error kind %v", err)
			}
			if len(state) >= 8 && strings.Contains(err.Error(), state) || len(cookie) >= 8 && strings.Contains(err.Error(), cookie) {
				t.Fatal("the error echoes its input")
			}
			return
		}
		gotState, _ := base64.RawURLEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(state))
		gotCookie, _ := base64.RawURLEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(cookie))
		if !bytes.Equal(gotState, wantState) || !bytes.Equal(gotCookie, wantCookie) {
			t.Fatalf("a state/cookie pair that /install never issued verified: %q %q", state, cookie)
		}
		if age := now.Sub(v.issuedAt); age > DefaultStateTTL || age < -clockSkew {
			t.Fatalf("state verified at age %v", age)
		}
		if v.verifier != "verifier-0123456789-0123456789-0123456789-abc" {
			t.Fatalf("verifier = %q", v.verifier)
		}
	})
}

// FuzzCallbackQuery sends arbitrary query strings, state cookies and Accept headers to /callback. A code
// is exchanged only behind a verified state and cookie, only once, and never reflected or logged; the
// only redirect goes to /install; every other answer is a 4xx page or JSON error.
func FuzzCallbackQuery(f *testing.F) {
	seeds := []struct {
		query, cookie string
		accept        uint8
	}{
		{"code=CODE&state=STATE", "COOKIE", 0},
		{"code=CODE&state=STATE", "COOKIE", 1},
		{"code=dal%3Atest_7W91a&state=STATE", "COOKIE", 1},
		{"code=CODE&state=STATE&state=STATE", "COOKIE", 1},
		{"code=CODE&state=STATE", "", 0},
		{"code=CODE&state=STATE", "forged", 1},
		{"code=CODE", "", 0},
		{"code=CODE&state=", "COOKIE", 0},
		{"state=STATE", "COOKIE", 1},
		{"state=STATE&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "COOKIE", 0},
		{"state=STATE&oauth_exception=invalid_request&exception_details=%0d%0aSet-Cookie:%20x=1", "COOKIE", 0},
		{"state=STATE&error=%3Cimg%20src=x%20onerror=alert(1)%3E", "COOKIE", 1},
		{"code=CODE&state=STATE&redirect_uri=https://evil.example/", "COOKIE", 0},
		{"code=CODE&state=STATE;next=https://evil.example", "COOKIE", 0},
		{"code=%ZZ&state=%", "COOKIE", 0},
		{"error=server_error", "", 1},
		{"", "", 0},
		{strings.Repeat("a", 5000), "", 0},
	}
	for _, s := range seeds {
		f.Add(s.query, s.cookie, s.accept)
	}
	f.Fuzz(func(t *testing.T, rawQuery, cookie string, accept uint8) {
		fz := newFzServer(t)
		keys, err := deriveStateKeys([]byte(fzSecret))
		if err != nil {
			t.Fatal(err)
		}
		issued, err := keys.issue(fzNow.Add(-time.Minute), "")
		if err != nil {
			t.Fatal(err)
		}
		code := "dal:" + strings.Repeat("Z", 6) + base64.RawURLEncoding.EncodeToString([]byte(issued.State[:18]))
		validState := strings.Contains(rawQuery, fzStatePlaceholder)
		rawQuery = strings.ReplaceAll(rawQuery, fzStatePlaceholder, issued.State)
		rawQuery = strings.ReplaceAll(rawQuery, fzCodePlaceholder, url.QueryEscape(code))
		validCookie := cookie == fzCookiePlaceholder
		if validCookie {
			cookie = issued.Cookie
		}

		r := httptest.NewRequest(http.MethodGet, "/callback", nil)
		r.URL.RawQuery = rawQuery
		if cookie != "" {
			r.Header.Set("Cookie", StateCookieName+"="+cookie)
		}
		forceJSON := accept%2 == 1
		if forceJSON {
			r.Header.Set("Accept", "application/json")
		}
		rec := httptest.NewRecorder()
		fz.srv.CallbackHandler().ServeHTTP(rec, r)
		checkCommon(t, rec, forceJSON)

		switch rec.Code {
		case http.StatusOK, http.StatusFound, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestURITooLong:
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusFound && rec.Header().Get("Location") != fzInstallURL {
			t.Fatalf("redirect to %q, want only %q", rec.Header().Get("Location"), fzInstallURL)
		}
		if fz.lc.exchanges > 1 {
			t.Fatalf("%d code exchanges for one callback", fz.lc.exchanges)
		}
		if fz.lc.exchanges == 1 && !(validState && validCookie) {
			t.Fatalf("a code was exchanged without a state and cookie /install issued: query %q cookie %q", rawQuery, cookie)
		}
		if rec.Code == http.StatusOK && fz.lc.exchanges != 1 {
			t.Fatal("200 without an exchange")
		}
		logs := fz.logs.String()
		for name, secret := range map[string]string{"code": code, "state": issued.State, "cookie": issued.Cookie} {
			if strings.Contains(logs, secret) {
				t.Fatalf("the %s appears in the log: %s", name, logs)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("the %s is reflected in the response", name)
			}
		}
		if strings.Contains(logs, fzSecret) || strings.Contains(rec.Body.String(), fzSecret) {
			t.Fatal("the client secret leaked")
		}
	})
}

// chatsInvariants checks one /chats answer against what the fakes saw.
func chatsInvariants(t *testing.T, fz *fzServer, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	checkCommon(t, rec, true)
	ok := false
	for _, s := range allowed {
		ok = ok || rec.Code == s
	}
	if !ok {
		t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
	}
	if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	// Input errors are reported before the key is looked up (only its shape is checked first), so a
	// 4xx may precede authentication; anything that reaches LiveChat may not.
	if rec.Code == http.StatusOK && fz.st.authOK != 1 {
		t.Fatalf("status %d without a valid API key", rec.Code)
	}
	if rec.Code == http.StatusOK {
		if len(fz.lc.lists) != 1 {
			t.Fatalf("200 after %d list_chats calls", len(fz.lc.lists))
		}
		if err := fz.lc.lists[0].Validate(); err != nil {
			t.Fatalf("an invalid request reached LiveChat: %v", err)
		}
	} else if len(fz.lc.lists) != 0 {
		t.Fatalf("status %d but LiveChat was called", rec.Code)
	}
	if strings.Contains(fz.logs.String(), fzAPIKey) || strings.Contains(rec.Body.String(), fzAPIKey) {
		t.Fatal("the API key leaked into the log or the response")
	}
}

// FuzzChatsQuery sends arbitrary query strings and Authorization headers to GET /chats. Without the
// right key the answer is 401 whatever the query; with it, only a request that passes
// livechat.ListChatsRequest.Validate reaches LiveChat, and everything else is a JSON 4xx.
func FuzzChatsQuery(f *testing.F) {
	valid := "Bearer " + fzAPIKey
	for _, s := range []struct{ query, auth string }{
		{"", valid},
		{"limit=10&sort_order=asc", valid},
		{"limit=100&active=true&group_ids=1,2,3&include_chats_without_threads=false", valid},
		{"page_id=MTIzNDU2", valid},
		{"page_id=MTIz&limit=5", valid},
		{"limit=0", valid},
		{"limit=101", valid},
		{"limit=-1", valid},
		{"limit=1e2", valid},
		{"limit=10&limit=20", valid},
		{"sort_order=ASC", valid},
		{"group_ids=1,,2", valid},
		{"group_ids=" + strings.Repeat("1,", 201) + "1", valid},
		{"group_ids=99999999999999999999", valid},
		{"active=1", valid},
		{"unknown=1", valid},
		{"limit=10;sort_order=asc", valid},
		{"%zz", valid},
		{"page_id=", valid},
		{"page_id=" + strings.Repeat("p", 2000), valid},
		{strings.Repeat("x", 5000), valid},
		{"limit=10", ""},
		{"limit=10", "Bearer"},
		{"limit=10", "Basic " + fzAPIKey},
		{"limit=10", "bearer   " + fzAPIKey + "  "},
		{"limit=10", "Bearer " + fzAPIKey[:len(fzAPIKey)-1] + "c"},
		{"limit=10", "Bearer lca_" + strings.Repeat("z", 600)},
		{"limit=10", "Bearer " + fzAPIKey + "\r\nX-Evil: 1"},
		{"limit=500", "Bearer wrong"},
	} {
		f.Add(s.query, s.auth)
	}
	f.Fuzz(func(t *testing.T, rawQuery, auth string) {
		fz := newFzServer(t)
		r := httptest.NewRequest(http.MethodGet, "/chats", nil)
		r.URL.RawQuery = rawQuery
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		fz.srv.ChatsHandler().ServeHTTP(rec, r)
		chatsInvariants(t, fz, rec, http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestURITooLong)
		if _, ae := bearerKey(r); ae != nil && rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d for a caller without a well-formed Bearer key", rec.Code)
		}
		if fz.st.authAttempt > 0 && fz.st.authOK == 0 && rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d for a wrong key", rec.Code)
		}
	})
}

// FuzzChatsBody sends arbitrary bodies and content types to POST /chats with a valid key. A body that
// strictly decodes into a valid ListChatsRequest is served (200); everything else is a JSON 4xx, and
// only validated requests reach LiveChat.
func FuzzChatsBody(f *testing.F) {
	for _, s := range []struct{ body, ct string }{
		{``, "application/json"},
		{`{}`, "application/json"},
		{`{"limit":10,"sort_order":"desc"}`, "application/json; charset=utf-8"},
		{`{"filters":{"active":true,"group_ids":[0,1],"properties":{"routing":{"foo":{"values":[1]}}}},"limit":100}`, "application/json"},
		{`{"page_id":"MTIz"}`, ""},
		{`{"page_id":"MTIz","limit":5}`, "application/json"},
		{`{"filters":{"properties":[1]}}`, "application/json"},
		{`{"filters":{"properties":null}}`, "application/json"},
		{`{"filters":{"group_ids":[-1]}}`, "application/json"},
		{`{"limit":1e400}`, "application/json"},
		{`{"limit":"10"}`, "application/json"},
		{`{"limit":10}{"limit":20}`, "application/json"},
		{`{"limit":10} x`, "application/json"},
		{`{"unknown":1}`, "application/json"},
		{`{"LIMIT":10}`, "application/json"},
		{`[]`, "application/json"},
		{`null`, "application/json"},
		{`{"limit":10`, "application/json"},
		{`{"limit":10}`, "text/plain"},
		{`{"limit":10}`, "application/json; charset="},
		{"\xff\xfe{}", "application/json"},
		{`{"sort_order":"<script>alert(1)</script>"}`, "application/json"},
		{`{"filters":{"properties":{` + strings.Repeat(`"k":1,`, 3000) + `"k":1}}}`, "application/json"},
	} {
		f.Add([]byte(s.body), s.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		fz := newFzServer(t)
		r := httptest.NewRequest(http.MethodPost, "/chats", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+fzAPIKey)
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		fz.srv.ChatsHandler().ServeHTTP(rec, r)
		chatsInvariants(t, fz, rec, http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)

		// The converse: a well-formed, valid request with a JSON (or no) content type is served.
		if contentType != "" && contentType != "application/json" {
			return
		}
		var req livechat.ListChatsRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if len(body) == 0 || len(body) > DefaultMaxBodyBytes || dec.Decode(&req) != nil || dec.More() || req.Validate() != nil {
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			return // trailing data, even a lone '}'
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("a valid request got %d: %s", rec.Code, rec.Body.String())
		}
	})
}
