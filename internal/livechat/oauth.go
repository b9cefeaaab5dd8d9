package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Operation names used in errors.
const (
	opExchange = "exchange"
	opRefresh  = "refresh"
	opInfo     = "info"
	opRevoke   = "revoke"
	opList     = "list_chats"
)

// Limits on inputs the client sends, so that a hostile query string cannot make us
// post megabytes to LiveChat.
const (
	maxCodeLen  = 4096
	maxTokenLen = 8192
)

// ErrNoClientSecret is returned (wrapped) when Exchange or Refresh is called on a
// Client without a SecretSource, or the source returned an empty secret.
var ErrNoClientSecret = errors.New("no client secret configured")

// Token is the result of a code exchange or a refresh.
type Token struct {
	// AccessToken is region-prefixed ("dal:..."); send it as is.
	AccessToken string
	// RefreshToken has no prefix. Store whatever comes back: LiveChat may rotate it.
	RefreshToken string
	// TokenType is "Bearer".
	TokenType string
	// Scope is LiveChat's comma-separated scope string.
	Scope string
	// Expiry is Now() + expires_in at the moment the response arrived.
	Expiry time.Time
	// AccountID and OrganizationID identify the user who authorized and their
	// organization.
	AccountID, OrganizationID string
	// Region is RegionOf(AccessToken).
	Region string
}

// String shows every field but the two tokens.
func (t Token) String() string {
	return fmt.Sprintf("livechat.Token{AccessToken:%s RefreshToken:%s TokenType:%s Scope:%s Expiry:%s AccountID:%s OrganizationID:%s Region:%s}",
		redacted(t.AccessToken), redacted(t.RefreshToken), t.TokenType, t.Scope, t.Expiry.Format(time.RFC3339), t.AccountID, t.OrganizationID, t.Region)
}

// GoString redacts for %#v as String does for %v.
func (t Token) GoString() string { return t.String() }

// LogValue redacts the tokens in log/slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", redacted(t.AccessToken)),
		slog.String("refresh_token", redacted(t.RefreshToken)),
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.Time("expiry", t.Expiry),
		slog.String("account_id", t.AccountID),
		slog.String("organization_id", t.OrganizationID),
		slog.String("region", t.Region),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// TokenInfo is what GET /v2/info says about an access token.
type TokenInfo struct {
	AccountID, OrganizationID, ClientID, Scope, TokenType string
	// Expiry is Now() + expires_in.
	Expiry time.Time
	// Region is RegionOf the token that was asked about.
	Region string
}

