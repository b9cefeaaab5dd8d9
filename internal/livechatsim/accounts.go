package livechatsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"lcauth/internal/livechat"
)

// Paths the simulator serves.
const (
	PathAuthorize = "/"
	PathOoops     = "/ooops"
	PathToken     = "/v2/token"
	PathInfo      = "/v2/info"
	PathListChats = "/v3.6/agent/action/list_chats"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

func (s *Simulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleAuthorizePage)
	mux.HandleFunc("POST /{$}", s.handleConsent)
	mux.HandleFunc("GET "+PathOoops, s.handleOoops)
	mux.HandleFunc("POST "+PathToken, s.handleToken)
	mux.HandleFunc("DELETE "+PathToken, s.handleRevoke)
	mux.HandleFunc("GET "+PathInfo, s.handleInfo)
	mux.HandleFunc("POST "+PathListChats, s.handleListChats)
	mux.HandleFunc("GET "+PathApps, s.handleApps)
	mux.HandleFunc("POST "+PathUninstall, s.handleUninstall)
	return mux
}

// AuthorizeError is why an authorization request was refused before any consent:
// LiveChat shows such errors on its own /ooops page, never at the redirect URI.
type AuthorizeError struct {
	// Exception is the oauth_exception LiveChat would show (invalid_request,
	// invalid_client, unsupported_response_type).
	Exception string
	// Details is exception_details.
	Details string
}

// Error names the oauth_exception and its details.
func (e *AuthorizeError) Error() string {
	return "livechatsim: authorize: " + e.Exception + ": " + e.Details
}

// ooopsURL is where LiveChat sends the browser for e (relative to the simulator).
func (e *AuthorizeError) ooopsURL() *url.URL {
	return &url.URL{Path: PathOoops, RawQuery: url.Values{"oauth_exception": {e.Exception}, "exception_details": {e.Details}}.Encode()}
}

// authRequest is a validated authorization request.
type authRequest struct {
	redirectURI, state, challenge, method string
}

// validateAuthorize applies LiveChat's checks to the authorize query.
func (s *Simulator) validateAuthorize(q url.Values) (*authRequest, *AuthorizeError) {
	if rt := q.Get("response_type"); rt != "code" {
		return nil, &AuthorizeError{Exception: "unsupported_response_type", Details: "response_type must be code"}
	}
	if q.Get("client_id") != s.opts.ClientID {
		return nil, &AuthorizeError{Exception: "invalid_client", Details: "unknown client_id"}
	}
	ru := q.Get("redirect_uri")
	if ru == "" {
		return nil, &AuthorizeError{Exception: "invalid_request", Details: "redirect_uri is required"}
	}
	if !RedirectURIAllowed(s.opts.RedirectURIs, ru) {
		return nil, &AuthorizeError{Exception: "invalid_request", Details: "redirect_uri is not whitelisted for this client"}
	}
	ar := &authRequest{redirectURI: ru, state: q.Get("state")}
	if ch := q.Get("code_challenge"); ch != "" {
		if len(ch) < 43 || len(ch) > 128 {
			return nil, &AuthorizeError{Exception: "invalid_request", Details: "code_challenge must be 43-128 characters"}
		}
		m := q.Get("code_challenge_method")
		if m == "" {
			m = "plain"
		}
		if m != "S256" && m != "plain" {
			return nil, &AuthorizeError{Exception: "invalid_request", Details: "code_challenge_method must be S256 or plain"}
		}
		ar.challenge, ar.method = ch, m
	} else if q.Get("code_challenge_method") != "" {
		return nil, &AuthorizeError{Exception: "invalid_request", Details: "code_challenge_method without code_challenge"}
	}
	return ar, nil
}

// RedirectURIAllowed applies LiveChat's redirect_uri rules: the requested URI has no
// query string or fragment; its scheme and host:port equal a whitelisted URI's; the
// whitelisted path is a prefix of the requested path; and a trailing slash must match
// (whitelisted "/callback" does not allow "/callback/", nor the reverse).
func RedirectURIAllowed(whitelist []string, requested string) bool {
	r, err := url.Parse(requested)
	if err != nil || r.Scheme == "" || r.Host == "" || r.RawQuery != "" || r.ForceQuery || r.Fragment != "" || strings.Contains(requested, "#") || r.User != nil {
		return false
	}
	for _, raw := range whitelist {
		w, err := url.Parse(raw)
		if err != nil || !strings.EqualFold(w.Scheme, r.Scheme) || !strings.EqualFold(w.Host, r.Host) {
			continue
		}
		wp, rp := w.EscapedPath(), r.EscapedPath()
		if !strings.HasPrefix(rp, wp) {
			continue
		}
		if wp != "" && rp == wp+"/" {
			continue // only a trailing slash added: LiveChat rejects it
		}
		return true
	}
	return false
}

