// Package livechatsim is an in-process simulator of the parts of LiveChat that lcauth
// uses: the Accounts OAuth server (consent page, /v2/token for both grants, /v2/info,
// DELETE /v2/token) and the Agent Chat Web API's list_chats. One http.Handler serves
// both hosts' paths, so a test points Config.AccountsURL and Config.APIURL at the same
// httptest server.
//
// It is faithful to LiveChat where LiveChat documents its behaviour (region-prefixed,
// URL-encoded, single-use, expiring codes; the redirect_uri matching rules; both
// token error shapes; list_chats paging and its validation rules; misdirected_request
// for accounts in another region; 25 tokens per user) and makes a documented guess
// where it does not (docs/design.md, "LiveChat simulator", names the deviations). A person can click
// through an install against it in a browser: GET / shows a consent page with Allow
// and Deny buttons and needs no JavaScript.
//
// Tests steer it with controls: a settable clock (Advance), token lifetime, grant
// revocation, refresh-token rotation, the legacy error shape, per-endpoint latency and
// fault injection (status codes with LiveChat error bodies, 429 with Retry-After, hangs,
// malformed or huge bodies, connection resets), and counters of calls per endpoint and
// of successful refreshes per account. Every method is safe for concurrent use.
package livechatsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"lcauth/internal/livechat"
)

// Defaults used when Options leaves a field zero.
const (
	DefaultClientID      = "lcauth-simulator-client"
	DefaultClientSecret  = "lcauth-simulator-secret"
	DefaultTokenLifetime = 8 * time.Hour
	// DefaultCodeLifetime: LiveChat says codes live "a few minutes".
	DefaultCodeLifetime = 5 * time.Minute
	// DefaultScope is what every grant gets unless Options.Scope says otherwise.
	DefaultScope = "chats--all:ro,chats--access:ro,agents--all:ro"
	// DefaultRegion is the region of api.livechatinc.com when no X-Region is sent,
	// and of accounts added without one.
	DefaultRegion = "dal"
	// MaxTokensPerUser is LiveChat's limit of access (and of refresh) tokens per client
	// per user; issuing one more revokes the oldest.
	MaxTokensPerUser = 25
)

// Options configures a Simulator.
type Options struct {
	// ClientID and ClientSecret of the one OAuth client the simulator knows;
	// defaults DefaultClientID, DefaultClientSecret.
	ClientID, ClientSecret string
	// RedirectURIs is the client's whitelist, matched with LiveChat's rules: same
	// scheme and host:port, whitelisted path a prefix of the requested one, no query
	// or fragment, and a trailing slash must match.
	RedirectURIs []string
	// Now is the base clock; default time.Now. Advance adds to it, so by default the
	// simulator's clock runs in real time from its start, shifted by every Advance
	// (local mode needs a running clock; tests move it with Advance).
	Now func() time.Time
	// TokenLifetime is expires_in of every access token; default 8h.
	TokenLifetime time.Duration
	// CodeLifetime bounds how long an authorization code can be exchanged; default 5m.
	CodeLifetime time.Duration
	// Scope granted to every token; default DefaultScope.
	Scope string
	// Seed adds one organization with one account (agent@example.com, region dal)
	// holding 30 chats, for local mode.
	Seed bool
	// LegacyErrors makes the token endpoint answer errors in the legacy
	// {"oauth_exception", "exception_description"} shape.
	LegacyErrors bool
	// RotateRefreshTokens issues a new refresh token on every refresh and invalidates
	// the old one (off by default, as for LiveChat's confidential clients).
	RotateRefreshTokens bool
	// EnforceRedirectLimit applies LiveChat's limit of 3 authorization requests per
	// 30 seconds per client (LiveChat counts per client per user; before consent the
	// simulator cannot tell users apart): the 4th within the window goes to /ooops with
	// too_many_redirects. Off by default so that table tests may authorize freely; on,
	// it catches /install <-> /callback loops.
	EnforceRedirectLimit bool
	// WebhookURL is where Uninstall POSTs LiveChat's application_uninstalled App Webhook (the URL
	// an app maker pastes into the Developer Console, with lcauth's ?secret=); empty: none is sent.
	WebhookURL string
	// WebhookClient sends the App Webhooks; default a client with a 10 s timeout.
	WebhookClient *http.Client
}

