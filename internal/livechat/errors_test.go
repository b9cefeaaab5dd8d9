package livechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
)

func TestListChats_ServerFaultsAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		fault     livechatsim.Fault
		wantClass livechat.ErrorClass
		wantType  string
		wantIs    error
	}{
		{"500 internal", livechatsim.Fault{Status: 500}, livechat.ClassTransient, "internal", nil},
		{"503 service_unavailable", livechatsim.Fault{Status: 503}, livechat.ClassTransient, "service_unavailable", nil},
		{"504 request_timeout", livechatsim.Fault{Status: 504}, livechat.ClassTransient, "request_timeout", nil},
		{"429 too_many_requests", livechatsim.Fault{Status: 429}, livechat.ClassRateLimited, "too_many_requests", nil},
		{"403 authorization", livechatsim.Fault{Status: 403}, livechat.ClassInvalidRequest, "authorization", nil},
		{"400 validation", livechatsim.Fault{Status: 400}, livechat.ClassInvalidRequest, "validation", nil},
		{"truncated JSON", livechatsim.Fault{Malformed: true}, livechat.ClassTransient, "", livechat.ErrMalformedResponse},
		{"200 with a non-object body", livechatsim.Fault{Status: 200, Body: `["not","an","object"]`}, livechat.ClassTransient, "", livechat.ErrMalformedResponse},
		{"huge body", livechatsim.Fault{Huge: true}, livechat.ClassTransient, "", livechat.ErrResponseTooLarge},
		{"connection reset", livechatsim.Fault{Reset: true}, livechat.ClassTransient, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{})
			tok := e.sim.GrantTokens("acct-1")
			e.sim.InjectFault(livechatsim.EndpointListChats, tt.fault)
			_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
			wantClass(t, err, tt.wantClass)
			if tt.wantType != "" {
				var ae *livechat.APIError
				if !errors.As(err, &ae) || ae.Type != tt.wantType {
					t.Errorf("error = %v, want type %s", err, tt.wantType)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			var tr *livechat.TransportError
			if tt.fault.Reset && !errors.As(err, &tr) {
				t.Errorf("error = %T %v, want a *TransportError", err, err)
			}
			if strings.Contains(err.Error(), tok.AccessToken) {
				t.Errorf("error string contains the access token")
			}
		})
	}
}

func TestListChats_MisdirectedTwiceIsRetriedOnlyOnce(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	body := `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"fra"}}}`
	e.sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 421, Body: body})
	_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
	var ae *livechat.APIError
	if !errors.As(err, &ae) || ae.Type != "misdirected_request" || ae.Region() != "fra" {
		t.Fatalf("error = %v, want misdirected_request with data.region fra", err)
	}
	if n := e.sim.Calls(livechatsim.EndpointListChats); n != 2 {
		t.Errorf("calls = %d, want exactly 2", n)
	}
	if string(ae.Body) != body {
		t.Errorf("APIError.Body = %s, want LiveChat's body as received", ae.Body)
	}
	wantClass(t, err, livechat.ClassTransient)
}

func TestListChats_MisdirectedWithAnUnsafeRegionIsNotRetried(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	body := `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"fra\r\nX-Evil: 1"}}}`
	e.sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 421, Body: body})
	if _, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{}); err == nil {
		t.Fatal("want an error")
	}
	if n := e.sim.Calls(livechatsim.EndpointListChats); n != 1 {
		t.Errorf("calls = %d, want 1 (no retry to a region that is not a region name)", n)
	}
}

