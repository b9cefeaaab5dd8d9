// Package httpapi is lcauth's HTTP edge: the /install, /callback (and /callback/keys), /chats,
// /installations and /webhooks/livechat handlers as plain net/http handlers, served by the Lambda
// functions (through algnhsa) and by the local server alike.
//
// It owns the OAuth state (signed, expiring, bound to the browser by an encrypted cookie), the pages
// (html/template under a strict Content-Security-Policy), the mapping of every domain error to an HTTP
// status and error code (in one place: errors.go), and the per-request log line. It depends on small
// interfaces declared here, not on the concrete store and clients.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

// InstallationStore is the part of the store the handlers use.
type InstallationStore interface {
	// Install saves the tokens of a code exchange; on a fresh start it issues a new API key (returned
	// once), on a reinstall it returns "" and keeps the existing keys.
	Install(ctx context.Context, g store.Grant) (*store.Installation, string, error)
	// Authenticate returns the installation an installation key belongs to, or store.ErrUnauthorized.
	Authenticate(ctx context.Context, apiKey string) (*store.Installation, error)
	// AuthenticateService returns the service key key is, or store.ErrUnauthorized.
	AuthenticateService(ctx context.Context, key string) (store.Key, error)
	// Get returns an installation (service-key requests name one).
	Get(ctx context.Context, id string) (*store.Installation, error)
	// ListInstallations returns one page of installations, without tokens.
	ListInstallations(ctx context.Context, opts store.ListOptions) (*store.InstallationPage, error)
	// CreateInstallationKey adds a key to an installation (the new-key POST after a reinstall).
	CreateInstallationKey(ctx context.Context, installationID, name string) (store.Key, string, error)
	// RevokeInstallationKeys revokes an installation's keys except keepID.
	RevokeInstallationKeys(ctx context.Context, installationID, keepID string) (int, error)
	// ListKeys describes an installation's keys (no secrets), oldest first.
	ListKeys(ctx context.Context, installationID string) ([]store.Key, error)
	// RevokeKey revokes one key by its id.
	RevokeKey(ctx context.Context, id string) error
}

// LiveChat is the part of the LiveChat client the handlers use.
type LiveChat interface {
	AuthorizeURL(state string, pkce livechat.PKCE) string
	Exchange(ctx context.Context, code, codeVerifier string) (*livechat.Token, error)
	ListChats(ctx context.Context, accessToken string, req livechat.ListChatsRequest) (*livechat.ListChatsResponse, error)
}

// Refresher refreshes one installation now through the store's lease protocol (internal/refresh).
type Refresher interface {
	RefreshInstallation(ctx context.Context, inst *store.Installation) (*store.Installation, error)
}

// SecretSource yields the client secret, from which the state keys are derived when no StateKeySource
// is configured.
type SecretSource interface {
	ClientSecret(ctx context.Context) (string, error)
}

// StateKeySource yields the state key (LCAUTH_STATE_KEY or the secret LCAUTH_STATE_KEY_ARN names), from
// which the keys that sign the OAuth state and encrypt its cookie are derived.
type StateKeySource interface {
	StateKey(ctx context.Context) ([]byte, error)
}

var (
	_ InstallationStore = (*store.Store)(nil)
	_ LiveChat          = (*livechat.Client)(nil)
)

// Defaults of Options.
const (
	DefaultStateTTL       = 10 * time.Minute
	DefaultRestartWindow  = 60 * time.Second
	DefaultRefreshMargin  = 2 * time.Minute
	DefaultRequestTimeout = 25 * time.Second
	DefaultMaxBodyBytes   = 64 << 10
	DefaultMaxQueryBytes  = 4 << 10
	// MaxHeaderBytes is what the local server allows for request headers (API Gateway has its own).
	MaxHeaderBytes = 16 << 10
)

