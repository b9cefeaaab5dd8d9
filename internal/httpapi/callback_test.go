package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
	"lcauth/internal/testrig/smfake"
)

func TestCallback_AnswersJSONWhenAsked(t *testing.T) {
	e := newEnv(t)
	res := e.install(e.account.AccountID)
	if res["organization_id"] != e.account.OrganizationID || res["account_id"] != e.account.AccountID {
		t.Fatalf("result %v names the wrong organization/account", res)
	}
	if id, _ := res["installation_id"].(string); id == "" {
		t.Fatalf("no installation_id in %v", res)
	}
	if key, _ := res["api_key"].(string); !strings.HasPrefix(key, "lca_") {
		t.Fatalf("api_key = %q, want lca_...", key)
	}
	if len(res) != 4 {
		t.Fatalf("result has fields %v, want exactly installation_id, organization_id, account_id, api_key", res)
	}
}

func TestCallback_ReinstallIssuesNewKeyAndRevokesOld(t *testing.T) {
	e := newEnv(t)
	first := e.install(e.account.AccountID)["api_key"].(string)
	second := e.install(e.account.AccountID)["api_key"].(string)
	if first == second {
		t.Fatal("reinstall returned the same API key")
	}
	if r := e.chats(first, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("old key: status %d, want 401", r.status)
	}
	if r := e.chats(second, ""); r.status != http.StatusOK {
		t.Fatalf("new key: status %d, want 200: %s", r.status, r.body)
	}
}

func TestCallback_RejectsBadState(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, e *env, b *browser, callbackURL string) (*browser, string)
	}{
		{"tampered state", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			st := query(cb, "state")
			flipped := []byte(st)
			if flipped[10] == 'A' {
				flipped[10] = 'B'
			} else {
				flipped[10] = 'A'
			}
			return b, withQuery(cb, map[string]string{"state": string(flipped)})
		}},
		{"truncated state", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			return b, withQuery(cb, map[string]string{"state": query(cb, "state")[:20]})
		}},
		{"garbage state", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			return b, withQuery(cb, map[string]string{"state": "not-a-state"})
		}},
		{"expired state", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			e.sim.Advance(11 * time.Minute)
			return b, cb
		}},
		{"cookie-less browser", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			fresh := e.browser()
			fresh.accept = b.accept
			return fresh, cb
		}},
		{"cookie of another install attempt", func(t *testing.T, e *env, b *browser, cb string) (*browser, string) {
			other := e.browser()
			other.accept = b.accept
			e.startInstall(other) // other now holds its own state cookie
			return other, cb
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			b.accept = "application/json"
			cb := e.consent(e.startInstall(b), e.account.AccountID)
			b2, cb2 := tt.mutate(t, e, b, cb)
			r := b2.get(cb2)
			if r.status != http.StatusBadRequest || r.errorCode(t) != httpapi.CodeInvalidState {
				t.Fatalf("status %d %s, want 400 invalid_state", r.status, r.body)
			}
			if n := e.sim.Calls(livechatsim.EndpointTokenExchange); n != 0 {
				t.Fatalf("%d code exchanges after a bad state, want 0", n)
			}
		})
	}
}

