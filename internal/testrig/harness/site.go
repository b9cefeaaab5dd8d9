package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
)

// Site is an lcauth a test reaches over HTTP, wherever it runs: a Stack in this process, `lcauth dev`
// in a child process, or the Lambda functions behind e2e's API Gateway. The install, consent and
// API steps are written once, here, for all of them.
type Site struct {
	T testing.TB
	// URL is lcauth's base URL (no trailing slash).
	URL string
	// Transport carries every request to lcauth (nil: http.DefaultTransport), e.g. e2e's API
	// Gateway in front of the Lambda emulators. LiveChat's consent page is reached directly.
	Transport http.RoundTripper
	// Allow plays the person who clicks Allow on LiveChat's consent page for accountID: it takes the
	// authorize URL /install redirected to and returns the URL LiveChat sends the browser back to.
	// Nil: the consent page is fetched and its form posted over HTTP (AllowOnConsentPage).
	Allow func(authorizeURL, accountID string) (string, error)
}

// requestTimeout bounds one request of a Site's clients: far above any answer lcauth gives (its own
// request and LiveChat timeouts are shorter), so a hang fails the test instead of stalling it.
const requestTimeout = time.Minute

// Browser returns a Browser (empty cookie jar, no redirects followed) that reaches the site.
func (s *Site) Browser() *Browser {
	b := NewBrowser(s.T)
	b.Client.Transport = s.Transport
	return b
}

// Do sends req to the site and reads the whole answer; redirects are followed as http.Client does.
func (s *Site) Do(req *http.Request) Response {
	s.T.Helper()
	return Do(s.T, &http.Client{Transport: s.Transport, Timeout: requestTimeout}, req)
}

// Get sends GET URL+path with key as the bearer API key ("" = no Authorization header).
func (s *Site) Get(path, key string) Response {
	s.T.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		s.T.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return s.Do(req)
}

// StartInstall runs GET /install in b and returns LiveChat's authorize URL.
func (s *Site) StartInstall(b *Browser) string {
	s.T.Helper()
	r := b.Get(s.URL + "/install")
	if r.Status != http.StatusFound {
		s.T.Fatalf("/install status = %d, want 302; body %s", r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

// Consent clicks Allow on LiveChat's consent page for accountID and returns the callback URL it
// redirects to.
func (s *Site) Consent(authorizeURL, accountID string) string {
	s.T.Helper()
	allow := s.Allow
	if allow == nil {
		allow = AllowOnConsentPage
	}
	u, err := allow(authorizeURL, accountID)
	if err != nil {
		s.T.Fatalf("consent at LiveChat: %v", err)
	}
	return u
}

// Consented returns a new browser that asks for JSON and has run /install and clicked Allow for
// accountID, and the callback URL LiveChat sent it to (not yet visited).
func (s *Site) Consented(accountID string) (*Browser, string) {
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
// returns the callback's result: a fresh installation with a key, or a reinstall without one.
func (s *Site) Install(accountID string) InstallResult {
	s.T.Helper()
	b, callbackURL := s.Consented(accountID)
	r := b.Get(callbackURL)
	if r.Status != http.StatusOK {
		s.T.Fatalf("callback status = %d, want 200; body %s", r.Status, r.Body)
	}
	var res InstallResult
	if err := json.Unmarshal([]byte(r.Body), &res); err != nil || res.InstallationID == "" ||
		(res.APIKey == "") != res.Reinstalled || (res.APIKey != "" && !strings.HasPrefix(res.APIKey, "lca_")) {
		s.T.Fatalf("callback body: %v: %s", err, r.Body)
	}
	res.Fields = r.JSON(s.T)
	return res
}

// Chats calls GET /chats?query with key ("" = no Authorization header).
func (s *Site) Chats(key, query string) Response {
	s.T.Helper()
	if query != "" {
		query = "?" + query
	}
	return s.Get("/chats"+query, key)
}

// ListChats calls GET /chats?limit=n with key, asserts a 200 answer with exactly n chats in
// chats_summary (the account must have at least n), and returns them.
func (s *Site) ListChats(key string, n int) []any {
	s.T.Helper()
	r := s.Chats(key, "limit="+strconv.Itoa(n))
	if r.Status != http.StatusOK {
		s.T.Fatalf("/chats?limit=%d: status %d, want 200; body %s", n, r.Status, r.Body)
	}
	list, ok := r.JSON(s.T)["chats_summary"].([]any)
	if !ok || len(list) != n {
		s.T.Fatalf("/chats?limit=%d returned %d chats in chats_summary, want %d: %s", n, len(list), n, r.Body)
	}
	return list
}

// PostChats calls POST /chats with body, key and contentType ("" = header not sent).
func (s *Site) PostChats(key, contentType, body string) Response {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/chats", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.Do(req)
}

// AllowAt clicks Allow through sim's Authorize, without its page: the way in when the simulator runs
// in this process.
func AllowAt(sim *livechatsim.Simulator) func(authorizeURL, accountID string) (string, error) {
	return func(authorizeURL, accountID string) (string, error) {
		u, err := sim.Authorize(authorizeURL, accountID)
		if err != nil {
			return "", err
		}
		return u.String(), nil
	}
}

var accountRadio = regexp.MustCompile(`name="account_id" value="([^"]+)"`)

// AllowOnConsentPage clicks Allow on the simulator's consent page with plain HTTP, as a person's
// browser would: GET the page, then POST its form as accountID ("" = the first account it offers).
// It is the way in when the simulator runs in another process (`lcauth dev`).
func AllowOnConsentPage(authorizeURL, accountID string) (string, error) {
	c := &http.Client{Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorizeURL)
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the consent page answered %s: %s", resp.Status, page)
	}
	if accountID == "" {
		m := accountRadio.FindSubmatch(page)
		if m == nil {
			return "", fmt.Errorf("the consent page offers no account: %s", page)
		}
		accountID = string(m[1])
	}
	resp, err = c.PostForm(authorizeURL, url.Values{"decision": {"allow"}, "account_id": {accountID}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("clicking Allow answered %s, want 302 Found", resp.Status)
	}
	return resp.Header.Get("Location"), nil
}
