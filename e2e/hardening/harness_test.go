package hardening_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/smfake"
	"lcauth/internal/testrig/syncbuf"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

const (
	clientSecret = "hardening-client-secret-6c2a91"
	secretARN    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-client-secret-AbCdEf"
)

// ddbFaultKind is what the DynamoDB transport does to a request a rule matches.
type ddbFaultKind int

const (
	// ddbThrottle answers ProvisionedThroughputExceededException (HTTP 400), as DynamoDB does.
	ddbThrottle ddbFaultKind = iota + 1
	// ddbDown fails the request as a refused connection: the endpoint went away.
	ddbDown
	// ddbServerError answers HTTP 500 InternalServerError.
	ddbServerError
)

// ddbRule applies kind to requests of op ("" = any operation), after skipping `after` matching
// requests, for `times` requests (0 = until cleared).
type ddbRule struct {
	op    string
	kind  ddbFaultKind
	after int
	times int
}

// ddbFaults is the DynamoDB SDK client's http.RoundTripper: it counts operations (X-Amz-Target) and
// injects faults by rule, so that the real SDK client, with its real retryer and error decoding, sees
// what an unhealthy DynamoDB would send.
type ddbFaults struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []*ddbRule
	calls map[string]int
	hits  map[ddbFaultKind]int
}

func (d *ddbFaults) add(r ddbRule) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = append(d.rules, &r)
}

func (d *ddbFaults) clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = nil
}

func (d *ddbFaults) count(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

func (d *ddbFaults) injected(kind ddbFaultKind) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[kind]
}

func (d *ddbFaults) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndex(op, "."); i >= 0 {
		op = op[i+1:]
	}
	d.mu.Lock()
	d.calls[op]++
	var kind ddbFaultKind
	for i, rule := range d.rules {
		if rule.op != "" && rule.op != op {
			continue
		}
		if rule.after > 0 {
			rule.after--
			break
		}
		kind = rule.kind
		if rule.times > 0 {
			rule.times--
			if rule.times == 0 {
				d.rules = append(d.rules[:i:i], d.rules[i+1:]...)
			}
		}
		break
	}
	if kind != 0 {
		d.hits[kind]++
	}
	d.mu.Unlock()

	if kind != 0 && r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	awsError := func(status int, typ, msg string) *http.Response {
		body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + typ + `","message":"` + msg + `"}`
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: r, ContentLength: int64(len(body)),
			Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"FAULT"}},
			Body:   io.NopCloser(strings.NewReader(body))}
	}
	switch kind {
	case ddbThrottle:
		return awsError(http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded."), nil
	case ddbServerError:
		return awsError(http.StatusInternalServerError, "InternalServerError", "Internal server error"), nil
	case ddbDown:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return d.next.RoundTrip(r)
}

// fastRetryer is the SDK's standard retryer (same attempts and error classification as production)
// with millisecond backoff and no retry quota, so fault tests stay fast and independent.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 20 * time.Millisecond
		o.RateLimiter = ratelimit.None
	})
}

// stackConfig selects the optional parts of a stack.
type stackConfig struct {
	// secretsManager: the client secret comes from the Secrets Manager fake (else from the env).
	secretsManager bool
	// kms: tokens are sealed through the KMS fake (else with a local key).
	kms bool
	// table: use this table (another stack's) instead of a fresh one.
	table string
	// lcTimeout is the LiveChat HTTP client's overall timeout (default 2s, so hangs end fast).
	lcTimeout time.Duration
	// sim: share another stack's simulator.
	sim *livechatsim.Simulator
	// simURL goes with sim.
	simURL string
	// kmsServer: share another stack's KMS fake (same keys).
	kmsServer *kmsfake.Server
	kmsKey    string
	// secret overrides the client secret (default clientSecret).
	secret string
	// kmsLatency delays every KMS call (a slow KMS).
	kmsLatency time.Duration
}

// slowTransport delays every request by d before passing it on.
type slowTransport struct {
	next http.RoundTripper
	d    time.Duration
}

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-time.After(s.d):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return s.next.RoundTrip(r)
}