// Authorize does what clicking Allow on the consent page does, for tests without a
// browser: it validates authorizeURL like GET / does and returns the redirect URL with
// code and state. accountID "" means the first account (one is created if there are
// none). An invalid request returns LiveChat's /ooops URL and an *AuthorizeError.
// It counts as a call to EndpointAuthorize; faults and latency injected for that
// endpoint apply to the HTTP page only.
func (s *Simulator) Authorize(authorizeURL string, accountID string) (*url.URL, error) {
	return s.decide(authorizeURL, accountID, true)
}

// Deny does what clicking Deny does: it redirects to the redirect URI with
// error=access_denied (see the consent page's doc for why not to /ooops).
func (s *Simulator) Deny(authorizeURL string) (*url.URL, error) {
	return s.decide(authorizeURL, "", false)
}

func (s *Simulator) decide(authorizeURL, accountID string, allow bool) (*url.URL, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, errors.New("livechatsim: authorize: unparsable URL")
	}
	s.mu.Lock()
	s.calls[EndpointAuthorize]++
	s.mu.Unlock()
	ar, aerr := s.validateAuthorize(u.Query())
	if aerr == nil {
		aerr = s.checkRedirectLimit()
	}
	if aerr != nil {
		return aerr.ooopsURL(), aerr
	}
	return s.redirectFor(ar, accountID, allow)
}

// checkRedirectLimit counts one authorization request against LiveChat's limit.
func (s *Simulator) checkRedirectLimit() *AuthorizeError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noteAuthorizeLocked() {
		return nil
	}
	return &AuthorizeError{Exception: "too_many_redirects", Details: "more than 3 authorization requests in 30 seconds"}
}

// redirectFor is the decision's redirect: code+state on allow, error+state on deny.
func (s *Simulator) redirectFor(ar *authRequest, accountID string, allow bool) (*url.URL, error) {
	target, err := url.Parse(ar.redirectURI)
	if err != nil {
		return nil, errors.New("livechatsim: authorize: bad redirect_uri")
	}
	q := url.Values{}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	if !allow {
		q.Set("error", "access_denied")
		q.Set("error_description", "The user denied the request")
		target.RawQuery = q.Encode()
		return target, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.pickAccountLocked(accountID)
	if a == nil {
		return nil, errors.New("livechatsim: authorize: unknown account")
	}
	code := a.Region + ":" + randomString(24)
	s.codes[code] = &authCode{
		clientID:    s.opts.ClientID,
		redirectURI: ar.redirectURI,
		accountID:   a.AccountID,
		challenge:   ar.challenge,
		method:      ar.method,
		expiresAt:   s.nowLocked().Add(s.opts.CodeLifetime),
	}
	q.Set("code", code)
	// url.Values.Encode escapes ':' as %3A, exactly as LiveChat sends the code.
	target.RawQuery = q.Encode()
	return target, nil
}

// pickAccountLocked resolves accountID, defaulting to the first account and creating
// one if there are none.
func (s *Simulator) pickAccountLocked(accountID string) *account {
	if accountID != "" {
		return s.accounts[accountID]
	}
	if len(s.order) == 0 {
		s.addAccountLocked(Account{Email: "agent@example.com", Region: DefaultRegion, Chats: 30})
	}
	return s.accounts[s.order[0]]
}

// handleToken is POST /v2/token for both grants, with form or JSON bodies.
func (s *Simulator) handleToken(w http.ResponseWriter, r *http.Request) {
	params, perr := readParams(w, r)
	ep := EndpointTokenExchange
	if params.Get("grant_type") == "refresh_token" {
		ep = EndpointTokenRefresh
	}
	if s.intercept(ep, w, r) {
		return
	}
	if perr != "" {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", perr)
		return
	}
	switch params.Get("grant_type") {
	case "authorization_code":
		s.exchange(w, params)
	case "refresh_token":
		s.refreshGrant(w, params)
	case "":
		s.writeInvalidFields(w, "grant_type")
	default:
		s.writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

// readParams reads a form or JSON body into url.Values; the string is a problem to
// report (after faults, so that counters see malformed requests too).
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return url.Values{}, "request body too large"
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return url.Values{}, "request body is not a JSON object"
		}
		v := url.Values{}
		for k, val := range m {
			switch x := val.(type) {
			case string:
				v.Set(k, x)
			case nil:
			default:
				return url.Values{}, k + " must be a string"
			}
		}
		return v, ""
	case "application/x-www-form-urlencoded", "":
		if err := r.ParseForm(); err != nil {
			return url.Values{}, "request body is not a valid form"
		}
		return r.PostForm, ""
	}
	return url.Values{}, "Content-Type must be application/x-www-form-urlencoded or application/json"
}