func TestResponseSizeLimits_AreTypedErrors(t *testing.T) {
	t.Run("token endpoint over 1 MiB", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{})
		tok := e.sim.GrantTokens("acct-1")
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Huge: true})
		_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		var re *livechat.ResponseError
		if !errors.As(err, &re) || !errors.Is(err, livechat.ErrResponseTooLarge) || re.Limit != livechat.DefaultMaxAccountsResponseBytes {
			t.Fatalf("error = %v, want ErrResponseTooLarge at the 1 MiB limit", err)
		}
	})
	t.Run("configured list_chats limit", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.MaxListChatsResponseBytes = 512 })
		acct := e.sim.AddAccount(livechatsim.Account{Chats: 5})
		tok := e.sim.GrantTokens(acct.AccountID)
		_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
		if !errors.Is(err, livechat.ErrResponseTooLarge) {
			t.Fatalf("error = %v, want ErrResponseTooLarge", err)
		}
	})
	t.Run("error bodies are limited too", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{})
		tok := e.sim.GrantTokens("acct-1")
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 500, Huge: true})
		_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if !errors.Is(err, livechat.ErrResponseTooLarge) {
			t.Fatalf("error = %v, want ErrResponseTooLarge", err)
		}
	})
}

func TestTimeouts_DefaultAndCallerDeadlines(t *testing.T) {
	t.Run("default timeout applies when the context has no deadline", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.Timeout = 200 * time.Millisecond })
		tok := e.sim.GrantTokens("acct-1")
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Hang: true})
		start := time.Now()
		_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("Refresh took %v, want about 200ms", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) || livechat.Classify(err) != livechat.ClassTransient {
			t.Fatalf("error = %v (class %q), want a transient deadline error", err, livechat.Classify(err))
		}
	})
	t.Run("the caller's deadline wins over the default", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.Timeout = time.Minute })
		tok := e.sim.GrantTokens("acct-1")
		e.sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.client.ListChats(ctx, tok.AccessToken, livechat.ListChatsRequest{})
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("ListChats took %v, want about 150ms", elapsed)
		}
		if !livechat.IsTransient(err) {
			t.Fatalf("error = %v, want transient", err)
		}
	})
	t.Run("latency under the timeout is fine", func(t *testing.T) {
		e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.Timeout = 2 * time.Second })
		tok := e.sim.GrantTokens("acct-1")
		e.sim.SetLatency(livechatsim.EndpointTokenRefresh, 50*time.Millisecond)
		start := time.Now()
		if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
			t.Errorf("Refresh took %v, want at least the injected 50ms", elapsed)
		}
	})
}

var errVaultSealed = errors.New("vault sealed")

type failingSecret struct{}

func (failingSecret) ClientSecret(context.Context) (string, error) {
	return "", fmt.Errorf("secrets: get: %w", errVaultSealed)
}

// emptySecret is a source that answers with no secret and no error.
type emptySecret struct{}

func (emptySecret) ClientSecret(context.Context) (string, error) { return "", nil }

func TestSecretSourceErrorsPassThrough(t *testing.T) {
	tests := []struct {
		name   string
		source livechat.SecretSource
		wantIs error
	}{
		{"source error", failingSecret{}, errVaultSealed},
		{"no source", nil, livechat.ErrNoClientSecret},
		{"empty secret", emptySecret{}, livechat.ErrNoClientSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.ClientSecret = tt.source })
			tok := e.sim.GrantTokens("acct-1")
			_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			wantClass(t, err, livechat.ClassMisconfiguration)
			if n := e.sim.Calls(livechatsim.EndpointTokenRefresh); n != 0 {
				t.Errorf("token endpoint called %d times without a secret", n)
			}
		})
	}
}

func TestErrorDescriptionsAreScrubbedOfWhatWeSent(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	body := fmt.Sprintf(`{"error":"invalid_grant","error_description":"refresh token %s for secret %s is expired","request_id":"r-1"}`, tok.RefreshToken, e.sim.ClientSecret())
	e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 400, Body: body})
	_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
	var te *livechat.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" || te.RequestID != "r-1" {
		t.Fatalf("error = %v, want invalid_grant with request id", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", te)} {
		if strings.Contains(s, tok.RefreshToken) || strings.Contains(s, e.sim.ClientSecret()) {
			t.Errorf("error output leaks: %s", s)
		}
	}
}