// stack is one lcauth process built by app.New, exactly as cmd/lcauth and the Lambdas build it,
// served by app.NewServer's http.Server on a loopback port, in front of the LiveChat simulator,
// a dynalite table (through ddbFaults), and optionally the Secrets Manager and KMS fakes.
type stack struct {
	t       *testing.T
	sim     *livechatsim.Simulator
	simURL  string
	ts      *httptest.Server
	base    string
	app     *app.App
	st      *store.Store
	db      *ddbFaults
	logs    *syncbuf.Buffer
	table   string
	sm      *smfake.Fake
	kms     *kmsfake.Server
	kmsKey  string
	account livechatsim.Account
	handler atomic.Value
}

func newStack(t *testing.T, sc stackConfig) *stack {
	t.Helper()
	s := &stack{t: t, logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.Load().(http.Handler).ServeHTTP(w, r) })
	s.ts = httptest.NewUnstartedServer(h)
	// The local server's own http.Server: its header limit and timeouts are part of what is tested.
	s.ts.Config = app.NewServer("127.0.0.1:0", h, logger)
	s.ts.Start()
	t.Cleanup(s.ts.Close)
	s.base = s.ts.URL

	secret := sc.secret
	if secret == "" {
		secret = clientSecret
	}
	if sc.sim != nil {
		s.sim, s.simURL = sc.sim, sc.simURL
	} else {
		var simSrv *httptest.Server
		s.sim, simSrv = simtest.NewServer(t, livechatsim.Options{ClientSecret: secret, RedirectURIs: []string{s.base + "/callback"}})
		s.simURL = simSrv.URL
	}
	s.account = s.sim.AddAccount(livechatsim.Account{Email: "owner@example.com", Chats: 7})

	s.table = sc.table
	if s.table == "" {
		_, s.table = dynalitetest.Table(t)
	}
	s.db = &ddbFaults{next: http.DefaultTransport, calls: map[string]int{}, hits: map[ddbFaultKind]int{}}
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(dynalitetest.Server(t).Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("fake", "fake", ""),
		HTTPClient:   &http.Client{Transport: s.db},
		Retryer:      fastRetryer(),
	})

	env := map[string]string{
		config.EnvClientID:    s.sim.ClientID(),
		config.EnvRedirectURL: s.base + "/callback",
		config.EnvAccountsURL: s.simURL,
		config.EnvAPIURL:      s.simURL,
		config.EnvTable:       s.table,
		config.EnvLogLevel:    "debug",
	}
	opts := []app.Option{app.WithLogger(logger), app.WithClock(s.sim.Now), app.WithDynamoDB(db), app.WithOwnerPrefix("chats")}
	if sc.secretsManager {
		s.sm = smfake.New()
		s.sm.Set(secretARN, secret)
		env[config.EnvClientSecretARN] = secretARN
		env[config.EnvSecretTTL] = "1s"
		opts = append(opts, app.WithSecretsManager(smfake.Start(t, s.sm)))
	} else {
		env[config.EnvClientSecret] = secret
	}
	if sc.kms {
		s.kms, s.kmsKey = sc.kmsServer, sc.kmsKey
		if s.kms == nil {
			s.kms = kmsfake.New(t)
			s.kmsKey = s.kms.CreateKey()
		}
		env[config.EnvKMSKeyID] = s.kmsKey
		opts = append(opts, app.WithKMS(kms.New(kms.Options{
			Region: kmsfake.Region, BaseEndpoint: aws.String(s.kms.URL()),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""), Retryer: fastRetryer(),
			HTTPClient: &http.Client{Transport: slowTransport{next: http.DefaultTransport, d: sc.kmsLatency}},
		})))
	} else {
		env[config.EnvSealingKey] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	}
	timeout := sc.lcTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	opts = append(opts, app.WithLiveChatHTTPClient(&http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}))
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s.app, err = app.New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	s.st = s.app.Store()
	s.handler.Store(s.app.Handler())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	return s
}

// response is one HTTP answer, fully read.
type response struct {
	status int
	header http.Header
	body   string
}