// Redirect limit LiveChat applies to authorization requests.
const (
	RedirectLimit       = 3
	RedirectLimitWindow = 30 * time.Second
)

// Account is one LiveChat user (agent) in an organization.
type Account struct {
	// OrganizationID and AccountID are UUIDs; generated when empty.
	OrganizationID, AccountID string
	// Email of the agent; generated when empty.
	Email string
	// Region is where the account lives ("dal", "fra"); default "dal". Agent API calls
	// for an account outside "dal" need X-Region, else misdirected_request.
	Region string
	// Chats is how many chat summaries list_chats returns for this account's
	// organization.
	Chats int
}

// Simulator is the fake LiveChat. Create it with New or NewServer.
type Simulator struct {
	mu       sync.Mutex
	opts     Options
	secret   string
	base     func() time.Time
	offset   time.Duration
	lifetime time.Duration
	rotate   bool
	legacy   bool

	accounts map[string]*account // by AccountID
	order    []string            // AccountIDs in creation order
	codes    map[string]*authCode
	access   map[string]*accessToken
	refresh  map[string]*refreshToken
	grants   map[string]*grant // by AccountID

	faults    map[Endpoint][]*faultState
	latency   map[Endpoint]time.Duration
	calls     map[Endpoint]int
	refreshes map[string]int
	redirects []time.Time // authorization requests within the limit window

	done     chan struct{}
	doneOnce sync.Once
	handler  http.Handler
}

type account struct {
	Account
	chats []chat
}

type authCode struct {
	clientID, redirectURI, accountID string
	challenge, method                string
	expiresAt                        time.Time
	used                             bool
}

type accessToken struct {
	accountID, refresh, scope string
	expiresAt                 time.Time
	generation                int
}

type refreshToken struct {
	accountID, scope string
	generation       int
}

// grant is one user's authorization of the client. Revoking it bumps nothing: the
// revoked flag makes the refresh tokens of its generation answer invalid_grant, and a
// new authorization starts a new generation.
type grant struct {
	generation   int
	revoked      bool
	needsConsent bool
	scopesDenied bool
	accessOrder  []string
	refreshOrder []string
}

// New returns a Simulator with opts applied.
func New(opts Options) *Simulator {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = DefaultCodeLifetime
	}
	if opts.Scope == "" {
		opts.Scope = DefaultScope
	}
	base := opts.Now
	if base == nil {
		base = time.Now
	}
	s := &Simulator{
		opts:      opts,
		secret:    opts.ClientSecret,
		base:      base,
		lifetime:  opts.TokenLifetime,
		rotate:    opts.RotateRefreshTokens,
		legacy:    opts.LegacyErrors,
		accounts:  map[string]*account{},
		codes:     map[string]*authCode{},
		access:    map[string]*accessToken{},
		refresh:   map[string]*refreshToken{},
		grants:    map[string]*grant{},
		faults:    map[Endpoint][]*faultState{},
		latency:   map[Endpoint]time.Duration{},
		calls:     map[Endpoint]int{},
		refreshes: map[string]int{},
		done:      make(chan struct{}),
	}
	s.handler = s.routes()
	if opts.Seed {
		s.AddAccount(Account{Email: "agent@example.com", Region: DefaultRegion, Chats: 30})
	}
	return s
}

// Handler serves the Accounts and the Agent API paths.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close releases requests held by Hang faults. The simulator keeps answering.
func (s *Simulator) Close() {
	s.doneOnce.Do(func() { close(s.done) })
}

