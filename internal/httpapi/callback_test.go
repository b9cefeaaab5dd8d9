package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/smfake"
)

func TestCallback_AnswersJSONWhenAsked(t *testing.T) {
	e := newEnv(t)
	res := e.Install(e.Account.AccountID)
	if res.Fields["organization_id"] != e.Account.OrganizationID || res.Fields["account_id"] != e.Account.AccountID {
		t.Fatalf("result %v names the wrong organization/account", res)
	}
	if id, _ := res.Fields["installation_id"].(string); id == "" {
		t.Fatalf("no installation_id in %v", res)
	}
	if key, _ := res.Fields["api_key"].(string); !strings.HasPrefix(key, "lca_") {
		t.Fatalf("api_key = %q, want lca_...", key)
	}
	if len(res.Fields) != 4 {
		t.Fatalf("result has fields %v, want exactly installation_id, organization_id, account_id, api_key", res)
	}
}

func TestCallback_RejectsBadState(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, e *env, b *harness.Browser, callbackURL string) (*harness.Browser, string)
	}{
		{"tampered state", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			st := query(cb, "state")
			flipped := []byte(st)
			if flipped[10] == 'A' {
				flipped[10] = 'B'
			} else {
				flipped[10] = 'A'
			}
			return b, harness.WithQuery(cb, map[string]string{"state": string(flipped)})
		}},
		{"truncated state", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			return b, harness.WithQuery(cb, map[string]string{"state": query(cb, "state")[:20]})
		}},
		{"garbage state", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			return b, harness.WithQuery(cb, map[string]string{"state": "not-a-state"})
		}},
		{"expired state", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			e.Sim.Advance(11 * time.Minute)
			return b, cb
		}},
		{"cookie-less browser", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			fresh := e.Browser()
			fresh.Accept = b.Accept
			return fresh, cb
		}},
		{"cookie of another install attempt", func(t *testing.T, e *env, b *harness.Browser, cb string) (*harness.Browser, string) {
			other := e.Browser()
			other.Accept = b.Accept
			e.StartInstall(other) // other now holds its own state cookie
			return other, cb
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b, cb := e.Consented(e.Account.AccountID)
			b2, cb2 := tt.mutate(t, e, b, cb)
			r := b2.Get(cb2)
			r.JSONError(t, http.StatusBadRequest, httpapi.CodeInvalidState)
			if n := e.Sim.Calls(livechatsim.EndpointTokenExchange); n != 0 {
				t.Fatalf("%d code exchanges after a bad state, want 0", n)
			}
		})
	}
}

