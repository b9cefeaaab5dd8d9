package livechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
	"lcauth/internal/testrig/simtest"
)

const testRedirect = "https://app.example/callback"

type env struct {
	sim    *livechatsim.Simulator
	base   string
	client *livechat.Client
}

// newEnv starts a simulator and a client pointed at it for both hosts.
func newEnv(t testing.TB, opts livechatsim.Options, mod ...func(*livechat.Config)) *env {
	t.Helper()
	if opts.RedirectURIs == nil {
		opts.RedirectURIs = []string{testRedirect}
	}
	sim, srv := simtest.NewServer(t, opts)
	cfg := livechat.Config{
		AccountsURL:  srv.URL,
		APIURL:       srv.URL,
		ClientID:     sim.ClientID(),
		RedirectURL:  testRedirect,
		ClientSecret: secrets.Static(sim.ClientSecret()),
		HTTPClient:   srv.Client(),
		Now:          sim.Now,
		Timeout:      5 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := livechat.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{sim: sim, base: srv.URL, client: c}
}

// authorize runs the consent step and returns the code as the callback would read it.
func (e *env) authorize(t *testing.T, accountID string, pkce livechat.PKCE) (redirect *url.URL, code string) {
	t.Helper()
	u, err := e.sim.Authorize(e.client.AuthorizeURL("state-123", pkce), accountID)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if got := u.Query().Get("state"); got != "state-123" {
		t.Fatalf("state = %q, want state-123", got)
	}
	return u, u.Query().Get("code")
}

func TestExchange_CodeFromRedirectYieldsRegionPrefixedTokens(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	acct := e.sim.AddAccount(livechatsim.Account{Region: "dal", Chats: 3})
	redirect, code := e.authorize(t, acct.AccountID, livechat.PKCE{})

	if !strings.Contains(redirect.RawQuery, "code=dal%3A") {
		t.Fatalf("redirect query %q: want the code URL-encoded as dal%%3A...", redirect.RawQuery)
	}
	if !strings.HasPrefix(code, "dal:") {
		t.Fatalf("decoded code does not start with dal:")
	}
	tok, err := e.client.Exchange(context.Background(), code, "")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccountID != acct.AccountID || tok.OrganizationID != acct.OrganizationID {
		t.Errorf("ids = %s/%s, want %s/%s", tok.AccountID, tok.OrganizationID, acct.AccountID, acct.OrganizationID)
	}
	if tok.Region != "dal" || !strings.HasPrefix(tok.AccessToken, "dal:") {
		t.Errorf("region = %q, want dal", tok.Region)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || !strings.Contains(tok.Scope, "chats--all:ro") {
		t.Errorf("token fields incomplete: %v", tok)
	}
	if want := e.sim.Now().Add(8 * time.Hour); tok.Expiry.Sub(want).Abs() > 2*time.Second {
		t.Errorf("expiry = %v, want about %v", tok.Expiry, want)
	}
	if e.sim.Calls(livechatsim.EndpointTokenExchange) != 1 {
		t.Errorf("exchange calls = %d, want 1", e.sim.Calls(livechatsim.EndpointTokenExchange))
	}
	if _, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{}); err != nil {
		t.Errorf("ListChats with the new token: %v", err)
	}
}

func TestExchange_DoesNotDecodeTheCodeASecondTime(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	redirect, _ := e.authorize(t, "", livechat.PKCE{})
	// The raw, still-encoded value: a caller that skipped URL.Query() would pass this.
	raw := strings.TrimPrefix(redirect.RawQuery[strings.Index(redirect.RawQuery, "code="):], "code=")
	raw = strings.SplitN(raw, "&", 2)[0]
	if !strings.Contains(raw, "%3A") {
		t.Fatalf("raw code %q is not encoded", raw)
	}
	_, err := e.client.Exchange(context.Background(), raw, "")
	var te *livechat.TokenError
	if !errors.As(err, &te) || te.Code != "unauthorized_client" {
		t.Fatalf("Exchange(encoded code) error = %v, want unauthorized_client (the client must send the code as given)", err)
	}
}

func TestExchange_RejectsReusedAndExpiredCodes(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, code string)
	}{
		{"reused", func(e *env, code string) {
			if _, err := e.client.Exchange(context.Background(), code, ""); err != nil {
				t.Fatalf("first Exchange: %v", err)
			}
		}},
		{"expired", func(e *env, code string) { e.sim.Advance(livechatsim.DefaultCodeLifetime + time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{})
			_, code := e.authorize(t, "", livechat.PKCE{})
			tt.setup(e, code)
			_, err := e.client.Exchange(context.Background(), code, "")
			var te *livechat.TokenError
			if !errors.As(err, &te) || te.Code != "unauthorized_client" {
				t.Fatalf("error = %v, want unauthorized_client", err)
			}
			wantClass(t, err, livechat.ClassMisconfiguration)
			if strings.Contains(err.Error(), code) {
				t.Errorf("error string contains the code")
			}
		})
	}
}