func TestCallback_RejectsReplayedState(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.accept = "application/json"
	authURL := e.startInstall(b)
	cookie := stateCookie(t, b, e.ts.URL+"/callback")
	cb := e.consent(authURL, e.account.AccountID)
	if r := b.get(cb); r.status != http.StatusOK {
		t.Fatalf("first callback: %d %s", r.status, r.body)
	}
	// The same browser: its cookie was cleared.
	if r := b.get(cb); r.status != http.StatusBadRequest || r.errorCode(t) != httpapi.CodeInvalidState {
		t.Fatalf("replay in the same browser: %d %s, want 400 invalid_state", r.status, r.body)
	}
	// An attacker who kept the cookie too.
	req, _ := http.NewRequest(http.MethodGet, cb, nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(cookie)
	r := do(t, http.DefaultClient, req)
	if r.status != http.StatusBadRequest || r.errorCode(t) != httpapi.CodeInvalidState {
		t.Fatalf("replay with the old cookie: %d %s, want 400 invalid_state", r.status, r.body)
	}
	if n := e.sim.Calls(livechatsim.EndpointTokenExchange); n != 1 {
		t.Fatalf("%d code exchanges, want exactly 1", n)
	}
}

func stateCookie(t *testing.T, b *browser, callbackURL string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(callbackURL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == httpapi.StateCookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie for %s", httpapi.StateCookieName, callbackURL)
	return nil
}

func query(rawURL, key string) string {
	u, _ := url.Parse(rawURL)
	return u.Query().Get(key)
}

func TestCallback_MapsLiveChatErrorParameters(t *testing.T) {
	tests := []struct {
		name       string
		params     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"access denied", map[string]string{"error": "access_denied", "error_description": "The user denied the request"}, 403, httpapi.CodeAccessDenied},
		{"other error", map[string]string{"error": "invalid_scope"}, 400, httpapi.CodeAuthorizationFailed},
		{"legacy oauth_exception", map[string]string{"oauth_exception": "invalid_request", "exception_details": "client_id is wrong"}, 400, httpapi.CodeAuthorizationFailed},
		{"legacy access denied", map[string]string{"oauth_exception": "access_denied"}, 403, httpapi.CodeAccessDenied},
		{"no code", map[string]string{}, 400, httpapi.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			b.accept = "application/json"
			cb := e.consent(e.startInstall(b), e.account.AccountID)
			r := b.get(withQuery(cb, tt.params, "code"))
			if r.status != tt.wantStatus || r.errorCode(t) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestCallback_DenyOnTheConsentPageIsAccessDenied(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	u, err := e.sim.Deny(e.startInstall(b))
	if err != nil {
		t.Fatal(err)
	}
	r := b.get(u.String())
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "Access was not allowed") {
		t.Fatalf("got %d, want 403 page: %s", r.status, r.body)
	}
}

func TestCallback_EscapesReflectedParameters(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	cb := e.consent(e.startInstall(b), e.account.AccountID)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	r := b.get(withQuery(cb, map[string]string{"error": "invalid_request", "error_description": evil}, "code"))
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", r.status)
	}
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img") {
		t.Fatalf("page reflects markup unescaped:\n%s", r.body)
	}
	if !strings.Contains(r.body, "&lt;script&gt;alert") {
		t.Fatalf("page does not show the escaped description:\n%s", r.body)
	}
	// Nothing reflected from a request without our state either.
	r = e.browser().get(e.ts.URL + "/callback?error=" + url.QueryEscape(evil))
	if strings.Contains(r.body, "<script>alert") {
		t.Fatalf("invalid_state page reflects markup:\n%s", r.body)
	}
}

func TestCallback_CodeWithoutStateRestartsOnceNeverLoops(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get(e.ts.URL + "/callback?code=dal%3Amarketplace-code")
	if r.status != http.StatusFound || r.header.Get("Location") != e.ts.URL+"/install" {
		t.Fatalf("first code without state: %d Location %q, want 302 to /install", r.status, r.header.Get("Location"))
	}
	// LiveChat sends a stateless code again right away: refused, not bounced.
	r = b.get(e.ts.URL + "/callback?code=dal%3Amarketplace-code-2")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, httpapi.CodeRestartRefused) {
		t.Fatalf("second code without state: %d, want 400 restart_refused page: %s", r.status, r.body)
	}
	if e.sim.Calls(livechatsim.EndpointTokenExchange) != 0 {
		t.Fatal("a code without our state was exchanged")
	}
	// The refusal cleared the marker; the restarted flow itself completes normally.
	b.accept = "application/json"
	if r := b.get(e.consent(e.startInstall(b), e.account.AccountID)); r.status != http.StatusOK {
		t.Fatalf("flow after restart: %d %s", r.status, r.body)
	}
}