func TestCallback_RejectsReplayedState(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	b.Accept = "application/json"
	authURL := e.StartInstall(b)
	cookie := stateCookie(t, b, e.URL+"/callback")
	cb := e.Consent(authURL, e.Account.AccountID)
	if r := b.Get(cb); r.Status != http.StatusOK {
		t.Fatalf("first callback: %d %s", r.Status, r.Body)
	}
	// The same browser: its cookie was cleared.
	if r := b.Get(cb); r.Status != http.StatusBadRequest || r.ErrorCode(t) != httpapi.CodeInvalidState {
		t.Fatalf("replay in the same browser: %d %s, want 400 invalid_state", r.Status, r.Body)
	}
	// An attacker who kept the cookie too.
	req, _ := http.NewRequest(http.MethodGet, cb, nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(cookie)
	r := harness.Do(t, http.DefaultClient, req)
	r.JSONError(t, http.StatusBadRequest, httpapi.CodeInvalidState)
	if n := e.Sim.Calls(livechatsim.EndpointTokenExchange); n != 1 {
		t.Fatalf("%d code exchanges, want exactly 1", n)
	}
}

func stateCookie(t *testing.T, b *harness.Browser, callbackURL string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(callbackURL)
	for _, c := range b.Client.Jar.Cookies(u) {
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
			b, cb := e.Consented(e.Account.AccountID)
			r := b.Get(harness.WithQuery(cb, tt.params, "code"))
			if r.Status != tt.wantStatus || r.ErrorCode(t) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestCallback_DenyOnTheConsentPageIsAccessDenied(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	u, err := e.Sim.Deny(e.StartInstall(b))
	if err != nil {
		t.Fatal(err)
	}
	r := b.Get(u.String())
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Access was not allowed") {
		t.Fatalf("got %d, want 403 page: %s", r.Status, r.Body)
	}
}

func TestCallback_EscapesReflectedParameters(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	cb := e.Consent(e.StartInstall(b), e.Account.AccountID)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	r := b.Get(harness.WithQuery(cb, map[string]string{"error": "invalid_request", "error_description": evil}, "code"))
	if r.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", r.Status)
	}
	if strings.Contains(r.Body, "<script>alert") || strings.Contains(r.Body, "<img") {
		t.Fatalf("page reflects markup unescaped:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, "&lt;script&gt;alert") {
		t.Fatalf("page does not show the escaped description:\n%s", r.Body)
	}
	// Nothing reflected from a request without our state either.
	r = e.Browser().Get(e.URL + "/callback?error=" + url.QueryEscape(evil))
	if strings.Contains(r.Body, "<script>alert") {
		t.Fatalf("invalid_state page reflects markup:\n%s", r.Body)
	}
}

func TestCallback_CodeWithoutStateRestartsOnceNeverLoops(t *testing.T) {
	e := newEnv(t)
	// LiveChat sends a stateless code again right away: refused, not bounced.
	b := restartsOnceThenRefuses(t, e, "")
	// The refusal cleared the marker; the restarted flow itself completes normally.
	b.Accept = "application/json"
	if r := b.Get(e.Consent(e.StartInstall(b), e.Account.AccountID)); r.Status != http.StatusOK {
		t.Fatalf("flow after restart: %d %s", r.Status, r.Body)
	}
}

func TestCallback_CodeWithForeignStateAndNoCookieRestartsOnce(t *testing.T) {
	e := newEnv(t)
	restartsOnceThenRefuses(t, e, "&state=livechat-own-state")
	// A foreign state in a browser that did start an install here is an attack, not a restart.
	b2 := e.Browser()
	e.StartInstall(b2)
	if r := b2.Get(e.URL + "/callback?code=x&state=livechat-own-state"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, httpapi.CodeInvalidState) {
		t.Fatalf("foreign state with our cookie: %d, want 400 invalid_state", r.Status)
	}
	if e.Sim.Calls(livechatsim.EndpointTokenExchange) != 0 {
		t.Fatal("a code without our state was exchanged")
	}
}

// restartsOnceThenRefuses sends a code without our state (extra is appended to its query) from a
// new browser: the first is sent back to /install, the second right after is refused with 400
// restart_refused, and neither is exchanged. It returns the browser.
func restartsOnceThenRefuses(t *testing.T, e *env, extra string) *harness.Browser {
	t.Helper()
	b := e.Browser()
	r := b.Get(e.URL + "/callback?code=dal%3Amarketplace-code" + extra)
	if r.Status != http.StatusFound || r.Header.Get("Location") != e.URL+"/install" {
		t.Fatalf("first code without state: %d Location %q, want 302 to /install", r.Status, r.Header.Get("Location"))
	}
	r = b.Get(e.URL + "/callback?code=dal%3Amarketplace-code-2" + extra)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, httpapi.CodeRestartRefused) {
		t.Fatalf("second code without state: %d, want 400 restart_refused page: %s", r.Status, r.Body)
	}
	if e.Sim.Calls(livechatsim.EndpointTokenExchange) != 0 {
		t.Fatal("a code without our state was exchanged")
	}
	return b
}

func TestCallback_RestartWindowExpires(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	if r := b.Get(e.URL + "/callback?code=c1"); r.Status != http.StatusFound {
		t.Fatalf("status %d, want 302", r.Status)
	}
	// The marker cookie lives RestartWindow (60s, browser clock): a later direct install restarts again.
	u, _ := url.Parse(e.URL + "/callback")
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == httpapi.RestartCookieName {
			b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: "", Path: "/callback", MaxAge: -1}})
		}
	}
	if r := b.Get(e.URL + "/callback?code=c2"); r.Status != http.StatusFound {
		t.Fatalf("after the window: status %d, want 302", r.Status)
	}
}

func TestCallback_ExchangeFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env)
		wantStatus int
	}{
		{"code rejected (unauthorized_client)", func(e *env) {
			e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 401, Times: 1})
		}, 400},
		{"code expired", func(e *env) { e.Sim.Advance(6 * time.Minute) }, 400},
		{"LiveChat 500", func(e *env) {
			e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 500})
		}, 502},
		{"LiveChat 429", func(e *env) {
			e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Status: 429, RetryAfter: 3 * time.Second})
		}, 502},
		{"malformed answer", func(e *env) {
			e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Malformed: true})
		}, 502},
		{"connection reset", func(e *env) {
			e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Reset: true})
		}, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b, cb := e.Consented(e.Account.AccountID)
			tt.setup(e)
			r := b.Get(cb)
			if r.Status != tt.wantStatus || r.ErrorCode(t) != httpapi.CodeExchangeFailed {
				t.Fatalf("got %d %s, want %d exchange_failed", r.Status, r.Body, tt.wantStatus)
			}
			if e.DB.Total() != 0 {
				t.Fatalf("%d DynamoDB calls after a failed exchange, want 0", e.DB.Total())
			}
		})
	}
}