func TestToken_FormattingRedactsTokens(t *testing.T) {
	tok := livechat.Token{
		AccessToken: "dal:ACCESS-SECRET-VALUE", RefreshToken: "REFRESH-SECRET-VALUE", TokenType: "Bearer",
		Scope: "chats--all:ro", Expiry: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), AccountID: "acct-1", OrganizationID: "org-1", Region: "dal",
	}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("got token", "token", tok, "ptr", &tok)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("got token", "token", tok)
	outputs := map[string]string{
		"%v":    fmt.Sprintf("%v", tok),
		"%+v":   fmt.Sprintf("%+v", tok),
		"%#v":   fmt.Sprintf("%#v", tok),
		"%q":    fmt.Sprintf("%q", tok),
		"Print": fmt.Sprint(tok),
		"&%v":   fmt.Sprintf("%v", &tok),
		"&%+v":  fmt.Sprintf("%+v", &tok),
		"in a struct": fmt.Sprintf("%+v", struct {
			T livechat.Token
		}{tok}),
		"slog json": jsonLog.String(),
		"slog text": textLog.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "SECRET-VALUE") {
			t.Errorf("%s output contains a token: %s", name, out)
		}
		if !strings.Contains(out, "acct-1") {
			t.Errorf("%s output lost the non-secret fields: %s", name, out)
		}
	}
	var logged struct {
		Token map[string]any `json:"token"`
	}
	if err := json.Unmarshal(jsonLog.Bytes(), &logged); err != nil || logged.Token["region"] != "dal" {
		t.Errorf("slog JSON = %s, want a token group with region", jsonLog.String())
	}
}

func TestConfig_FormattingRedactsTheSecret(t *testing.T) {
	cfg := livechat.Config{ClientID: "id", ClientSecret: secrets.Static("TOP-SECRET")}
	for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(out, "TOP-SECRET") {
			t.Errorf("config output contains the secret: %s", out)
		}
	}
}