func TestExchange_PKCE(t *testing.T) {
	for _, method := range []string{"S256", "plain"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{})
			verifier, p, err := livechat.NewPKCE(method)
			if err != nil {
				t.Fatal(err)
			}
			au, err := url.Parse(e.client.AuthorizeURL("s", p))
			if err != nil {
				t.Fatal(err)
			}
			if au.Query().Get("code_challenge_method") != method || au.Query().Get("code_challenge") == "" {
				t.Fatalf("authorize URL lacks PKCE parameters: %v", au.Query())
			}
			_, code := e.authorize(t, "", p)
			if _, err := e.client.Exchange(context.Background(), code, "wrong-verifier-wrong-verifier-wrong-verifier-x"); err == nil {
				t.Fatal("Exchange with a wrong verifier succeeded")
			}
			_, code = e.authorize(t, "", p)
			if _, err := e.client.Exchange(context.Background(), code, verifier); err != nil {
				t.Fatalf("Exchange with the right verifier: %v", err)
			}
		})
	}
}

func TestRefresh_KeepsNonRotatingRefreshTokenAndCountsPerAccount(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	for i := 0; i < 3; i++ {
		got, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if err != nil {
			t.Fatalf("Refresh %d: %v", i, err)
		}
		if got.RefreshToken != tok.RefreshToken {
			t.Fatalf("refresh token changed without rotation")
		}
		if got.AccessToken == tok.AccessToken || got.AccountID != "acct-1" || got.Region != "dal" {
			t.Fatalf("refresh result unexpected: %v", got)
		}
	}
	if n := e.sim.RefreshesOf("acct-1"); n != 3 {
		t.Errorf("RefreshesOf = %d, want 3", n)
	}
	if n := e.sim.Calls(livechatsim.EndpointTokenRefresh); n != 3 {
		t.Errorf("Calls(refresh) = %d, want 3", n)
	}
}

func TestRefresh_RotatingRefreshTokenInvalidatesTheOldOne(t *testing.T) {
	e := newEnv(t, livechatsim.Options{RotateRefreshTokens: true})
	tok := e.sim.GrantTokens("acct-1")
	got, err := e.client.Refresh(context.Background(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh token did not rotate")
	}
	if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); err == nil {
		t.Fatal("old refresh token still works after rotation")
	}
	if _, err := e.client.Refresh(context.Background(), got.RefreshToken); err != nil {
		t.Fatalf("new refresh token: %v", err)
	}
}

func TestClassify_TokenEndpointErrors(t *testing.T) {
	tests := []struct {
		name      string
		legacy    bool
		prepare   func(e *env, tok livechat.Token)
		wantCode  string
		wantClass livechat.ErrorClass
	}{
		{"revoked grant is invalid_grant", false, func(e *env, tok livechat.Token) { e.sim.RevokeGrant(tok.AccountID) }, "invalid_grant", livechat.ClassReauthorization},
		{"consent needed is missing_grant", false, func(e *env, tok livechat.Token) { e.sim.RequireConsent(tok.AccountID) }, "missing_grant", livechat.ClassReauthorization},
		{"rotated client secret is unauthorized_client", false, func(e *env, tok livechat.Token) { e.sim.SetClientSecret("rotated-secret") }, "", livechat.ClassMisconfiguration},
		{"legacy shape is parsed", true, func(e *env, tok livechat.Token) { e.sim.RevokeGrant(tok.AccountID) }, "invalid_grant", livechat.ClassReauthorization},
		{"429 is rate limited", false, func(e *env, tok livechat.Token) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 429, RetryAfter: 7 * time.Second})
		}, "temporarily_unavailable", livechat.ClassRateLimited},
		{"500 is transient", false, func(e *env, tok livechat.Token) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 500})
		}, "server_error", livechat.ClassTransient},
		{"502 without body is transient", false, func(e *env, tok livechat.Token) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 502, Body: "<html>bad gateway</html>"})
		}, "", livechat.ClassTransient},
		{"malformed body is transient", false, func(e *env, tok livechat.Token) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Malformed: true})
		}, "", livechat.ClassTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{LegacyErrors: tt.legacy})
			tok := e.sim.GrantTokens("acct-1")
			tt.prepare(e, tok)
			_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
			wantClass(t, err, tt.wantClass)
			if tt.wantCode != "" {
				var te *livechat.TokenError
				if !errors.As(err, &te) || te.Code != tt.wantCode {
					t.Errorf("error = %v, want code %s", err, tt.wantCode)
				}
			}
			if strings.Contains(err.Error(), tok.RefreshToken) || strings.Contains(err.Error(), e.sim.ClientSecret()) {
				t.Errorf("error string leaks a secret: %q", err.Error())
			}
		})
	}
}