func TestCallback_HungExchangeTimesOut(t *testing.T) {
	e := newEnv(t, harness.Options{RequestTimeout: 300 * time.Millisecond})
	b, cb := e.Consented(e.Account.AccountID)
	e.Sim.InjectFault(livechatsim.EndpointTokenExchange, livechatsim.Fault{Hang: true})
	start := time.Now()
	r := b.Get(cb)
	r.JSONError(t, http.StatusBadGateway, httpapi.CodeExchangeFailed)
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
	e := newEnv(t, harness.Options{Secret: secrets.Static(secrets.Placeholder)})
	b := e.Browser()
	b.Accept = "application/json"
	r := b.Get(e.URL + "/install")
	r.JSONError(t, http.StatusServiceUnavailable, httpapi.CodeNotConfigured)
	if !strings.Contains(r.Body, "LIVECHAT_CLIENT_SECRET_ARN") {
		t.Fatalf("message does not tell the operator how to set the secret: %s", r.Body)
	}
	b.Accept = ""
	r = b.Get(e.URL + "/install")
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "not configured") {
		t.Fatalf("/install HTML: %d %s", r.Status, r.Body)
	}
}

func TestNotConfigured_SecretRemovedAfterInstallGives503OnRefresh(t *testing.T) {
	sec := &switchableSecret{}
	sec.v.Store(clientSecret)
	e := newEnv(t, harness.Options{Secret: sec})
	key := e.Install(e.Account.AccountID).APIKey
	sec.v.Store(secrets.Placeholder)
	e.Sim.Advance(8*time.Hour - time.Minute) // within the refresh margin
	r := e.Chats(key, "")
	r.JSONError(t, http.StatusServiceUnavailable, httpapi.CodeNotConfigured)
}

func TestCallback_WithSecretsManagerSecret(t *testing.T) {
	fake := smfake.New()
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-client-secret"
	fake.Set(arn, `{"client_secret":"`+clientSecret+`"}`)
	src := secrets.NewSecretsManager(smfake.Start(t, fake), arn, time.Minute)
	e := newEnv(t, harness.Options{Secret: src})
	key := e.Install(e.Account.AccountID).APIKey
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats: %d %s", r.Status, r.Body)
	}
	if fake.Calls() != 1 {
		t.Fatalf("Secrets Manager calls = %d for install+callback+chats, want 1 (cached)", fake.Calls())
	}
}

func TestCallback_PKCE(t *testing.T) {
	for _, method := range []string{"S256", "plain"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, harness.Options{Env: map[string]string{config.EnvPKCE: method}})
			b := e.Browser()
			b.Accept = "application/json"
			authURL := e.StartInstall(b)
			if got := query(authURL, "code_challenge_method"); got != method {
				t.Fatalf("code_challenge_method = %q, want %s", got, method)
			}
			challenge := query(authURL, "code_challenge")
			state := query(authURL, "state")
			if challenge == "" || len(state) > 100 {
				t.Fatalf("challenge %q, state length %d", challenge, len(state))
			}
			// With plain, the challenge is the verifier: it must not travel in the state or cookie.
			cookie := stateCookie(t, b, e.URL+"/callback")
			if strings.Contains(state, challenge) || strings.Contains(cookie.Value, challenge) {
				t.Fatal("the verifier is readable from the state or cookie")
			}
			r := b.Get(e.Consent(authURL, e.Account.AccountID))
			if r.Status != http.StatusOK {
				t.Fatalf("callback: %d %s", r.Status, r.Body)
			}
		})
	}
}

func TestCallback_OversizedInputsRejected(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	b.Accept = "application/json"
	e.StartInstall(b) // with a state cookie, a state that is not ours is an error, not a restart
	tests := []struct {
		name, url  string
		wantStatus int
	}{
		{"huge query", e.URL + "/callback?state=" + strings.Repeat("a", 5000) + "&code=x", http.StatusRequestURITooLong},
		{"huge state", e.URL + "/callback?state=" + strings.Repeat("a", 1000) + "&code=x", http.StatusBadRequest},
		{"huge code", e.URL + "/callback?state=x&code=" + strings.Repeat("a", 3000), http.StatusRequestURITooLong},
		{"repeated state", e.URL + "/callback?state=a&state=b&code=x", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := b.Get(tt.url); r.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Body)
			}
		})
	}
}
