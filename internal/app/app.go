// Package app is lcauth's composition root: from a config.Config it builds the AWS clients (honouring
// DYNAMODB_ENDPOINT), the token sealer (KMS or a local key), the client secret source (Secrets Manager
// or a local value), the LiveChat client, the store, the refresher and the HTTP handlers. The Lambda
// mains and cmd/lcauth share it, so local runs wire exactly what AWS runs.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
	"lcauth/internal/lifecycle"
	"lcauth/internal/livechat"
	"lcauth/internal/refresh"
	"lcauth/internal/sealing"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// App holds everything one process needs. Parts a function does not need are nil: the install
// function has no store (it needs no table), so Store and Refresher return nil there.
type App struct {
	cfg       config.Config
	log       *slog.Logger
	now       func() time.Time
	secret    livechat.SecretSource
	lc        *livechat.Client
	store     *store.Store
	refresher *refresh.Refresher
	uninst    *lifecycle.Uninstaller
	http      *httpapi.Server
}

type options struct {
	logger      *slog.Logger
	now         func() time.Time
	httpClient  *http.Client
	dynamo      store.DynamoDBAPI
	sm          secrets.GetSecretValueAPI
	kms         sealing.KMSAPI
	awsCfg      *aws.Config
	ownerPrefix string
	metrics     io.Writer
	secret      livechat.SecretSource
	reqTimeout  time.Duration
}

// Option adjusts New (tests, local mode).
type Option func(*options)

// WithLogger sets the logger; default: JSON to stderr at the configured level.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the business clock shared by store, refresher and handlers (tests, the simulator).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLiveChatHTTPClient sets the HTTP client used to call LiveChat.
func WithLiveChatHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithDynamoDB injects the DynamoDB client instead of building one.
func WithDynamoDB(db store.DynamoDBAPI) Option { return func(o *options) { o.dynamo = db } }

// WithSecretsManager injects the Secrets Manager client instead of building one.
func WithSecretsManager(c secrets.GetSecretValueAPI) Option { return func(o *options) { o.sm = c } }

// WithKMS injects the KMS client instead of building one.
func WithKMS(c sealing.KMSAPI) Option { return func(o *options) { o.kms = c } }

// WithAWSConfig uses cfg instead of loading the default AWS configuration.
func WithAWSConfig(cfg aws.Config) Option { return func(o *options) { o.awsCfg = &cfg } }

// WithOwnerPrefix names this process in refresh leases (for example "chats" or "refresh").
func WithOwnerPrefix(p string) Option { return func(o *options) { o.ownerPrefix = p } }

// WithRefreshMetrics makes the App's on-demand refresher (the one /chats uses) write CloudWatch Embedded
// Metric Format lines to w, so a re-authorization discovered by /chats raises the same
// ReauthorizationRequired metric as one discovered by the scheduled pass.
func WithRefreshMetrics(w io.Writer) Option { return func(o *options) { o.metrics = w } }

// WithClientSecretSource makes src the client secret source instead of the one the configuration
// names (Secrets Manager or LIVECHAT_CLIENT_SECRET). Tests use it to change or remove the secret
// while the App runs.
func WithClientSecretSource(src livechat.SecretSource) Option {
	return func(o *options) { o.secret = src }
}

// WithRequestTimeout bounds the work of one HTTP request (httpapi.Options.RequestTimeout; default
// httpapi.DefaultRequestTimeout). Tests shorten it to see a hanging LiveChat end in a timeout.
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.reqTimeout = d } }