// ClientID returns the simulated client's id.
func (s *Simulator) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the client secret currently accepted.
func (s *Simulator) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret
}

// SetClientSecret changes the accepted client secret, as rotating it in the
// Developer Console does; the old one is rejected with unauthorized_client afterwards.
func (s *Simulator) SetClientSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// SecretSource returns a livechat.SecretSource that yields the simulator's current
// client secret.
func (s *Simulator) SecretSource() livechat.SecretSource { return simSecret{s} }

type simSecret struct{ s *Simulator }

func (p simSecret) ClientSecret(context.Context) (string, error) { return p.s.ClientSecret(), nil }

// Now is the simulator's clock: Options.Now (default time.Now) plus every Advance.
func (s *Simulator) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Simulator) nowLocked() time.Time { return s.base().Add(s.offset) }

// Advance moves the simulator's clock forward by d (tokens and codes expire by it).
func (s *Simulator) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// SetTokenLifetime changes expires_in of tokens issued from now on.
func (s *Simulator) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d > 0 {
		s.lifetime = d
	}
}

// SetRotateRefreshTokens turns refresh-token rotation on or off.
func (s *Simulator) SetRotateRefreshTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = on
}

// SetLegacyErrors makes token endpoint errors use the legacy oauth_exception shape.
func (s *Simulator) SetLegacyErrors(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacy = on
}

// AddAccount adds an account (generating missing ids, email and region) with its
// chats, and returns it as stored.
func (s *Simulator) AddAccount(a Account) Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addAccountLocked(a)
}

func (s *Simulator) addAccountLocked(a Account) Account {
	if a.AccountID == "" {
		a.AccountID = newUUID()
	}
	if a.OrganizationID == "" {
		a.OrganizationID = newUUID()
	}
	if a.Email == "" {
		sum := sha256.Sum256([]byte(a.AccountID))
		a.Email = fmt.Sprintf("agent-%x@example.com", sum[:4])
	}
	if a.Region == "" {
		a.Region = DefaultRegion
	}
	if a.Chats < 0 {
		a.Chats = 0
	}
	if old, ok := s.accounts[a.AccountID]; ok {
		old.Account = a
		old.chats = generateChats(a, s.nowLocked())
		return a
	}
	s.accounts[a.AccountID] = &account{Account: a, chats: generateChats(a, s.nowLocked())}
	s.order = append(s.order, a.AccountID)
	return a
}

// Accounts lists the accounts in the order they were added.
func (s *Simulator) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.accounts[id].Account)
	}
	return out
}

// GrantTokens mints a token pair for an account directly, as a successful Exchange
// would, without the OAuth dance. An unknown accountID is added as a new account in
// region dal with no chats.
func (s *Simulator) GrantTokens(accountID string) livechat.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountID]
	if !ok {
		s.addAccountLocked(Account{AccountID: accountID})
		a = s.accounts[accountID]
	}
	g := s.activeGrantLocked(accountID)
	rt := s.issueRefreshLocked(a, g)
	return s.issueAccessLocked(a, g, rt)
}

// RevokeGrant is the user removing the app: the account's access tokens stop working
// at once (authentication errors) and its refresh tokens answer invalid_grant. A new
// authorization (consent + exchange) creates a fresh grant.
func (s *Simulator) RevokeGrant(accountID string) {
	s.updateGrant(accountID, func(g *grant) {
		g.revoked = true
		for _, at := range g.accessOrder {
			delete(s.access, at)
		}
		g.accessOrder = nil
	})
}