func TestCallback_CodeWithForeignStateAndNoCookieRestartsOnce(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get(e.ts.URL + "/callback?code=dal%3Amarketplace-code&state=livechat-own-state")
	if r.status != http.StatusFound || r.header.Get("Location") != e.ts.URL+"/install" {
		t.Fatalf("first: %d Location %q, want 302 to /install", r.status, r.header.Get("Location"))
	}
	r = b.get(e.ts.URL + "/callback?code=dal%3Amarketplace-code-2&state=livechat-own-state")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, httpapi.CodeRestartRefused) {
		t.Fatalf("second: %d, want 400 restart_refused: %s", r.status, r.body)
	}
	// A foreign state in a browser that did start an install here is an attack, not a restart.
	b2 := e.browser()
	e.startInstall(b2)
	if r := b2.get(e.ts.URL + "/callback?code=x&state=livechat-own-state"); r.status != http.StatusBadRequest || !strings.Contains(r.body, httpapi.CodeInvalidState) {
		t.Fatalf("foreign state with our cookie: %d, want 400 invalid_state", r.status)
	}
	if e.sim.Calls(livechatsim.EndpointTokenExchange) != 0 {
		t.Fatal("a code without our state was exchanged")
	}
}

func TestCallback_RestartWindowExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if r := b.get(e.ts.URL + "/callback?code=c1"); r.status != http.StatusFound {
		t.Fatalf("status %d, want 302", r.status)
	}
	// The marker cookie lives RestartWindow (60s, browser clock): a later direct install restarts again.
	u, _ := url.Parse(e.ts.URL + "/callback")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == httpapi.RestartCookieName {
			b.client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: "", Path: "/callback", MaxAge: -1}})
		}
	}
	if r := b.get(e.ts.URL + "/callback?code=c2"); r.status != http.StatusFound {
		t.Fatalf("after the window: status %d, want 302", r.status)
	}
}

func TestCallback_ExchangeFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env)
		wantStatus int
	}{
		{"code rejected (unauthorized_client)", func(e *env) {
			e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 401, Times: 1})
		}, 400},
		{"code expired", func(e *env) { e.sim.Advance(6 * time.Minute) }, 400},
		{"LiveChat 500", func(e *env) {
			e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 500})
		}, 502},
		{"LiveChat 429", func(e *env) {
			e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 429, RetryAfter: 3 * time.Second})
		}, 502},
		{"malformed answer", func(e *env) {
			e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Malformed: true})
		}, 502},
		{"connection reset", func(e *env) {
			e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Reset: true})
		}, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			b.accept = "application/json"
			cb := e.consent(e.startInstall(b), e.account.AccountID)
			tt.setup(e)
			r := b.get(cb)
			if r.status != tt.wantStatus || r.errorCode(t) != httpapi.CodeExchangeFailed {
				t.Fatalf("got %d %s, want %d exchange_failed", r.status, r.body, tt.wantStatus)
			}
			if e.db.total.Load() != 0 {
				t.Fatalf("%d DynamoDB calls after a failed exchange, want 0", e.db.total.Load())
			}
		})
	}
}

func TestCallback_HungExchangeTimesOut(t *testing.T) {
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.RequestTimeout = 300 * time.Millisecond }))
	b := e.browser()
	b.accept = "application/json"
	cb := e.consent(e.startInstall(b), e.account.AccountID)
	e.sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Hang: true})
	start := time.Now()
	r := b.get(cb)
	if r.status != http.StatusBadGateway || r.errorCode(t) != httpapi.CodeExchangeFailed {
		t.Fatalf("got %d %s, want 502 exchange_failed", r.status, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v, want about the 300ms request timeout", d)
	}
}

// switchableSecret lets a test change the client secret under a running server.
type switchableSecret struct{ v atomicString }

func (s *switchableSecret) ClientSecret(ctx context.Context) (string, error) {
	return secrets.Static(s.v.Load()).ClientSecret(ctx)
}