// New builds the App. It makes no network call: AWS clients connect on first use.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{cfg: cfg, log: o.logger, now: o.now}
	if a.log == nil {
		a.log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	if a.now == nil {
		a.now = time.Now
	}
	awsl := &awsLoader{ctx: ctx, cfg: o.awsCfg}
	if err := a.clientSecret(&o, awsl); err != nil {
		return nil, err
	}
	lc, err := livechat.New(livechat.Config{
		AccountsURL: cfg.AccountsURL, APIURL: cfg.APIURL, ClientID: cfg.ClientID, RedirectURL: cfg.RedirectURL,
		ClientSecret: a.secret, HTTPClient: o.httpClient, Now: a.now,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	a.lc = lc
	if cfg.Table != "" {
		if err := a.storage(&o, awsl); err != nil {
			return nil, err
		}
	}
	if cfg.RedirectURL != "" {
		if err := a.httpServer(&o, awsl); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// clientSecret sets where the client secret comes from: the injected source, Secrets Manager, or the
// configuration's value.
func (a *App) clientSecret(o *options, awsl *awsLoader) error {
	switch {
	case o.secret != nil:
		a.secret = o.secret
	case a.cfg.ClientSecretARN != "":
		sm, err := awsl.secretsManager(o.sm)
		if err != nil {
			return err
		}
		a.secret = secrets.NewSecretsManager(sm, a.cfg.ClientSecretARN, a.cfg.SecretTTL)
	default:
		// Empty or the placeholder: the endpoints answer 503 not_configured rather than refuse to start.
		a.secret = secrets.Static(a.cfg.ClientSecret)
	}
	return nil
}

// storage builds the store (sealer, DynamoDB client) and what works on it: the refresher and the
// uninstaller.
func (a *App) storage(o *options, awsl *awsLoader) error {
	sealer, err := newSealer(a.cfg, o.kms, awsl)
	if err != nil {
		return err
	}
	db := o.dynamo
	if db == nil {
		if db, err = newDynamoDB(a.cfg, awsl); err != nil {
			return err
		}
	}
	a.store = store.New(db, a.cfg.Table, sealer, store.WithClock(a.now))
	prefix := o.ownerPrefix
	if prefix == "" {
		prefix = "lcauth"
	}
	a.refresher = refresh.New(a.store, a.lc, refresh.Options{
		Window: a.cfg.RefreshWindow, Concurrency: a.cfg.RefreshConcurrency, Rate: a.cfg.RefreshRate,
		Now: a.now, Logger: a.log, OwnerPrefix: prefix, Metrics: o.metrics, MetricsService: a.cfg.MetricsService,
	})
	a.uninst = lifecycle.New(a.store, a.lc, lifecycle.Options{Logger: a.log, Metrics: o.metrics, MetricsService: a.cfg.MetricsService})
	return nil
}

// httpServer builds the HTTP handlers (with the store where there is one, the webhook and the state key).
func (a *App) httpServer(o *options, awsl *awsLoader) error {
	hopts := httpapi.Options{
		LiveChat: a.lc, Secret: a.secret, RedirectURL: a.cfg.RedirectURL, InstallURL: a.cfg.InstallURL,
		PKCE: a.cfg.PKCE, Logger: a.log, Now: a.now, RequestTimeout: o.reqTimeout,
	}
	if a.store != nil {
		hopts.Store, hopts.Refresher = a.store, a.refresher
	}
	if err := a.webhookOptions(&hopts, o.sm, awsl); err != nil {
		return err
	}
	if err := a.stateKeyOptions(&hopts, o.sm, awsl); err != nil {
		return err
	}
	var err error
	if a.http, err = httpapi.New(hopts); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// Config returns the configuration the App was built from.
func (a *App) Config() config.Config { return a.cfg }

// Logger returns the App's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// LiveChat returns the LiveChat client.
func (a *App) LiveChat() *livechat.Client { return a.lc }

// Store returns the installation store, or nil when no table is configured.
func (a *App) Store() *store.Store { return a.store }

// Refresher returns the refresher, or nil when no table is configured.
func (a *App) Refresher() *refresh.Refresher { return a.refresher }

// errNoHTTP is what the handler accessors report through their 503 when LIVECHAT_REDIRECT_URL is unset.
var errNoHTTP = errors.New("app: LIVECHAT_REDIRECT_URL is not set; the HTTP handlers are not available")

// Handler serves every route (local server, local mode).
func (a *App) Handler() http.Handler { return a.httpHandler((*httpapi.Server).Handler) }

// InstallHandler serves /install (the install function).
func (a *App) InstallHandler() http.Handler { return a.httpHandler((*httpapi.Server).InstallHandler) }

// CallbackHandler serves /callback and the page script (the callback function).
func (a *App) CallbackHandler() http.Handler { return a.httpHandler((*httpapi.Server).CallbackHandler) }

// ChatsHandler serves /chats (the chats function).
func (a *App) ChatsHandler() http.Handler { return a.httpHandler((*httpapi.Server).ChatsHandler) }

// InstallationsHandler serves GET /installations (the installations function).
func (a *App) InstallationsHandler() http.Handler {
	return a.httpHandler((*httpapi.Server).InstallationsHandler)
}

// httpHandler returns the handler pick takes from the HTTP server, or, in a process without one,
// a handler that answers 503.
func (a *App) httpHandler(pick func(*httpapi.Server) http.Handler) http.Handler {
	if a.http == nil {
		return unavailable(a.log)
	}
	return pick(a.http)
}

// unavailable answers 503 for a process built without LIVECHAT_REDIRECT_URL; config.LoadFor refuses
// that for the HTTP functions, so only a caller that skipped it sees this.
func unavailable(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.ErrorContext(r.Context(), errNoHTTP.Error())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"not_configured","message":"LIVECHAT_REDIRECT_URL is not set."}}` + "\n"))
	})
}

func newSealer(cfg config.Config, client sealing.KMSAPI, awsl *awsLoader) (sealing.Sealer, error) {
	switch {
	case len(cfg.SealingKey) > 0:
		s, err := sealing.NewStatic(sealing.StaticKeyID(cfg.SealingKey), cfg.SealingKey)
		if err != nil {
			return nil, fmt.Errorf("app: %s: %w", config.EnvSealingKey, err)
		}
		return s, nil
	case cfg.KMSKeyID != "":
		if client == nil {
			ac, err := awsl.load()
			if err != nil {
				return nil, err
			}
			client = kms.NewFromConfig(ac)
		}
		return sealing.NewKMS(client, cfg.KMSKeyID), nil
	}
	return nil, fmt.Errorf("app: %s or %s is required with %s", config.EnvKMSKeyID, config.EnvSealingKey, config.EnvTable)
}

// newDynamoDB builds the DynamoDB client. With DYNAMODB_ENDPOINT (dynalite) it uses static dummy
// credentials and needs no AWS configuration at all.
func newDynamoDB(cfg config.Config, awsl *awsLoader) (*dynamodb.Client, error) {
	if cfg.DynamoDBEndpoint != "" {
		region := os.Getenv("AWS_REGION")
		if region == "" {
			region = "us-east-1"
		}
		return dynamodb.New(dynamodb.Options{
			Region:       region,
			BaseEndpoint: &cfg.DynamoDBEndpoint,
			Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		}), nil
	}
	ac, err := awsl.load()
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(ac), nil
}

// awsLoader loads the default AWS configuration once, only if some client needs it.
type awsLoader struct {
	ctx context.Context
	cfg *aws.Config
	sm  secrets.GetSecretValueAPI
}

// secretsManager returns sm, or, when it is nil, a Secrets Manager client built (once) from the
// default AWS configuration.
func (l *awsLoader) secretsManager(sm secrets.GetSecretValueAPI) (secrets.GetSecretValueAPI, error) {
	if sm != nil {
		return sm, nil
	}
	if l.sm == nil {
		ac, err := l.load()
		if err != nil {
			return nil, err
		}
		l.sm = secretsmanager.NewFromConfig(ac)
	}
	return l.sm, nil
}

func (l *awsLoader) load() (aws.Config, error) {
	if l.cfg != nil {
		return *l.cfg, nil
	}
	ac, err := awsconfig.LoadDefaultConfig(l.ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("app: load AWS configuration: %w", err)
	}
	l.cfg = &ac
	return ac, nil
}