// RegionOf returns the region prefix of an access token or code: the text before the
// first ':' ("dal", "fra", "fra-a"). It is not checked against a list, as LiveChat adds
// regions; but a prefix that could not be a region name (empty, longer than 32 bytes,
// or with characters other than letters, digits, '-' and '_') yields "", so the value
// is safe to put into a header or a log line.
func RegionOf(accessToken string) string {
	i := strings.IndexByte(accessToken, ':')
	if i <= 0 || i > 32 {
		return ""
	}
	p := accessToken[:i]
	for j := 0; j < len(p); j++ {
		c := p[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return p
}

// PKCE is the challenge half of RFC 7636 sent in the authorize URL. The zero value
// means no PKCE.
type PKCE struct {
	// Method is "S256" or "plain".
	Method string
	// Challenge is the code_challenge.
	Challenge string
}

// NewPKCE makes a fresh verifier (43 characters of base64url from 32 random bytes)
// and its challenge for method "S256" or "plain". Method "" or "off" returns the zero
// values: no PKCE. Whether LiveChat's S256 follows RFC 7636 is unverified, which is
// why PKCE is a setting.
func NewPKCE(method string) (verifier string, p PKCE, err error) {
	switch method {
	case "", "off":
		return "", PKCE{}, nil
	case "S256":
		v := oauth2.GenerateVerifier()
		return v, PKCE{Method: "S256", Challenge: oauth2.S256ChallengeFromVerifier(v)}, nil
	case "plain":
		v := oauth2.GenerateVerifier()
		return v, PKCE{Method: "plain", Challenge: v}, nil
	}
	return "", PKCE{}, &ValidationError{Field: "code_challenge_method", Message: `must be "S256", "plain" or "off"`}
}

// AuthorizeURL is where /install sends the browser: the Accounts server's consent page
// with response_type=code, client_id, redirect_uri, state and, unless pkce is the zero
// value, code_challenge and code_challenge_method.
func (c *Client) AuthorizeURL(state string, pkce PKCE) string {
	var opts []oauth2.AuthCodeOption
	if pkce.Method != "" {
		opts = append(opts,
			oauth2.SetAuthURLParam("code_challenge", pkce.Challenge),
			oauth2.SetAuthURLParam("code_challenge_method", pkce.Method))
	}
	return c.oauth.AuthCodeURL(state, opts...)
}

// Exchange trades an authorization code for tokens. code must be exactly what
// URL.Query() gave the callback (already decoded once, "dal:..."); it is not decoded
// again. codeVerifier is "" without PKCE.
func (c *Client) Exchange(ctx context.Context, code, codeVerifier string) (*Token, error) {
	if code == "" || len(code) > maxCodeLen {
		return nil, &ValidationError{Field: "code", Message: fmt.Sprintf("must be 1..%d bytes", maxCodeLen)}
	}
	if len(codeVerifier) > 128 {
		return nil, &ValidationError{Field: "code_verifier", Message: "must be at most 128 characters"}
	}
	if c.cfg.RedirectURL == "" {
		return nil, &ValidationError{Field: "redirect_uri", Message: "Config.RedirectURL is required for Exchange"}
	}
	params := url.Values{"code": {code}, "redirect_uri": {c.cfg.RedirectURL}}
	if codeVerifier != "" {
		params.Set("code_verifier", codeVerifier)
	}
	t, err := c.grant(ctx, opExchange, "authorization_code", params, code, codeVerifier)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		return nil, &ResponseError{Op: opExchange, StatusCode: http.StatusOK, Err: fmt.Errorf("%w: no refresh_token", ErrMalformedResponse)}
	}
	return t, nil
}

// Refresh trades a refresh token for a new access token. If LiveChat's answer carries
// no refresh_token, the one passed in is kept (server-side apps' refresh tokens do not
// rotate); if it carries one, that one must be stored.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	if refreshToken == "" || len(refreshToken) > maxTokenLen {
		return nil, &ValidationError{Field: "refresh_token", Message: fmt.Sprintf("must be 1..%d bytes", maxTokenLen)}
	}
	t, err := c.grant(ctx, opRefresh, "refresh_token", url.Values{"refresh_token": {refreshToken}}, refreshToken)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// grant asks the token endpoint for tokens by grantType with params, adding the client's credentials.
// sent lists the other secrets in params (code, verifier, refresh token), kept out of error text.
func (c *Client) grant(ctx context.Context, op, grantType string, params url.Values, sent ...string) (*Token, error) {
	secret, err := c.clientSecret(ctx, op)
	if err != nil {
		return nil, err
	}
	params.Set("grant_type", grantType)
	params.Set("client_id", c.cfg.ClientID)
	params.Set("client_secret", secret)
	return c.tokenRequest(ctx, op, params, append([]string{secret}, sent...)...)
}

func (c *Client) clientSecret(ctx context.Context, op string) (string, error) {
	if c.cfg.ClientSecret == nil {
		return "", &secretError{op: op, err: ErrNoClientSecret}
	}
	s, err := c.cfg.ClientSecret.ClientSecret(ctx)
	if err != nil {
		return "", &secretError{op: op, err: err}
	}
	if s == "" {
		return "", &secretError{op: op, err: ErrNoClientSecret}
	}
	return s, nil
}

// tokenResponse is the token endpoint's success body. expires_in is a json.Number so
// that both 28800 and "28800" are accepted.
type tokenResponse struct {
	AccessToken    string      `json:"access_token"`
	RefreshToken   string      `json:"refresh_token"`
	ExpiresIn      json.Number `json:"expires_in"`
	TokenType      string      `json:"token_type"`
	Scope          string      `json:"scope"`
	AccountID      string      `json:"account_id"`
	OrganizationID string      `json:"organization_id"`
}