// checkClientLocked checks the client credentials as LiveChat's troubleshooting page describes:
// every failure is unauthorized_client. A wrong secret on a refresh reads "refresh token not found",
// exactly as an unknown refresh token does, so a caller cannot tell the two apart from one answer.
func (s *Simulator) checkClientLocked(p url.Values, refresh bool) (status int, code, desc string) {
	switch {
	case p.Get("client_id") == "":
		return http.StatusUnauthorized, "unauthorized_client", "missing client ID"
	case p.Get("client_id") != s.opts.ClientID:
		return http.StatusUnauthorized, "unauthorized_client", "client ID not found"
	case subtle.ConstantTimeCompare([]byte(p.Get("client_secret")), []byte(s.secret)) != 1 && refresh:
		return http.StatusUnauthorized, "unauthorized_client", refreshTokenNotFound
	case subtle.ConstantTimeCompare([]byte(p.Get("client_secret")), []byte(s.secret)) != 1:
		return http.StatusUnauthorized, "unauthorized_client", "invalid client secret"
	}
	return 0, "", ""
}

// refreshTokenNotFound is the token endpoint's description for an unknown refresh token and for a
// refresh with a wrong client secret.
const refreshTokenNotFound = "refresh token not found"

// writeInvalidFields is LiveChat's 422 for missing or malformed parameters.
func (s *Simulator) writeInvalidFields(w http.ResponseWriter, fields ...string) {
	s.writeTokenErrorWith(w, http.StatusUnprocessableEntity, "invalid_request", "invalid or missing fields",
		map[string]any{"invalid_fields": fields})
}

func (s *Simulator) exchange(w http.ResponseWriter, p url.Values) {
	s.mu.Lock()
	status, code, desc := s.checkClientLocked(p, false)
	if status != 0 {
		s.mu.Unlock()
		s.writeTokenError(w, status, code, desc)
		return
	}
	raw := p.Get("code")
	if missing := missingFields(p, "code", "redirect_uri"); len(missing) > 0 {
		s.mu.Unlock()
		s.writeInvalidFields(w, missing...)
		return
	}
	c, ok := s.codes[raw]
	now := s.nowLocked()
	switch {
	case !ok:
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "invalid authorization code"
	case c.used:
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "authorization code already used"
	case !now.Before(c.expiresAt):
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "authorization code expired"
	case c.clientID != p.Get("client_id"):
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "authorization code issued to another client"
	case c.redirectURI != p.Get("redirect_uri"):
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "redirect_uri does not match the authorization request"
	case c.challenge != "" && p.Get("code_verifier") == "":
		status, code, desc = http.StatusUnprocessableEntity, "invalid_request", "code_verifier is required"
	case c.challenge != "" && !verifierMatches(c.method, c.challenge, p.Get("code_verifier")):
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", "code_verifier does not match code_challenge"
	}
	if status != 0 {
		s.mu.Unlock()
		s.writeTokenError(w, status, code, desc)
		return
	}
	c.used = true
	a := s.accounts[c.accountID]
	g := s.activeGrantLocked(a.AccountID)
	rt := s.issueRefreshLocked(a, g)
	tok := s.issueAccessLocked(a, g, rt)
	lifetime := s.lifetime
	s.mu.Unlock()
	writeTokenResponse(w, tok, lifetime, true)
}