// updateGrant applies f, under the lock, to the account's grant if it has one.
func (s *Simulator) updateGrant(accountID string, f func(g *grant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.grants[accountID]; ok {
		f(g)
	}
}

// DenyScopes makes the account's refresh tokens answer 403 access_denied ("the requested scopes
// include a scope that wasn't originally granted": the owner no longer grants one of the app's
// scopes) until a new authorization.
func (s *Simulator) DenyScopes(accountID string) {
	s.updateGrant(accountID, func(g *grant) { g.scopesDenied = true })
}

// MoveAccount moves an account to another region (LiveChat migrating a license): tokens issued
// before keep their old prefix, so Agent API calls that send X-Region from it are misdirected.
func (s *Simulator) MoveAccount(accountID, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[accountID]; ok {
		a.Region = region
	}
}

// RequireConsent makes the account's refresh tokens answer missing_grant (the user
// must consent again, e.g. because the app asks for new scopes) until a new
// authorization.
func (s *Simulator) RequireConsent(accountID string) {
	s.updateGrant(accountID, func(g *grant) { g.needsConsent = true })
}

// noteAuthorizeLocked records an authorization request and reports whether it is
// within LiveChat's redirect limit (always true unless EnforceRedirectLimit).
func (s *Simulator) noteAuthorizeLocked() bool {
	if !s.opts.EnforceRedirectLimit {
		return true
	}
	now := s.nowLocked()
	kept := s.redirects[:0]
	for _, t := range s.redirects {
		if now.Sub(t) < RedirectLimitWindow {
			kept = append(kept, t)
		}
	}
	s.redirects = kept
	if len(s.redirects) >= RedirectLimit {
		return false
	}
	s.redirects = append(s.redirects, now)
	return true
}

// RefreshesOf counts the successful refreshes of an account's tokens.
func (s *Simulator) RefreshesOf(accountID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes[accountID]
}

// TokenValid reports whether an access token is currently accepted by list_chats.
func (s *Simulator) TokenValid(accessToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[accessToken]
	return ok && s.nowLocked().Before(at.expiresAt)
}

// activeGrantLocked returns the account's grant, starting a new generation if there is
// none or the old one was revoked or needs consent.
func (s *Simulator) activeGrantLocked(accountID string) *grant {
	g, ok := s.grants[accountID]
	if !ok {
		g = &grant{generation: 1}
		s.grants[accountID] = g
		return g
	}
	if g.revoked || g.needsConsent || g.scopesDenied {
		g.generation++
		g.revoked, g.needsConsent, g.scopesDenied = false, false, false
		// The old generation's refresh tokens stay known, so that using one
		// answers invalid_grant rather than unauthorized_client.
		g.refreshOrder = nil
	}
	return g
}

func (s *Simulator) issueRefreshLocked(a *account, g *grant) string {
	rt := randomString(32)
	s.refresh[rt] = &refreshToken{accountID: a.AccountID, scope: s.opts.Scope, generation: g.generation}
	g.refreshOrder = append(g.refreshOrder, rt)
	for len(g.refreshOrder) > MaxTokensPerUser {
		delete(s.refresh, g.refreshOrder[0])
		g.refreshOrder = g.refreshOrder[1:]
	}
	return rt
}

func (s *Simulator) issueAccessLocked(a *account, g *grant, rt string) livechat.Token {
	now := s.nowLocked()
	tok := a.Region + ":" + randomString(24)
	exp := now.Add(s.lifetime)
	s.access[tok] = &accessToken{accountID: a.AccountID, refresh: rt, scope: s.opts.Scope, expiresAt: exp, generation: g.generation}
	g.accessOrder = append(g.accessOrder, tok)
	for len(g.accessOrder) > MaxTokensPerUser {
		delete(s.access, g.accessOrder[0])
		g.accessOrder = g.accessOrder[1:]
	}
	return livechat.Token{
		AccessToken:    tok,
		RefreshToken:   rt,
		TokenType:      "Bearer",
		Scope:          s.opts.Scope,
		Expiry:         exp,
		AccountID:      a.AccountID,
		OrganizationID: a.OrganizationID,
		Region:         a.Region,
	}
}

// randomString is n random bytes in unpadded base64url: the alphabet of LiveChat's
// tokens ('-' and '_' included, so encoding bugs show).
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
