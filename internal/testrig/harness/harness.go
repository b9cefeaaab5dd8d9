// Package harness is the one test harness for lcauth's HTTP-level suites (httpapi, e2e, e2e/hardening,
// app, cmd/lcauth). A Stack is one lcauth process built by app.New, exactly as cmd/lcauth and the
// Lambdas build it, served by app.NewServer's http.Server on a loopback port, in front of the
// LiveChat simulator (simtest), a fresh dynalite table (dynalitetest) reached through a
// fault-injecting, operation-counting transport, and optionally the Secrets Manager and KMS fakes.
//
// Around it: a browser-like client (cookie jar, no redirect following), the install / consent /
// callback / chats steps (on Site, which also reaches an lcauth in another process or behind e2e's
// API Gateway), the captured JSON log, and fault hooks (LiveChat faults and latency
// through the simulator, DynamoDB faults through Stack.DB, KMS and Secrets Manager through their
// fakes).
//
// Packages using it call dynalitetest.Main from their TestMain, so the shared dynalite stops with
// the test binary.
package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/smfake"
	"lcauth/internal/testrig/syncbuf"
)

// Values a Stack uses unless Options say otherwise.
const (
	// ClientSecret is the OAuth client secret the simulator and lcauth share by default.
	ClientSecret = "harness-client-secret-6c2a91"
	// SecretARN is the Secrets Manager ARN of the client secret with Options.SecretsManager.
	SecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-client-secret-AbCdEf"
	// DefaultLiveChatTimeout is the LiveChat HTTP client's overall timeout, so hangs end fast.
	DefaultLiveChatTimeout = 2 * time.Second
)

// DefaultAccount is the LiveChat account every Stack adds to its simulator unless Options.Account
// is set.
var DefaultAccount = livechatsim.Account{Email: "owner@example.com", Chats: 7}

// Options select the optional parts of a Stack. The zero value is a complete stack with the client
// secret in the environment, a local sealing key and a fresh table.
type Options struct {
	// ClientSecret overrides ClientSecret (the simulator's and lcauth's).
	ClientSecret string
	// Secret, if set, is lcauth's client secret source (app.WithClientSecretSource); the simulator
	// still expects ClientSecret.
	Secret livechat.SecretSource
	// SecretsManager: the client secret comes from the Secrets Manager fake (Stack.SM) at SecretARN,
	// cached for one second.
	SecretsManager bool
	// KMS: tokens are sealed through the KMS fake (Stack.KMS) instead of a local key.
	KMS bool
	// KMSServer and KMSKey share another stack's KMS fake and key (with KMS).
	KMSServer *kmsfake.Server
	KMSKey    string
	// KMSLatency delays every KMS call (a slow KMS).
	KMSLatency time.Duration
	// Table uses this table (another stack's) instead of a fresh one.
	Table string
	// Sim and SimURL share another stack's simulator.
	Sim    *livechatsim.Simulator
	SimURL string
	// Sim options for a new simulator (ClientSecret and RedirectURIs are filled in).
	SimOptions livechatsim.Options
	// Account is added to the simulator (default DefaultAccount).
	Account *livechatsim.Account
	// LiveChatTimeout is the LiveChat HTTP client's overall timeout (default DefaultLiveChatTimeout).
	LiveChatTimeout time.Duration
	// RequestTimeout bounds one HTTP request's work (app.WithRequestTimeout; default the product's).
	RequestTimeout time.Duration
	// Env adds to or overrides the configuration environment (config.Env* names), e.g. LCAUTH_PKCE.
	Env map[string]string
	// AppOptions are passed to app.New after the harness's own.
	AppOptions []app.Option
}

