package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"lcauth/internal/httpapi"
	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/sealing"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/syncbuf"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// countingTransport counts DynamoDB operations by their X-Amz-Target.
type countingTransport struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls map[string]int
	total atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndex(op, "."); i >= 0 {
		op = op[i+1:]
	}
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
	c.total.Add(1)
	return c.next.RoundTrip(r)
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
	c.total.Store(0)
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

const clientSecret = "sim-client-secret-9f8e7d"

// env is one complete lcauth HTTP stack: our handlers on an httptest server, the LiveChat simulator,
// a fresh dynalite table through a counting DynamoDB client, the real store, sealer and refresher.
type env struct {
	t       testing.TB
	sim     *livechatsim.Simulator
	ts      *httptest.Server
	st      *store.Store
	srv     *httpapi.Server
	lc      *livechat.Client
	db      *countingTransport
	logs    *syncbuf.Buffer
	secret  httpapi.SecretSource
	account livechatsim.Account
}

type envOption func(*envConfig)

type envConfig struct {
	pkce   string
	secret httpapi.SecretSource
	opts   func(*httpapi.Options)
}

func withPKCE(m string) envOption                    { return func(c *envConfig) { c.pkce = m } }
func withSecret(s httpapi.SecretSource) envOption    { return func(c *envConfig) { c.secret = s } }
func withOptions(f func(*httpapi.Options)) envOption { return func(c *envConfig) { c.opts = f } }

func newEnv(t testing.TB, options ...envOption) *env {
	t.Helper()
	cfg := envConfig{secret: secrets.Static(clientSecret)}
	for _, o := range options {
		o(&cfg)
	}
	e := &env{t: t, logs: &syncbuf.Buffer{}, secret: cfg.secret}
	var handler atomic.Value
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(e.ts.Close)
	redirect := e.ts.URL + "/callback"

	var simSrv *httptest.Server
	e.sim, simSrv = simtest.NewServer(t, livechatsim.Options{ClientSecret: clientSecret, RedirectURIs: []string{redirect}})
	e.account = e.sim.AddAccount(livechatsim.Account{Email: "a@example.com", Chats: 12})

	_, table := dynalitetest.Table(t)
	e.db = &countingTransport{next: http.DefaultTransport, calls: map[string]int{}}
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(dynalitetest.Server(t).Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("fake", "fake", ""),
		HTTPClient:   &http.Client{Transport: e.db},
	})
	sealer, err := sealing.NewStatic("test", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.st = store.New(db, table, sealer, store.WithClock(e.sim.Now))
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.lc, err = livechat.New(livechat.Config{
		AccountsURL: simSrv.URL, APIURL: simSrv.URL, ClientID: e.sim.ClientID(), RedirectURL: redirect,
		ClientSecret: cfg.secret, Now: e.sim.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := refresh.New(e.st, e.lc, refresh.Options{Now: e.sim.Now, Logger: logger, OwnerPrefix: "chats"})
	opts := httpapi.Options{
		Store: e.st, LiveChat: e.lc, Refresher: ref, Secret: cfg.secret,
		RedirectURL: redirect, PKCE: cfg.pkce, Logger: logger, Now: e.sim.Now,
	}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	e.srv, err = httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(e.srv.Handler())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// browser is a cookie-keeping client that does not follow redirects, so each hop is checked.
type browser struct {
	t      testing.TB
	client *http.Client
	accept string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON (status %d): %v\n%s", r.status, err, r.body)
	}
	return m
}

func (r response) errorCode(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (b *browser) get(rawURL string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if b.accept != "" {
		req.Header.Set("Accept", b.accept)
	}
	return do(b.t, b.client, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// startInstall runs GET /install and returns LiveChat's authorize URL.
func (e *env) startInstall(b *browser) string {
	e.t.Helper()
	r := b.get(e.ts.URL + "/install")
	if r.status != http.StatusFound {
		e.t.Fatalf("/install status = %d, want 302; body %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// consent clicks Allow for account on the simulator and returns the callback URL it redirects to.
func (e *env) consent(authorizeURL string, accountID string) string {
	e.t.Helper()
	u, err := e.sim.Authorize(authorizeURL, accountID)
	if err != nil {
		e.t.Fatalf("simulator Authorize: %v", err)
	}
	return u.String()
}

// install runs the whole browser flow for account and returns the JSON result of the callback.
func (e *env) install(accountID string) map[string]any {
	e.t.Helper()
	b := e.browser()
	b.accept = "application/json"
	r := b.get(e.consent(e.startInstall(b), accountID))
	if r.status != http.StatusOK {
		e.t.Fatalf("callback status = %d, want 200; body %s", r.status, r.body)
	}
	return r.json(e.t)
}

// chats calls GET /chats?query with key.
func (e *env) chats(key, query string) response {
	e.t.Helper()
	u := e.ts.URL + "/chats"
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(e.t, http.DefaultClient, req)
}

// postChats calls POST /chats with body.
func (e *env) postChats(key, contentType, body string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/chats", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(e.t, http.DefaultClient, req)
}

func withQuery(rawURL string, set map[string]string, del ...string) string {
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

var _ = context.Background