// accountsCall makes one request to the Accounts server, within the client's timeout: method on path,
// with form as the body (nil: none) and bearer as the token (""; none). The answer is read whole; the
// caller judges its status.
func (c *Client) accountsCall(ctx context.Context, op, method, path string, form url.Values, bearer string) (*response, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var body []byte
	if form != nil {
		body = []byte(form.Encode())
	}
	req, err := newRequest(ctx, method, c.accounts, path, body)
	if err != nil {
		return nil, fmt.Errorf("livechat: %s: build request: %w", op, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Accept", "application/json")
	return c.do(req, op, c.maxAcct)
}

// tokenRequest posts form to the token endpoint. secrets are scrubbed from any error
// description LiveChat sends back.
func (c *Client) tokenRequest(ctx context.Context, op string, form url.Values, secrets ...string) (*Token, error) {
	resp, err := c.accountsCall(ctx, op, http.MethodPost, TokenPath, form, "")
	if err != nil {
		return nil, err
	}
	now := c.now()
	if resp.status < 200 || resp.status > 299 {
		return nil, parseTokenError(op, resp, now, secrets...)
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.body, &tr); err != nil {
		return nil, &ResponseError{Op: op, StatusCode: resp.status, Err: fmt.Errorf("%w: %s", ErrMalformedResponse, jsonErrorKind(err))}
	}
	expiresIn, err := tr.ExpiresIn.Int64()
	if err != nil {
		// Tolerate 28800.0: some JSON encoders write every number as a float.
		if f, ferr := tr.ExpiresIn.Float64(); ferr == nil && f >= 1 && f < 1<<31 {
			expiresIn, err = int64(f), nil
		}
	}
	switch {
	case tr.AccessToken == "":
		return nil, &ResponseError{Op: op, StatusCode: resp.status, Err: fmt.Errorf("%w: no access_token", ErrMalformedResponse)}
	case err != nil || expiresIn <= 0:
		return nil, &ResponseError{Op: op, StatusCode: resp.status, Err: fmt.Errorf("%w: expires_in missing or not a positive integer", ErrMalformedResponse)}
	}
	tokenType := tr.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	return &Token{
		AccessToken:    tr.AccessToken,
		RefreshToken:   tr.RefreshToken,
		TokenType:      tokenType,
		Scope:          tr.Scope,
		Expiry:         now.Add(time.Duration(expiresIn) * time.Second),
		AccountID:      tr.AccountID,
		OrganizationID: tr.OrganizationID,
		Region:         RegionOf(tr.AccessToken),
	}, nil
}

// jsonErrorKind describes a JSON error without quoting the input: a *json.SyntaxError's
// message can contain a fragment of the body, and the body may hold a token.
func jsonErrorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "invalid JSON at offset " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "unexpected JSON type for field " + te.Field
	case err.Error() == "unexpected end of JSON input":
		return "truncated JSON"
	}
	return "invalid JSON"
}

// Info asks the Accounts server about an access token (GET /v2/info).
func (c *Client) Info(ctx context.Context, accessToken string) (*TokenInfo, error) {
	if accessToken == "" || len(accessToken) > maxTokenLen {
		return nil, &ValidationError{Field: "access_token", Message: fmt.Sprintf("must be 1..%d bytes", maxTokenLen)}
	}
	resp, err := c.accountsCall(ctx, opInfo, http.MethodGet, InfoPath, nil, accessToken)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if resp.status < 200 || resp.status > 299 {
		return nil, parseTokenError(opInfo, resp, now, accessToken)
	}
	var body struct {
		AccountID      string      `json:"account_id"`
		OrganizationID string      `json:"organization_id"`
		ClientID       string      `json:"client_id"`
		Scope          string      `json:"scope"`
		TokenType      string      `json:"token_type"`
		ExpiresIn      json.Number `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, &ResponseError{Op: opInfo, StatusCode: resp.status, Err: fmt.Errorf("%w: %s", ErrMalformedResponse, jsonErrorKind(err))}
	}
	info := &TokenInfo{
		AccountID:      body.AccountID,
		OrganizationID: body.OrganizationID,
		ClientID:       body.ClientID,
		Scope:          body.Scope,
		TokenType:      body.TokenType,
		Region:         RegionOf(accessToken),
	}
	if secs, err := body.ExpiresIn.Int64(); err == nil && secs > 0 {
		info.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	return info, nil
}

// Revoke revokes an access or refresh token (DELETE /v2/token); revoking an access
// token also revokes its paired refresh token. LiveChat's 404 (unknown token) counts
// as success: the token is not valid afterwards either way, which is what the caller
// wants, and uninstall stays idempotent.
func (c *Client) Revoke(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return &ValidationError{Field: "token", Message: fmt.Sprintf("must be 1..%d bytes", maxTokenLen)}
	}
	resp, err := c.accountsCall(ctx, opRevoke, http.MethodDelete, TokenPath, nil, token)
	if err != nil {
		return err
	}
	switch {
	case resp.status >= 200 && resp.status <= 299, resp.status == http.StatusNotFound:
		return nil
	}
	return parseTokenError(opRevoke, resp, c.now(), token)
}