// Stack is one running lcauth and what it talks to. Fields are for the tests to read and drive.
type Stack struct {
	// Site is how tests reach it: T, URL (lcauth's base URL, served by Server) and the flow steps;
	// its consent is the simulator's Authorize.
	Site
	Server *httptest.Server
	// App is the composition under test; Store is App.Store().
	App   *app.App
	Store *store.Store
	// Config is what app.New was given; Env is the environment it was loaded from.
	Config config.Config
	Env    map[string]string
	// Sim is the LiveChat simulator at SimURL; Account is the account added to it.
	Sim     *livechatsim.Simulator
	SimURL  string
	Account livechatsim.Account
	// DB counts DynamoDB operations and injects faults; Table is the table's name.
	DB    *DynamoFaults
	Table string
	// SM is the Secrets Manager fake (Options.SecretsManager), KMS and KMSKey the KMS fake (Options.KMS).
	SM     *smfake.Fake
	KMS    *kmsfake.Server
	KMSKey string
	// Logs is everything lcauth logged (JSON, debug level); see LogLines.
	Logs *syncbuf.Buffer

	secret  string
	handler atomic.Value
}

// New starts a Stack; everything stops when the test ends, and the log is printed if it failed.
func New(tb testing.TB, o Options) *Stack {
	tb.Helper()
	s := &Stack{Site: Site{T: tb}, Logs: &syncbuf.Buffer{}, secret: o.ClientSecret}
	if s.secret == "" {
		s.secret = ClientSecret
	}
	logger := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.startServer(logger)
	s.startSimulator(o)
	s.DB = NewDynamoFaults()
	s.Table = o.Table
	if s.Table == "" {
		_, s.Table = dynalitetest.Table(tb)
	}
	s.Env = map[string]string{
		config.EnvClientID:    s.Sim.ClientID(),
		config.EnvRedirectURL: s.URL + "/callback",
		config.EnvAccountsURL: s.SimURL,
		config.EnvAPIURL:      s.SimURL,
		config.EnvTable:       s.Table,
		config.EnvLogLevel:    "debug",
	}
	opts := []app.Option{app.WithLogger(logger), app.WithClock(s.Sim.Now), app.WithOwnerPrefix("chats"),
		app.WithDynamoDB(s.DB.Client(dynalitetest.Server(tb).Endpoint())),
		app.WithLiveChatHTTPClient(LiveChatClient(o.LiveChatTimeout))}
	opts = append(opts, s.secretOptions(o)...)
	opts = append(opts, s.sealingOptions(o)...)
	if o.Secret != nil {
		opts = append(opts, app.WithClientSecretSource(o.Secret))
	}
	if o.RequestTimeout > 0 {
		opts = append(opts, app.WithRequestTimeout(o.RequestTimeout))
	}
	for k, v := range o.Env {
		s.Env[k] = v
	}
	s.build(append(opts, o.AppOptions...))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", s.Logs.String())
		}
	})
	return s
}

// startServer serves the handler SetHandler sets through the local server's own http.Server:
// its header limit and timeouts are part of what is tested.
func (s *Stack) startServer(logger *slog.Logger) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.Load().(http.Handler).ServeHTTP(w, r) })
	s.Server = httptest.NewUnstartedServer(h)
	s.Server.Config = app.NewServer("127.0.0.1:0", h, logger)
	s.Server.Start()
	s.T.Cleanup(s.Server.Close)
	s.URL = s.Server.URL
}

func (s *Stack) startSimulator(o Options) {
	if o.Sim != nil {
		s.Sim, s.SimURL = o.Sim, o.SimURL
	} else {
		so := o.SimOptions
		so.ClientSecret = s.secret
		so.RedirectURIs = append(so.RedirectURIs, s.URL+"/callback")
		var srv *httptest.Server
		s.Sim, srv = simtest.NewServer(s.T, so)
		s.SimURL = srv.URL
	}
	acct := DefaultAccount
	if o.Account != nil {
		acct = *o.Account
	}
	s.Account = s.Sim.AddAccount(acct)
	s.Allow = AllowAt(s.Sim)
}

