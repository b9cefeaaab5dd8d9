package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/akrylysov/algnhsa"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/smfake"
	"lcauth/internal/testrig/syncbuf"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

const (
	secretARN    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-client-secret"
	clientSecret = "app-test-client-secret"
)

// stack is the harness's stack (simulator, dynalite table, server); each test builds the App under
// test itself from s.Env and serves it with SetHandler.
type stack struct {
	*harness.Stack
	apiKey string // the key the last flow installed
}

// newStack starts the simulator, a dynalite table and a server; s.Env reaches the table through
// DYNAMODB_ENDPOINT, as local mode does.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{Stack: harness.New(t, harness.Options{ClientSecret: clientSecret, Account: &livechatsim.Account{Chats: 5}})}
	s.Env = s.ProcessEnv()
	return s
}

func (s *stack) load(t *testing.T, fns ...string) config.Config {
	t.Helper()
	cfg, err := config.LoadFor(func(k string) string { return s.Env[k] }, fns...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// flow runs install -> consent -> callback -> chats against the stack's server and returns the
// /chats status.
func (s *stack) flow(t *testing.T) int {
	t.Helper()
	s.apiKey = s.Install(s.Account.AccountID).APIKey
	return s.Chats(s.apiKey, "limit=2").Status
}

func TestNew_LocalConfigurationServesTheWholeFlow(t *testing.T) {
	s := newStack(t)
	a, err := app.New(t.Context(), s.load(t, config.FunctionInstall, config.FunctionCallback, config.FunctionChats),
		app.WithClock(s.Sim.Now), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s.SetHandler(a.Handler())
	if got := s.flow(t); got != http.StatusOK {
		t.Fatalf("/chats: %d, want 200", got)
	}
	if a.Store() == nil || a.Refresher() == nil {
		t.Fatal("store or refresher missing with a table configured")
	}
}

func TestNew_ChatsReportsReauthorizationMetric(t *testing.T) {
	s := newStack(t)
	var metrics syncbuf.Buffer
	a, err := app.New(t.Context(), s.load(t, config.FunctionInstall, config.FunctionCallback, config.FunctionChats),
		app.WithClock(s.Sim.Now), app.WithLogger(app.NewJSONLogger(io.Discard, 0)), app.WithRefreshMetrics(&metrics))
	if err != nil {
		t.Fatal(err)
	}
	s.SetHandler(a.Handler())
	if got := s.flow(t); got != http.StatusOK {
		t.Fatalf("/chats: %d, want 200", got)
	}
	// The customer revokes the grant and the token expires: /chats finds out on its refresh.
	s.Sim.RevokeGrant(s.Account.AccountID)
	s.Sim.Advance(9 * time.Hour)
	if r := s.Chats(s.apiKey, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("/chats after revocation: %d, want 401", r.Status)
	}
	var doc map[string]any
	line, _, _ := strings.Cut(metrics.String(), "\n")
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("metric line %q: %v", metrics.String(), err)
	}
	if doc["ReauthorizationRequired"] != float64(1) {
		t.Fatalf("metric line %s, want ReauthorizationRequired 1", line)
	}
}

func TestNew_AWSConfigurationWithSecretsManagerAndKMS(t *testing.T) {
	s := newStack(t)
	fake := smfake.New()
	fake.Set(secretARN, clientSecret)
	kmsFake := kmsfake.New(t)
	delete(s.Env, config.EnvClientSecret)
	delete(s.Env, config.EnvSealingKey)
	s.Env[config.EnvClientSecretARN] = secretARN
	s.Env[config.EnvKMSKeyID] = kmsFake.CreateKey()
	a, err := app.New(t.Context(), s.load(t, config.FunctionCallback, config.FunctionChats),
		app.WithClock(s.Sim.Now), app.WithSecretsManager(smfake.Start(t, fake)), app.WithKMS(kmsFake.Client()),
		app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s.SetHandler(a.Handler())
	if got := s.flow(t); got != http.StatusOK {
		t.Fatalf("/chats: %d, want 200", got)
	}
	if fake.Calls() != 1 {
		t.Fatalf("Secrets Manager calls = %d, want 1", fake.Calls())
	}
	if kmsFake.Calls("GenerateDataKey") != 1 {
		t.Fatalf("KMS GenerateDataKey calls = %d, want 1", kmsFake.Calls("GenerateDataKey"))
	}
}

func TestNew_InstallFunctionNeedsNoTable(t *testing.T) {
	s := newStack(t)
	for _, k := range []string{config.EnvTable, config.EnvSealingKey, config.EnvDynamoDBEndpoint} {
		delete(s.Env, k)
	}
	a, err := app.New(t.Context(), s.load(t, config.FunctionInstall), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if a.Store() != nil {
		t.Fatal("a store without a table")
	}
	rec := httptest.NewRecorder()
	a.InstallHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/any/path", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("install: %d, want 302", rec.Code)
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/chats", nil)
	req.Header.Set("Authorization", "Bearer lca_x")
	a.ChatsHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not_configured") {
		t.Fatalf("chats without a table: %d %s, want 503 not_configured", rec.Code, rec.Body)
	}
}

// TestLambda_FlowThroughAPIGatewayV2Events drives the per-function handlers through algnhsa with API
// Gateway HTTP API payload v2 events, as the Lambda functions run them: cookies travel in the event's
// cookies array and come back in the response's cookies.
func TestLambda_FlowThroughAPIGatewayV2Events(t *testing.T) {
	s := newStack(t)
	s.Env[config.EnvRedirectURL] = "https://abc.execute-api.us-east-1.amazonaws.com/callback"
	sim2, simSrv := simtest.NewServer(t, livechatsim.Options{ClientSecret: clientSecret, RedirectURIs: []string{s.Env[config.EnvRedirectURL]}})
	acct := sim2.AddAccount(livechatsim.Account{Chats: 3})
	s.Env[config.EnvAccountsURL], s.Env[config.EnvAPIURL] = simSrv.URL, simSrv.URL
	a, err := app.New(t.Context(), s.load(t, config.FunctionInstall, config.FunctionCallback, config.FunctionChats),
		app.WithClock(sim2.Now), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	opts := &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2}
	install, callback, chats := algnhsa.New(a.InstallHandler(), opts), algnhsa.New(a.CallbackHandler(), opts), algnhsa.New(a.ChatsHandler(), opts)

	res := invoke(t, install, v2Event("GET", "/install", "", nil, nil))
	if res.StatusCode != http.StatusFound || len(res.Cookies) != 1 {
		t.Fatalf("install: %d cookies %v", res.StatusCode, res.Cookies)
	}
	if !strings.Contains(res.Cookies[0], "Secure") {
		t.Fatalf("state cookie over https lacks Secure: %s", res.Cookies[0])
	}
	cb, err := sim2.Authorize(res.Headers["Location"], acct.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	cookie := strings.SplitN(res.Cookies[0], ";", 2)[0]
	res = invoke(t, callback, v2Event("GET", "/callback", cb.RawQuery, []string{cookie}, map[string]string{"accept": "application/json"}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d %s", res.StatusCode, res.Body)
	}
	var out struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(res.Body), &out); err != nil {
		t.Fatal(err)
	}
	res = invoke(t, chats, v2Event("GET", "/chats", "limit=2", nil, map[string]string{"authorization": "Bearer " + out.APIKey}))
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "chats_summary") {
		t.Fatalf("chats: %d %s", res.StatusCode, res.Body)
	}
	res = invoke(t, chats, v2Event("GET", "/chats", "", nil, nil))
	if res.StatusCode != http.StatusUnauthorized || res.Headers["Www-Authenticate"] == "" {
		t.Fatalf("chats without key: %d %v", res.StatusCode, res.Headers)
	}
	res = invoke(t, callback, v2Event("GET", "/callback", "asset=copy.js", nil, nil))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("asset via the callback function: %d", res.StatusCode)
	}
}

type v2Response struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
	Body       string            `json:"body"`
}

func v2Event(method, path, rawQuery string, cookies []string, headers map[string]string) []byte {
	ev := map[string]any{
		"version":        "2.0",
		"routeKey":       method + " " + path,
		"rawPath":        path,
		"rawQueryString": rawQuery,
		"cookies":        cookies,
		"headers":        headers,
		"requestContext": map[string]any{
			"http":      map[string]any{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
			"requestId": "req-1", "stage": "$default", "domainName": "abc.execute-api.us-east-1.amazonaws.com",
		},
		"isBase64Encoded": false,
	}
	b, _ := json.Marshal(ev)
	return b
}

func invoke(t *testing.T, h interface {
	Invoke(context.Context, []byte) ([]byte, error)
}, payload []byte) v2Response {
	t.Helper()
	out, err := h.Invoke(t.Context(), payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var r v2Response
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("response: %v: %s", err, out)
	}
	return r
}