func TestRetryAfter_ComesFromTheHeader(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	e.sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second, Times: 1})
	_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
	var ae *livechat.APIError
	if !errors.As(err, &ae) || ae.Type != "too_many_requests" {
		t.Fatalf("error = %v, want too_many_requests", err)
	}
	if got := livechat.RetryAfter(err); got != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", got)
	}
	if !livechat.IsTransient(err) {
		t.Error("IsTransient = false for 429")
	}
	if _, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{}); err != nil {
		t.Errorf("after the one-shot fault: %v", err)
	}
}

func TestListChats_ExpiredTokenIsAuthentication(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	e.sim.Advance(8*time.Hour + time.Second)
	_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
	var ae *livechat.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || ae.Type != "authentication" {
		t.Fatalf("error = %v, want 401 authentication", err)
	}
	wantClass(t, err, livechat.ClassAuthentication)
}

// TestListChats_Region: the call carries the token's region (X-Region from its prefix), so no call is
// misdirected; an account that moved since its token was issued costs one misdirected call and one
// retry with the region LiveChat named.
func TestListChats_Region(t *testing.T) {
	tests := []struct {
		name         string
		region       string // the account's region when its token is granted
		moveTo       string // where the account moves afterwards ("" = it stays)
		wantCalls    int
		whyThatCalls string
	}{
		{"SendsTheTokensRegionSoNoCallIsMisdirected", "fra", "", 1, "X-Region from the token's prefix"},
		{"MisdirectedRequestIsRetriedOnceWithTheNamedRegion", "dal", "fra-a", 2, "misdirected, then retry with X-Region: fra-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{})
			acct := e.sim.AddAccount(livechatsim.Account{Region: tt.region, Chats: 4})
			tok := e.sim.GrantTokens(acct.AccountID)
			if tok.Region != tt.region {
				t.Fatalf("region = %q, want %s", tok.Region, tt.region)
			}
			if tt.moveTo != "" {
				e.sim.MoveAccount(acct.AccountID, tt.moveTo) // the token still says tt.region
			}
			res, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
			if err != nil {
				t.Fatalf("ListChats: %v", err)
			}
			if res.FoundChats == 0 {
				t.Errorf("found_chats = 0, want the account's chats")
			}
			if n := e.sim.Calls(livechatsim.EndpointListChats); n != tt.wantCalls {
				t.Errorf("list_chats calls = %d, want %d (%s)", n, tt.wantCalls, tt.whyThatCalls)
			}
		})
	}
}

func TestListChats_PagesThroughAllChats(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	acct := e.sim.AddAccount(livechatsim.Account{Chats: 30})
	tok := e.sim.GrantTokens(acct.AccountID)
	res, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	pages := 1
	for {
		seen += strings.Count(string(res.Body), `"is_followed"`)
		if res.NextPageID == "" {
			break
		}
		res, err = e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{PageID: res.NextPageID})
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		if res.PreviousPageID == "" {
			t.Errorf("page %d has no previous_page_id", pages+1)
		}
		pages++
	}
	// Chats without threads (every tenth) are included by default, as in LiveChat v3.6.
	if seen != 30 || res.FoundChats != 30 || pages != 3 {
		t.Errorf("seen %d chats over %d pages, found_chats %d; want 30 over 3", seen, pages, res.FoundChats)
	}
}

// wantClass fails t unless err is an error that Classify puts in class want.
func wantClass(t *testing.T, err error, want livechat.ErrorClass) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one of class %q", want)
	}
	if got := livechat.Classify(err); got != want {
		t.Errorf("Classify(%v) = %q, want %q", err, got, want)
	}
}