// Options configure a Server. LiveChat, Secret and RedirectURL are required. Store and Refresher are
// needed by /callback and /chats only: the install function runs without a table, and without them
// those routes answer 503 not_configured.
type Options struct {
	Store     InstallationStore
	LiveChat  LiveChat
	Refresher Refresher
	Secret    SecretSource
	// StateKey, if set, is where the state keys come from; otherwise they are derived from Secret.
	StateKey StateKeySource
	// RedirectURL is the public URL of /callback (LIVECHAT_REDIRECT_URL); its path scopes the state
	// cookie and mounts the callback in Handler.
	RedirectURL string
	// InstallURL is the public URL of /install; default config.DefaultInstallURL(RedirectURL).
	InstallURL string
	// ChatsURL is the public URL of /chats shown in the curl example; default: next to RedirectURL.
	ChatsURL string
	// PKCE is "off" (or ""), "S256" or "plain".
	PKCE string
	// Logger receives one line per request; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for state expiry and the refresh margin; default time.Now. It must agree with
	// the store's and the refresher's clocks.
	Now func() time.Time
	// StateTTL is how long an /install may take (default 10m).
	StateTTL time.Duration
	// RestartWindow: a second code without our state within it is refused rather than restarted
	// (default 60s; LiveChat allows 3 redirects per 30s).
	RestartWindow time.Duration
	// RefreshMargin: /chats refreshes first when the access token expires within it (default 2m).
	RefreshMargin time.Duration
	// RequestTimeout bounds the work of one request (default 25s, under API Gateway's 30s).
	RequestTimeout time.Duration
	// MaxBodyBytes bounds POST /chats bodies (default 64 KiB).
	MaxBodyBytes int64
	// MaxQueryBytes bounds raw query strings (default 4 KiB).
	MaxQueryBytes int
	// Uninstaller and WebhookSecret serve POST /webhooks/livechat; without either it answers 503
	// not_configured. ClientID is our LiveChat client id: events for any other are ignored.
	Uninstaller   Uninstaller
	WebhookSecret SecretSource
	ClientID      string
}

// Server holds the handlers' dependencies. It is safe for concurrent use.
type Server struct {
	st          InstallationStore
	lc          LiveChat
	refresher   Refresher
	secret      SecretSource
	stateKey    StateKeySource
	log         *slog.Logger
	now         func() time.Time
	pkce        string
	installURL  string
	chatsURL    string
	callbackURL *url.URL
	scriptURL   string
	hsts        bool
	secure      bool
	used        *usedStates

	uninstaller   Uninstaller
	webhookSecret SecretSource
	clientID      string

	stateTTL, restartWindow, refreshMargin, timeout time.Duration
	maxBody                                         int64
	maxQuery                                        int
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	var missing []string
	if opts.LiveChat == nil {
		missing = append(missing, "LiveChat")
	}
	if (opts.Store == nil) != (opts.Refresher == nil) {
		missing = append(missing, "Store and Refresher (both or neither)")
	}
	if opts.Secret == nil {
		missing = append(missing, "Secret")
	}
	if len(missing) > 0 {
		return nil, errors.New("httpapi: options missing " + strings.Join(missing, ", "))
	}
	cb, err := url.Parse(opts.RedirectURL)
	if err != nil || !cb.IsAbs() || cb.Host == "" {
		return nil, errors.New("httpapi: RedirectURL must be an absolute URL")
	}
	if cb.Path == "" {
		cb.Path = "/"
	}
	s := &Server{
		st: opts.Store, lc: opts.LiveChat, refresher: opts.Refresher, secret: opts.Secret, stateKey: opts.StateKey,
		log: opts.Logger, now: opts.Now, callbackURL: cb,
		installURL: opts.InstallURL, chatsURL: opts.ChatsURL,
		stateTTL: opts.StateTTL, restartWindow: opts.RestartWindow, refreshMargin: opts.RefreshMargin,
		timeout: opts.RequestTimeout, maxBody: opts.MaxBodyBytes, maxQuery: opts.MaxQueryBytes,
		used:        newUsedStates(10000),
		uninstaller: opts.Uninstaller, webhookSecret: opts.WebhookSecret, clientID: opts.ClientID,
	}
	switch strings.ToLower(opts.PKCE) {
	case "", "off":
	case "s256":
		s.pkce = "S256"
	case "plain":
		s.pkce = "plain"
	default:
		return nil, errors.New("httpapi: PKCE must be off, S256 or plain")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.installURL == "" {
		s.installURL = sibling(cb, "install")
	}
	if s.chatsURL == "" {
		s.chatsURL = sibling(cb, "chats")
	}
	s.scriptURL = cb.Path + "?" + AssetParam + "=copy.js"
	// A Secure cookie over plain http would be dropped by the browser (and by Go's cookie jar), so the
	// flag follows the scheme of the public callback URL: always set in AWS, where it is https.
	s.secure = cb.Scheme == "https"
	s.hsts = s.secure
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.stateTTL, DefaultStateTTL)
	def(&s.restartWindow, DefaultRestartWindow)
	def(&s.refreshMargin, DefaultRefreshMargin)
	def(&s.timeout, DefaultRequestTimeout)
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxQuery <= 0 {
		s.maxQuery = DefaultMaxQueryBytes
	}
	return s, nil
}