func TestRegionOf_SplitsOnFirstColonAndRejectsNonRegionPrefixes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"dal:abc", "dal"},
		{"fra:abc", "fra"},
		{"fra-a:abc:def", "fra-a"},
		{"fra-b:x", "fra-b"},
		{"syd:", "syd"},
		{"noprefix", ""},
		{"", ""},
		{":abc", ""},
		{"a b:c", ""},
		{"dal\r\n:x", ""},
		{strings.Repeat("x", 40) + ":y", ""},
	}
	for _, tt := range tests {
		if got := livechat.RegionOf(tt.in); got != tt.want {
			t.Errorf("RegionOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClassify_MapsCodesAndTypesBeforeStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want livechat.ErrorClass
	}{
		{"nil", nil, livechat.ClassNone},
		{"invalid_grant", &livechat.TokenError{StatusCode: 400, Code: "invalid_grant"}, livechat.ClassReauthorization},
		{"missing_grant", &livechat.TokenError{StatusCode: 403, Code: "missing_grant"}, livechat.ClassReauthorization},
		{"invalid_client", &livechat.TokenError{StatusCode: 401, Code: "invalid_client"}, livechat.ClassMisconfiguration},
		{"access_denied on a refresh", &livechat.TokenError{StatusCode: 403, Code: "access_denied", Op: "refresh"}, livechat.ClassReauthorization},
		{"access_denied on a code exchange", &livechat.TokenError{StatusCode: 403, Code: "access_denied", Op: "exchange"}, livechat.ClassInvalidRequest},
		{"temporarily_unavailable", &livechat.TokenError{StatusCode: 429, Code: "temporarily_unavailable"}, livechat.ClassRateLimited},
		{"bare 429", &livechat.TokenError{StatusCode: 429}, livechat.ClassRateLimited},
		{"server_error", &livechat.TokenError{StatusCode: 500, Code: "server_error"}, livechat.ClassTransient},
		{"bare 503", &livechat.TokenError{StatusCode: 503}, livechat.ClassTransient},
		{"invalid_request", &livechat.TokenError{StatusCode: 400, Code: "invalid_request"}, livechat.ClassInvalidRequest},
		{"unknown code 4xx", &livechat.TokenError{StatusCode: 418, Code: "teapot"}, livechat.ClassInvalidRequest},
		{"bare 401 on the token endpoint", &livechat.TokenError{StatusCode: 401, Op: "refresh"}, livechat.ClassOther},
		{"bare 401 on info", &livechat.TokenError{StatusCode: 401, Op: "info"}, livechat.ClassAuthentication},
		{"api authentication", &livechat.APIError{StatusCode: 401, Type: "authentication"}, livechat.ClassAuthentication},
		{"api too_many_requests", &livechat.APIError{StatusCode: 429, Type: "too_many_requests"}, livechat.ClassRateLimited},
		{"api service_unavailable", &livechat.APIError{StatusCode: 503, Type: "service_unavailable"}, livechat.ClassTransient},
		{"api request_timeout", &livechat.APIError{StatusCode: 408, Type: "request_timeout"}, livechat.ClassTransient},
		{"api validation", &livechat.APIError{StatusCode: 400, Type: "validation"}, livechat.ClassInvalidRequest},
		{"api type wins over status", &livechat.APIError{StatusCode: 500, Type: "validation"}, livechat.ClassInvalidRequest},
		{"api bare 502", &livechat.APIError{StatusCode: 502}, livechat.ClassTransient},
		{"validation", &livechat.ValidationError{Field: "limit"}, livechat.ClassInvalidRequest},
		{"wrapped", fmt.Errorf("refresh: %w", &livechat.TokenError{Code: "invalid_grant"}), livechat.ClassReauthorization},
		{"deadline", context.DeadlineExceeded, livechat.ClassTransient},
		{"too large", &livechat.ResponseError{Err: livechat.ErrResponseTooLarge}, livechat.ClassTransient},
		{"unrelated", errors.New("boom"), livechat.ClassOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := livechat.Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListChatsRequest_Validate(t *testing.T) {
	yes := true
	tests := []struct {
		name      string
		req       livechat.ListChatsRequest
		wantField string // "" = valid
	}{
		{"zero value", livechat.ListChatsRequest{}, ""},
		{"all filters", livechat.ListChatsRequest{Limit: 100, SortOrder: "asc", Filters: &livechat.ChatFilters{Active: &yes, GroupIDs: []int{0, 1}, Properties: json.RawMessage(`{"routing":{"idle":{"values":[true]}}}`)}}, ""},
		{"page id alone", livechat.ListChatsRequest{PageID: "MTIz"}, ""},
		{"page id with filters", livechat.ListChatsRequest{PageID: "MTIz", Filters: &livechat.ChatFilters{}}, "page_id"},
		{"page id with limit", livechat.ListChatsRequest{PageID: "MTIz", Limit: 5}, "page_id"},
		{"page id with sort order", livechat.ListChatsRequest{PageID: "MTIz", SortOrder: "asc"}, "page_id"},
		{"limit too big", livechat.ListChatsRequest{Limit: 101}, "limit"},
		{"negative limit", livechat.ListChatsRequest{Limit: -1}, "limit"},
		{"bad sort order", livechat.ListChatsRequest{SortOrder: "newest"}, "sort_order"},
		{"too many groups", livechat.ListChatsRequest{Filters: &livechat.ChatFilters{GroupIDs: make([]int, 201)}}, "filters.group_ids"},
		{"negative group", livechat.ListChatsRequest{Filters: &livechat.ChatFilters{GroupIDs: []int{-1}}}, "filters.group_ids"},
		{"properties not an object", livechat.ListChatsRequest{Filters: &livechat.ChatFilters{Properties: json.RawMessage(`[1]`)}}, "filters.properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *livechat.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("Validate = %v, want a ValidationError on %s", err, tt.wantField)
			}
		})
	}
}

func TestListChats_InvalidRequestIsNotSent(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{PageID: "x", Limit: 5})
	if livechat.Classify(err) != livechat.ClassInvalidRequest {
		t.Fatalf("error = %v, want invalid_request", err)
	}
	if n := e.sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Errorf("list_chats called %d times for an invalid request", n)
	}
}