func (s *Stack) secretOptions(o Options) []app.Option {
	if !o.SecretsManager {
		s.Env[config.EnvClientSecret] = s.secret
		return nil
	}
	s.SM = smfake.New()
	s.SM.Set(SecretARN, s.secret)
	s.Env[config.EnvClientSecretARN] = SecretARN
	s.Env[config.EnvSecretTTL] = "1s"
	return []app.Option{app.WithSecretsManager(smfake.Start(s.T, s.SM))}
}

func (s *Stack) sealingOptions(o Options) []app.Option {
	if !o.KMS {
		s.Env[config.EnvSealingKey] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
		return nil
	}
	s.KMS, s.KMSKey = o.KMSServer, o.KMSKey
	if s.KMS == nil {
		s.KMS = kmsfake.New(s.T)
		s.KMSKey = s.KMS.CreateKey()
	}
	s.Env[config.EnvKMSKeyID] = s.KMSKey
	return []app.Option{app.WithKMS(kms.New(kms.Options{
		Region: kmsfake.Region, BaseEndpoint: aws.String(s.KMS.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""), Retryer: FastRetryer(),
		HTTPClient: &http.Client{Transport: SlowTransport{Next: http.DefaultTransport, Delay: o.KMSLatency}},
	}))}
}

func (s *Stack) build(opts []app.Option) {
	s.T.Helper()
	cfg, err := config.Load(func(k string) string { return s.Env[k] })
	if err != nil {
		s.T.Fatalf("config: %v", err)
	}
	s.Config = cfg
	s.App, err = app.New(context.Background(), cfg, opts...)
	if err != nil {
		s.T.Fatalf("app.New: %v", err)
	}
	s.Store = s.App.Store()
	s.SetHandler(s.App.Handler())
}

// SetHandler replaces what the server serves (for example one Lambda function's handler).
func (s *Stack) SetHandler(h http.Handler) { s.handler.Store(h) }

// LiveChatClient is the HTTP client lcauth uses for LiveChat in a Stack: an overall timeout
// (default DefaultLiveChatTimeout) and no redirect following.
func LiveChatClient(timeout time.Duration) *http.Client {
	if timeout == 0 {
		timeout = DefaultLiveChatTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Get reads an installation straight from the table.
func (s *Stack) Get(id string) *store.Installation {
	s.T.Helper()
	inst, err := s.Store.Get(context.Background(), id)
	if err != nil {
		s.T.Fatalf("get %s: %v", id, err)
	}
	return inst
}

// NewDynamoDB returns a DynamoDB client for the shared dynalite whose requests go through t.
func newDynamoDB(endpoint string, t http.RoundTripper) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("fake", "fake", ""),
		HTTPClient:   &http.Client{Transport: t},
		Retryer:      FastRetryer(),
	})
}

// InstallDirect adds acct to the simulator and saves an installation for it with tokens the
// simulator mints, without the browser flow; it returns the installation, its API key and the
// account as added.
func (s *Stack) InstallDirect(acct livechatsim.Account) (*store.Installation, string, livechatsim.Account) {
	s.T.Helper()
	acc := s.Sim.AddAccount(acct)
	tok := s.Sim.GrantTokens(acc.AccountID)
	inst, key, err := s.Store.Install(context.Background(), store.Grant{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Scope: tok.Scope,
		ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID, AccountID: tok.AccountID, Region: tok.Region,
	})
	if err != nil {
		s.T.Fatalf("install: %v", err)
	}
	return inst, key, acc
}

// ProcessEnv returns a copy of Env plus DYNAMODB_ENDPOINT: the configuration of another lcauth
// process (a command, a Lambda handler, a second App) on this stack's simulator and table.
func (s *Stack) ProcessEnv() map[string]string {
	env := map[string]string{config.EnvDynamoDBEndpoint: dynalitetest.Server(s.T).Endpoint()}
	for k, v := range s.Env {
		env[k] = v
	}
	return env
}