// sibling replaces the last path segment of u with name.
func sibling(u *url.URL, name string) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawPath = "", "", ""
	c.Path = path.Join(path.Dir(strings.TrimSuffix(u.Path, "/")), name)
	return c.String()
}

// MethodAny is API Gateway's catch-all route method.
const MethodAny = "ANY"

// Route is one route of the HTTP interface. The infrastructure builds its API routes from Routes, so
// the list exists once.
type Route struct {
	Method   string // GET, POST, or MethodAny: API Gateway then sends every method and the handler answers 405 itself
	Path     string // API Gateway route path
	Function string // the Lambda function serving it (config.Function*)
}

// Routes lists every route and the function that serves it. The pages' script is served by the
// callback route itself (?asset=copy.js), so no other route exists.
func Routes() []Route {
	return []Route{
		{http.MethodGet, "/install", "install"},
		{http.MethodGet, "/callback", "callback"},
		{http.MethodPost, "/callback" + NewKeyPath, "callback"},
		{http.MethodGet, "/chats", "chats"},
		{http.MethodPost, "/chats", "chats"},
		{http.MethodGet, "/installations", "installations"},
		// ANY, so a wrong method gets the handler's 405 with Allow: POST, not API Gateway's 404.
		{MethodAny, WebhookPath, "webhook"},
	}
}

// InstallHandler serves /install whatever the path (the Lambda function behind one API route).
func (s *Server) InstallHandler() http.Handler { return s.wrap("install", false, s.install) }

// CallbackHandler serves /callback, the pages' script at /callback?asset=copy.js, and the new-key POST
// at /callback/keys (told apart by the path's last segment, whatever the prefix).
func (s *Server) CallbackHandler() http.Handler {
	cb := s.wrap("callback", false, s.callback)
	assets := s.wrap("asset", false, serveAsset)
	keys := s.wrap("callback_keys", false, s.newKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, NewKeyPath) && r.URL.Path != s.callbackURL.Path {
			keys.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.RawQuery, AssetParam+"=") {
			assets.ServeHTTP(w, r)
			return
		}
		cb.ServeHTTP(w, r)
	})
}

// ChatsHandler serves /chats whatever the path.
func (s *Server) ChatsHandler() http.Handler { return s.wrap("chats", true, s.chats) }

// InstallationsHandler serves GET /installations whatever the path.
func (s *Server) InstallationsHandler() http.Handler {
	return s.wrap("installations", true, s.installations)
}

// Handler serves every route on one mux (local server, local mode): the install and callback paths of
// the configured URLs and /chats.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	installPath := "/install"
	if u, err := url.Parse(s.installURL); err == nil && u.Path != "" {
		installPath = u.Path
	}
	chatsPath := "/chats"
	if u, err := url.Parse(s.chatsURL); err == nil && u.Path != "" {
		chatsPath = u.Path
	}
	seen := map[string]bool{}
	handle := func(pattern string, h http.Handler) {
		// Misconfigured URLs could name one path twice; the first route wins rather than a panic.
		if !seen[pattern] {
			seen[pattern] = true
			mux.Handle(pattern, h)
		}
	}
	handle(installPath, s.InstallHandler())
	handle(s.callbackURL.Path, s.CallbackHandler())
	handle(strings.TrimSuffix(s.callbackURL.Path, "/")+NewKeyPath, s.CallbackHandler())
	handle(chatsPath, s.ChatsHandler())
	handle(path.Join(path.Dir(chatsPath), "installations"), s.InstallationsHandler())
	handle(WebhookPath, s.WebhookHandler())
	handle("/", s.wrap("not_found", false, func(w http.ResponseWriter, r *http.Request) *apiError {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such route. The routes are /install, /callback, /chats, /installations and " + WebhookPath + "."}
	}))
	return mux
}