func TestInfo_ThenRevoke_KillsAccessAndPairedRefreshToken_Idempotently(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	acct := e.sim.AddAccount(livechatsim.Account{Region: "fra"})
	tok := e.sim.GrantTokens(acct.AccountID)
	ctx := context.Background()

	info, err := e.client.Info(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.AccountID != acct.AccountID || info.OrganizationID != acct.OrganizationID || info.ClientID != e.sim.ClientID() || info.Region != "fra" {
		t.Errorf("info = %+v", info)
	}
	if info.Expiry.Sub(tok.Expiry).Abs() > 2*time.Second {
		t.Errorf("info expiry %v, want about %v", info.Expiry, tok.Expiry)
	}

	if err := e.client.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	_, err = e.client.Info(ctx, tok.AccessToken)
	wantClass(t, err, livechat.ClassAuthentication)
	// Revoking the access token took its refresh token with it.
	if _, err := e.client.Refresh(ctx, tok.RefreshToken); err == nil {
		t.Error("refresh token still works after revoking its access token")
	}
	// Unknown token: 404, which Revoke treats as done.
	if err := e.client.Revoke(ctx, tok.AccessToken); err != nil {
		t.Errorf("second Revoke: %v, want nil (idempotent)", err)
	}
	if n := e.sim.Calls(livechatsim.EndpointRevoke); n != 2 {
		t.Errorf("revoke calls = %d, want 2", n)
	}
}

func TestRevoke_ServerErrorIsReturned(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	e.sim.InjectFault(livechatsim.EndpointRevoke, livechatsim.Fault{Status: http.StatusInternalServerError})
	err := e.client.Revoke(context.Background(), tok.AccessToken)
	if !livechat.IsTransient(err) {
		t.Fatalf("Revoke = %v, want a transient error", err)
	}
}

func TestNew_ValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  livechat.Config
		ok   bool
	}{
		{"defaults", livechat.Config{ClientID: "id"}, true},
		{"no client id", livechat.Config{}, false},
		{"relative accounts URL", livechat.Config{ClientID: "id", AccountsURL: "accounts.livechat.com"}, false},
		{"API URL with query", livechat.Config{ClientID: "id", APIURL: "https://api.example/?x=1"}, false},
		{"relative redirect", livechat.Config{ClientID: "id", RedirectURL: "/callback"}, false},
		{"negative timeout", livechat.Config{ClientID: "id", Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := livechat.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestAuthorizeURL_Shape(t *testing.T) {
	c, err := livechat.New(livechat.Config{ClientID: "my-client", RedirectURL: "https://app.example/callback"})
	if err != nil {
		t.Fatal(err)
	}
	raw := c.AuthorizeURL("st/ate+1", livechat.PKCE{})
	if !strings.HasPrefix(raw, livechat.DefaultAccountsURL+"/?") {
		t.Fatalf("authorize URL %q does not start with the accounts host", raw)
	}
	u, _ := http.NewRequest(http.MethodGet, raw, nil)
	q := u.URL.Query()
	want := map[string]string{"response_type": "code", "client_id": "my-client", "redirect_uri": "https://app.example/callback", "state": "st/ate+1"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Has("code_challenge") || q.Has("scope") {
		t.Errorf("unexpected parameters in %q", raw)
	}
	if _, _, err := livechat.NewPKCE("S512"); err == nil {
		t.Error("NewPKCE accepted an unknown method")
	}
	if v, p, err := livechat.NewPKCE("off"); err != nil || v != "" || p != (livechat.PKCE{}) {
		t.Errorf("NewPKCE(off) = %q, %v, %v; want zero values", v, p, err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

type slowSecret struct{}

func (slowSecret) ClientSecret(context.Context) (string, error) {
	return "", fmt.Errorf("secrets: get: %w", timeoutErr{})
}

func TestSecretSourceTimeoutIsTransientNotMisconfiguration(t *testing.T) {
	e := newEnv(t, livechatsim.Options{}, func(c *livechat.Config) { c.ClientSecret = slowSecret{} })
	_, err := e.client.Refresh(context.Background(), "some-refresh-token")
	if got := livechat.Classify(err); got != livechat.ClassTransient {
		t.Fatalf("Classify(%v) = %q, want transient", err, got)
	}
}

func TestTokenResponse_ParsingIsTolerantButStrictOnRequiredFields(t *testing.T) {
	tests := []struct {
		name       string
		refresh    bool
		body       string
		wantErr    error
		wantExpiry time.Duration
		wantRT     string // "" = the refresh token passed in
	}{
		{"expires_in as a string", true, `{"access_token":"fra:a","expires_in":"600","token_type":"Bearer","scope":"x"}`, nil, 10 * time.Minute, ""},
		{"expires_in as a float", true, `{"access_token":"dal:a","expires_in":3600.0}`, nil, time.Hour, ""},
		{"refresh without refresh_token keeps the old one", true, `{"access_token":"dal:a","expires_in":28800}`, nil, 8 * time.Hour, ""},
		{"refresh with a new refresh_token returns it", true, `{"access_token":"dal:a","refresh_token":"new-rt","expires_in":28800}`, nil, 8 * time.Hour, "new-rt"},
		{"no access_token", true, `{"refresh_token":"x","expires_in":28800}`, livechat.ErrMalformedResponse, 0, ""},
		{"no expires_in", true, `{"access_token":"dal:a"}`, livechat.ErrMalformedResponse, 0, ""},
		{"negative expires_in", true, `{"access_token":"dal:a","expires_in":-5}`, livechat.ErrMalformedResponse, 0, ""},
		{"exchange without refresh_token", false, `{"access_token":"dal:a","expires_in":28800}`, livechat.ErrMalformedResponse, 0, ""},
		{"not JSON", true, `<html>maintenance</html>`, livechat.ErrMalformedResponse, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, livechatsim.Options{})
			ep := livechatsim.EndpointTokenRefresh
			if !tt.refresh {
				ep = livechatsim.EndpointTokenExchange
			}
			e.sim.InjectFault(ep, livechatsim.Fault{Status: 200, Body: tt.body})
			var tok *livechat.Token
			var err error
			if tt.refresh {
				tok, err = e.client.Refresh(context.Background(), "old-rt")
			} else {
				tok, err = e.client.Exchange(context.Background(), "dal:code", "")
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || livechat.Classify(err) != livechat.ClassTransient {
					t.Fatalf("error = %v, want %v (transient)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Expiry.Sub(e.sim.Now()); (got - tt.wantExpiry).Abs() > 2*time.Second {
				t.Errorf("expiry in %v, want %v", got, tt.wantExpiry)
			}
			want := tt.wantRT
			if want == "" {
				want = "old-rt"
			}
			if tok.RefreshToken != want {
				t.Errorf("refresh token = %q, want %q", tok.RefreshToken, want)
			}
			if tok.TokenType != "Bearer" || tok.Region != livechat.RegionOf(tok.AccessToken) {
				t.Errorf("token = %v", tok)
			}
		})
	}
}

// A redirected token request must not carry the client secret anywhere: the default
// HTTP client does not follow redirects.
func TestDefaultHTTPClient_DoesNotFollowRedirectsWithTheSecret(t *testing.T) {
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/v2/token", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	c, err := livechat.New(livechat.Config{AccountsURL: redirector.URL, ClientID: "id", ClientSecret: secrets.Static("s3cret-value")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(context.Background(), "rt-value")
	var te *livechat.TokenError
	if !errors.As(err, &te) || te.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("error = %v, want a TokenError with status 307", err)
	}
	if leaked.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestAPIError_BodyIsScrubbedOfTheAccessToken(t *testing.T) {
	e := newEnv(t, livechatsim.Options{})
	tok := e.sim.GrantTokens("acct-1")
	e.sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 401,
		Body: `{"error":{"type":"authentication","message":"token ` + tok.AccessToken + ` is invalid"}}`})
	_, err := e.client.ListChats(context.Background(), tok.AccessToken, livechat.ListChatsRequest{})
	var ae *livechat.APIError
	if !errors.As(err, &ae) || ae.Type != "authentication" {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(string(ae.Body), tok.AccessToken) || strings.Contains(ae.Message, tok.AccessToken) || !json.Valid(ae.Body) {
		t.Errorf("body %s / message %q: want valid JSON without the token", ae.Body, ae.Message)
	}
}