// jsonError asserts that r is a JSON error answer with status and code, and returns its message.
func (r response) jsonError(t *testing.T, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, r.body)
	}
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error.Message == "" {
		t.Fatalf("not a JSON error body (%v): %s", err, r.body)
	}
	if code != "" && b.Error.Code != code {
		t.Fatalf("error code = %q, want %q; body %s", b.Error.Code, code, r.body)
	}
	return b.Error.Message
}

// anyJSONError asserts that r is a JSON error answer of some 4xx/5xx status and returns its code.
func (r response) anyJSONError(t *testing.T) string {
	t.Helper()
	if r.status < 400 {
		t.Fatalf("status = %d, want an error; body %s", r.status, r.body)
	}
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(r.body), &b) != nil || b.Error.Code == "" {
		t.Fatalf("status %d without a JSON error body: %s", r.status, r.body)
	}
	return b.Error.Code
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// browser keeps cookies and does not follow redirects, so every hop is checked.
type browser struct {
	t      *testing.T
	client *http.Client
	accept string
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
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

// startInstall runs GET /install in b and returns LiveChat's authorize URL.
func (s *stack) startInstall(b *browser) string {
	s.t.Helper()
	r := b.get(s.base + "/install")
	if r.status != http.StatusFound {
		s.t.Fatalf("/install status = %d, want 302; body %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// consent clicks Allow on the simulator for accountID and returns the callback URL.
func (s *stack) consent(authorizeURL, accountID string) string {
	s.t.Helper()
	u, err := s.sim.Authorize(authorizeURL, accountID)
	if err != nil {
		s.t.Fatalf("simulator Authorize: %v", err)
	}
	return u.String()
}

// installResult is the JSON answer of a successful callback.
type installResult struct {
	InstallationID string `json:"installation_id"`
	OrganizationID string `json:"organization_id"`
	AccountID      string `json:"account_id"`
	APIKey         string `json:"api_key"`
}

// install runs the whole browser flow for accountID and returns the callback's result.
func (s *stack) install(accountID string) installResult {
	s.t.Helper()
	b := newBrowser(s.t)
	b.accept = "application/json"
	r := b.get(s.consent(s.startInstall(b), accountID))
	if r.status != http.StatusOK {
		s.t.Fatalf("callback status = %d, want 200; body %s", r.status, r.body)
	}
	var res installResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.APIKey == "" {
		s.t.Fatalf("callback body: %v: %s", err, r.body)
	}
	return res
}

// chats calls GET /chats?query with key.
func (s *stack) chats(key, query string) response {
	s.t.Helper()
	u := s.base + "/chats"
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(s.t, http.DefaultClient, req)
}

// get reads an installation straight from the table.
func (s *stack) get(id string) *store.Installation {
	s.t.Helper()
	inst, err := s.st.Get(context.Background(), id)
	if err != nil {
		s.t.Fatalf("get %s: %v", id, err)
	}
	return inst
}

// logLines parses the log; every line must be one JSON object (log injection would break that).
func (s *stack) logLines() []map[string]any {
	s.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			s.t.Fatalf("log line is not one JSON object (%v): %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// requestLogs returns the per-request log lines of route.
func (s *stack) requestLogs(route string) []map[string]any {
	var out []map[string]any
	for _, l := range s.logLines() {
		if l["msg"] == "request" && l["route"] == route {
			out = append(out, l)
		}
	}
	return out
}

// lastRequestLog returns the last request line of route.
func (s *stack) lastRequestLog(route string) map[string]any {
	s.t.Helper()
	ls := s.requestLogs(route)
	if len(ls) == 0 {
		s.t.Fatalf("no request log line for %s", route)
	}
	return ls[len(ls)-1]
}

// hasLog reports whether a line with msg exists whose attributes include every key/value of attrs.
func (s *stack) hasLog(msg string, attrs map[string]any) bool {
	for _, l := range s.logLines() {
		if l["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			if l[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// noSecretsLogged fails if any of the values appears in the log.
func (s *stack) noSecretsLogged(values ...string) {
	s.t.Helper()
	logs := s.logs.String()
	for _, v := range append(values, clientSecret) {
		if len(v) >= 8 && strings.Contains(logs, v) {
			s.t.Fatalf("the log carries a secret value (%d chars)", len(v))
		}
	}
}
