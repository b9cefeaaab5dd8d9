package harness

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Response is one HTTP answer, fully read.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body as a JSON object, failing the test if it is not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body is not JSON (status %d): %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// ErrorCode returns error.code of a JSON body ("" if there is none); the body must be JSON.
func (r Response) ErrorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// JSONError asserts that r is a JSON error answer with status and code ("" = any), and returns its
// message.
func (r Response) JSONError(t testing.TB, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, r.Body)
	}
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &b); err != nil || b.Error.Message == "" {
		t.Fatalf("not a JSON error body (%v): %s", err, r.Body)
	}
	if code != "" && b.Error.Code != code {
		t.Fatalf("error code = %q, want %q; body %s", b.Error.Code, code, r.Body)
	}
	return b.Error.Message
}

// Want asserts r's status: a success status as it is, an error status as a JSON error answer with
// code (see JSONError).
func (r Response) Want(t testing.TB, status int, code string) {
	t.Helper()
	if status >= 400 {
		r.JSONError(t, status, code)
		return
	}
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
}

// AnyJSONError asserts that r is a JSON error answer of some 4xx/5xx status and returns its code.
func (r Response) AnyJSONError(t testing.TB) string {
	t.Helper()
	if r.Status < 400 {
		t.Fatalf("status = %d, want an error; body %s", r.Status, r.Body)
	}
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(r.Body), &b) != nil || b.Error.Code == "" {
		t.Fatalf("status %d without a JSON error body: %s", r.Status, r.Body)
	}
	return b.Error.Code
}

// Do sends req with c and reads the whole answer; a transport error fails the test.
func Do(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// Browser keeps cookies and does not follow redirects, so every hop is checked. Accept, if set, is
// sent with every request.
type Browser struct {
	T      testing.TB
	Client *http.Client
	Accept string
}

// NewBrowser returns a Browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Browser returns a new Browser for the stack's test.
func (s *Stack) Browser() *Browser { return NewBrowser(s.T) }

// Get fetches rawURL.
func (b *Browser) Get(rawURL string) Response {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.T.Fatal(err)
	}
	if b.Accept != "" {
		req.Header.Set("Accept", b.Accept)
	}
	return Do(b.T, b.Client, req)
}

// StartInstall runs GET /install in b and returns LiveChat's authorize URL.
func (s *Stack) StartInstall(b *Browser) string {
	s.T.Helper()
	r := b.Get(s.URL + "/install")
	if r.Status != http.StatusFound {
		s.T.Fatalf("/install status = %d, want 302; body %s", r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

// Consent clicks Allow on the simulator for accountID and returns the callback URL it redirects to.
func (s *Stack) Consent(authorizeURL, accountID string) string {
	s.T.Helper()
	u, err := s.Sim.Authorize(authorizeURL, accountID)
	if err != nil {
		s.T.Fatalf("simulator Authorize: %v", err)
	}
	return u.String()
}

// Consented returns a new browser that asks for JSON and has run /install and clicked Allow on the
// simulator for accountID, and the callback URL LiveChat sent it to (not yet visited).
func (s *Stack) Consented(accountID string) (*Browser, string) {
	s.T.Helper()
	b := s.Browser()
	b.Accept = "application/json"
	return b, s.Consent(s.StartInstall(b), accountID)
}

// InstallResult is the JSON answer of a successful callback; Fields holds every field it had.
type InstallResult struct {
	InstallationID string `json:"installation_id"`
	OrganizationID string `json:"organization_id"`
	AccountID      string `json:"account_id"`
	APIKey         string `json:"api_key"`
	// Reinstalled: the installation existed (active or needing re-authorization); no key was issued
	// and its keys keep working.
	Reinstalled bool `json:"reinstalled"`
	Fields      map[string]any
}

// Install runs the whole browser flow (install, consent, callback answering JSON) for accountID and
// returns the callback's result.
func (s *Stack) Install(accountID string) InstallResult {
	s.T.Helper()
	b, callbackURL := s.Consented(accountID)
	r := b.Get(callbackURL)
	if r.Status != http.StatusOK {
		s.T.Fatalf("callback status = %d, want 200; body %s", r.Status, r.Body)
	}
	var res InstallResult
	if err := json.Unmarshal([]byte(r.Body), &res); err != nil || (res.APIKey == "") != res.Reinstalled {
		s.T.Fatalf("callback body: %v: %s", err, r.Body)
	}
	res.Fields = r.JSON(s.T)
	return res
}

// Chats calls GET /chats?query with key ("" = no Authorization header).
func (s *Stack) Chats(key, query string) Response {
	s.T.Helper()
	u := s.URL + "/chats"
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return Do(s.T, http.DefaultClient, req)
}

// PostChats calls POST /chats with body, key and contentType ("" = header not sent).
func (s *Stack) PostChats(key, contentType, body string) Response {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/chats", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return Do(s.T, http.DefaultClient, req)
}

// WithQuery returns rawURL with the query parameters in set set and those in del removed.
func WithQuery(rawURL string, set map[string]string, del ...string) string {
	u, _ := url.Parse(rawURL)
	q := u.Query()
	for k, v := range set {
		q.Set(k, v)
	}
	for _, k := range del {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