// verifierMatches checks RFC 7636 (standard S256: BASE64URL(SHA256(verifier))).
func verifierMatches(method, challenge, verifier string) bool {
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

func (s *Simulator) refreshGrant(w http.ResponseWriter, p url.Values) {
	s.mu.Lock()
	status, code, desc := s.checkClientLocked(p, true)
	if status != 0 {
		s.mu.Unlock()
		s.writeTokenError(w, status, code, desc)
		return
	}
	raw := p.Get("refresh_token")
	if raw == "" {
		s.mu.Unlock()
		s.writeInvalidFields(w, "refresh_token")
		return
	}
	rt, ok := s.refresh[raw]
	var g *grant
	if ok {
		g = s.grants[rt.accountID]
	}
	switch {
	case !ok:
		status, code, desc = http.StatusUnauthorized, "unauthorized_client", refreshTokenNotFound
	case g == nil || g.revoked || rt.generation != g.generation:
		status, code, desc = http.StatusUnauthorized, "invalid_grant", "refresh token expired or revoked"
	case g.needsConsent:
		status, code, desc = http.StatusForbidden, "missing_grant", "the user must grant access again"
	case g.scopesDenied:
		status, code, desc = http.StatusForbidden, "access_denied", "the requested scopes include a scope that wasn't originally granted"
	}
	if status != 0 {
		s.mu.Unlock()
		s.writeTokenError(w, status, code, desc)
		return
	}
	a := s.accounts[rt.accountID]
	newRT := raw
	if s.rotate {
		delete(s.refresh, raw)
		for i, x := range g.refreshOrder {
			if x == raw {
				g.refreshOrder = append(g.refreshOrder[:i:i], g.refreshOrder[i+1:]...)
				break
			}
		}
		newRT = s.issueRefreshLocked(a, g)
	}
	tok := s.issueAccessLocked(a, g, newRT)
	s.refreshes[a.AccountID]++
	lifetime := s.lifetime
	s.mu.Unlock()
	writeTokenResponse(w, tok, lifetime, true)
}

func writeTokenResponse(w http.ResponseWriter, t livechat.Token, lifetime time.Duration, withRefresh bool) {
	body := map[string]any{
		"access_token":    t.AccessToken,
		"expires_in":      int64(lifetime.Seconds()),
		"token_type":      t.TokenType,
		"scope":           t.Scope,
		"account_id":      t.AccountID,
		"organization_id": t.OrganizationID,
	}
	if withRefresh {
		body["refresh_token"] = t.RefreshToken
	}
	writeJSON(w, http.StatusOK, body)
}

// handleInfo is GET /v2/info.
func (s *Simulator) handleInfo(w http.ResponseWriter, r *http.Request) {
	if s.intercept(EndpointInfo, w, r) {
		return
	}
	tok, ok := bearer(r)
	s.mu.Lock()
	at, known := s.access[tok]
	now := s.nowLocked()
	if !ok || !known || !now.Before(at.expiresAt) {
		s.mu.Unlock()
		s.writeTokenError(w, http.StatusUnauthorized, "unauthorized", "invalid or expired access token")
		return
	}
	a := s.accounts[at.accountID]
	body := map[string]any{
		"account_id":      a.AccountID,
		"organization_id": a.OrganizationID,
		"client_id":       s.opts.ClientID,
		"scope":           at.scope,
		"token_type":      "Bearer",
		"expires_in":      int64(at.expiresAt.Sub(now).Seconds()),
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// handleRevoke is DELETE /v2/token: an access token takes its paired refresh token
// with it; a refresh token takes the access tokens minted from it.
func (s *Simulator) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if s.intercept(EndpointRevoke, w, r) {
		return
	}
	tok, ok := bearer(r)
	s.mu.Lock()
	found := false
	if ok {
		if at, isAccess := s.access[tok]; isAccess {
			found = true
			delete(s.access, tok)
			delete(s.refresh, at.refresh)
		} else if _, isRefresh := s.refresh[tok]; isRefresh {
			found = true
			delete(s.refresh, tok)
			for k, at := range s.access {
				if at.refresh == tok {
					delete(s.access, k)
				}
			}
		}
	}
	s.mu.Unlock()
	if !found {
		s.writeTokenError(w, http.StatusNotFound, "not_found", "token not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// writeTokenError writes an Accounts error in the current or the legacy shape.
func (s *Simulator) writeTokenError(w http.ResponseWriter, status int, code, desc string) {
	s.writeTokenErrorWith(w, status, code, desc, nil)
}

// writeTokenErrorWith is writeTokenError with extra members (422's invalid_fields).
func (s *Simulator) writeTokenErrorWith(w http.ResponseWriter, status int, code, desc string, extra map[string]any) {
	s.mu.Lock()
	legacy := s.legacy
	s.mu.Unlock()
	if legacy {
		writeJSON(w, status, map[string]any{"oauth_exception": code, "exception_description": desc})
		return
	}
	body := map[string]any{
		"error":             code,
		"error_description": desc,
		"sub_error":         nil,
		"request_id":        newUUID(),
	}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func missingFields(p url.Values, names ...string) []string {
	var out []string
	for _, n := range names {
		if p.Get(n) == "" {
			out = append(out, n)
		}
	}
	return out
}

func writeAPIError(w http.ResponseWriter, status int, typ, msg string, data any) {
	e := map[string]any{"type": typ, "message": msg}
	if data != nil {
		e["data"] = data
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
