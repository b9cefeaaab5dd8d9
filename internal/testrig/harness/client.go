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