func TestNotConfigured_PlaceholderSecretGives503(t *testing.T) {
	e := newEnv(t, withSecret(secrets.Static(secrets.Placeholder)))
	b := e.browser()
	b.accept = "application/json"
	r := b.get(e.ts.URL + "/install")
	if r.status != http.StatusServiceUnavailable || r.errorCode(t) != httpapi.CodeNotConfigured {
		t.Fatalf("/install: %d %s, want 503 not_configured", r.status, r.body)
	}
	if !strings.Contains(r.body, "LIVECHAT_CLIENT_SECRET_ARN") {
		t.Fatalf("message does not tell the operator how to set the secret: %s", r.body)
	}
	b.accept = ""
	r = b.get(e.ts.URL + "/install")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "not configured") {
		t.Fatalf("/install HTML: %d %s", r.status, r.body)
	}
}

func TestNotConfigured_SecretRemovedAfterInstallGives503OnRefresh(t *testing.T) {
	sec := &switchableSecret{}
	sec.v.Store(clientSecret)
	e := newEnv(t, withSecret(sec))
	key := e.install(e.account.AccountID)["api_key"].(string)
	sec.v.Store(secrets.Placeholder)
	e.sim.Advance(8*time.Hour - time.Minute) // within the refresh margin
	r := e.chats(key, "")
	if r.status != http.StatusServiceUnavailable || r.errorCode(t) != httpapi.CodeNotConfigured {
		t.Fatalf("got %d %s, want 503 not_configured", r.status, r.body)
	}
}

func TestCallback_WithSecretsManagerSecret(t *testing.T) {
	fake := smfake.New()
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-client-secret"
	fake.Set(arn, `{"client_secret":"`+clientSecret+`"}`)
	src := secrets.NewSecretsManager(smfake.Start(t, fake), arn, time.Minute)
	e := newEnv(t, withSecret(src))
	key := e.install(e.account.AccountID)["api_key"].(string)
	if r := e.chats(key, ""); r.status != http.StatusOK {
		t.Fatalf("/chats: %d %s", r.status, r.body)
	}
	if fake.Calls() != 1 {
		t.Fatalf("Secrets Manager calls = %d for install+callback+chats, want 1 (cached)", fake.Calls())
	}
}

func TestCallback_PKCE(t *testing.T) {
	for _, method := range []string{"S256", "plain"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, withPKCE(method))
			b := e.browser()
			b.accept = "application/json"
			authURL := e.startInstall(b)
			if got := query(authURL, "code_challenge_method"); got != method {
				t.Fatalf("code_challenge_method = %q, want %s", got, method)
			}
			challenge := query(authURL, "code_challenge")
			state := query(authURL, "state")
			if challenge == "" || len(state) > 100 {
				t.Fatalf("challenge %q, state length %d", challenge, len(state))
			}
			// With plain, the challenge is the verifier: it must not travel in the state or cookie.
			cookie := stateCookie(t, b, e.ts.URL+"/callback")
			if strings.Contains(state, challenge) || strings.Contains(cookie.Value, challenge) {
				t.Fatal("the verifier is readable from the state or cookie")
			}
			r := b.get(e.consent(authURL, e.account.AccountID))
			if r.status != http.StatusOK {
				t.Fatalf("callback: %d %s", r.status, r.body)
			}
		})
	}
}

func TestCallback_OversizedInputsRejected(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.accept = "application/json"
	e.startInstall(b) // with a state cookie, a state that is not ours is an error, not a restart
	tests := []struct {
		name, url  string
		wantStatus int
	}{
		{"huge query", e.ts.URL + "/callback?state=" + strings.Repeat("a", 5000) + "&code=x", http.StatusRequestURITooLong},
		{"huge state", e.ts.URL + "/callback?state=" + strings.Repeat("a", 1000) + "&code=x", http.StatusBadRequest},
		{"huge code", e.ts.URL + "/callback?state=x&code=" + strings.Repeat("a", 3000), http.StatusRequestURITooLong},
		{"repeated state", e.ts.URL + "/callback?state=a&state=b&code=x", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := b.get(tt.url); r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
		})
	}
}
