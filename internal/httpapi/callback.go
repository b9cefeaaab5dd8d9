package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"lcauth/internal/store"
)

// RestartCookieName marks a callback that restarted the flow through /install, so that a second code
// without our state within the restart window is refused instead of bouncing again.
const RestartCookieName = "lcauth_restart"

// Bounds of the callback's query parameters. LiveChat's codes and our states are far shorter.
const (
	maxCodeLen        = 2048
	maxErrorParamLen  = 512
	maxReflectedChars = 200
)

// callbackResult is the JSON answer of a successful callback. A first install (or the first after an
// uninstall) carries the API key, once. A reinstall carries none: the existing keys keep working, and a
// new one is issued only through an explicit POST to NewKeyURL with CSRFToken (and the grant cookie).
type callbackResult struct {
	InstallationID   string `json:"installation_id"`
	OrganizationID   string `json:"organization_id"`
	AccountID        string `json:"account_id"`
	APIKey           string `json:"api_key,omitempty"`
	Reinstalled      bool   `json:"reinstalled,omitempty"`
	ExistingKeysKept bool   `json:"existing_keys_kept,omitempty"`
	NewKeyURL        string `json:"new_key_url,omitempty"`
	CSRFToken        string `json:"csrf_token,omitempty"`
}

// callback answers GET /callback: verify state and cookie, then LiveChat's error parameters, then the
// code; exchange the code once; save the installation; show a new key once (fresh start) or offer one
// (reinstall).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	q, e := s.callbackQuery(r)
	if e != nil {
		return e
	}
	vs, restart, e := s.checkState(w, r, q)
	if e != nil || restart {
		return e
	}
	if e := authorizationError(q); e != nil {
		return e
	}
	code := q.Get("code")
	if code == "" {
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "The code parameter is missing."}
	}
	if s.st == nil {
		return noStore()
	}
	ctx, cancel := s.withTimeout(r)
	defer cancel()
	inst, apiKey, e := s.exchangeAndSave(ctx, r, code, vs.verifier)
	if e != nil {
		return e
	}
	infoFrom(r.Context()).installationID = inst.ID
	res := callbackResult{InstallationID: inst.ID, OrganizationID: inst.OrganizationID, AccountID: inst.AccountID, APIKey: apiKey}
	if apiKey == "" {
		return s.answerReinstall(w, r, res)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	renderHTML(w, http.StatusOK, successPage, successData{
		Title: "LiveChat app installed", OrganizationID: res.OrganizationID, AccountID: res.AccountID,
		InstallationID: res.InstallationID, APIKey: apiKey, ChatsURL: s.chatsURL, ScriptURL: s.scriptURL,
	})
	return nil
}

// callbackQuery bounds and parses the callback's query string.
func (s *Server) callbackQuery(r *http.Request) (url.Values, *apiError) {
	if len(r.URL.RawQuery) > s.maxQuery {
		return nil, tooLarge(http.StatusRequestURITooLong, "The query string is too long.")
	}
	q := r.URL.Query()
	for _, name := range []string{"state", "code", "error", "error_description", "oauth_exception", "exception_details"} {
		if len(q[name]) > 1 {
			return nil, &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "The parameter " + name + " appears more than once."}
		}
	}
	if len(q.Get("code")) > maxCodeLen {
		return nil, tooLarge(http.StatusRequestURITooLong, "The code parameter is too long.")
	}
	return q, nil
}

// checkState verifies the state parameter against this browser's state cookie (spent whatever the
// outcome) and marks it used. restart is true when the request was answered by restarting the flow (a
// code without a state of ours).
func (s *Server) checkState(w http.ResponseWriter, r *http.Request, q url.Values) (vs verifiedState, restart bool, e *apiError) {
	state, code := q.Get("state"), q.Get("code")
	stateCookie := ""
	if c, err := r.Cookie(s.stateCookieName()); err == nil {
		stateCookie = c.Value
		http.SetCookie(w, s.stateCookie("", -1))
	}
	if state == "" {
		if code != "" {
			return vs, true, s.restart(w, r)
		}
		return vs, false, &apiError{Status: http.StatusBadRequest, Code: CodeInvalidState,
			Message: "This request did not come from an installation started here (it has no state)."}
	}
	keys, e := s.stateKeys(r.Context())
	if e != nil {
		return vs, false, e
	}
	now := s.now()
	vs, err := keys.verify(now, s.stateTTL, state, stateCookie)
	if err != nil && code != "" && stateCookie == "" && (errors.Is(err, errStateMalformed) || errors.Is(err, errStateSignature)) {
		// A code with a state we never issued, in a browser that never started an install here: a
		// Marketplace direct installation that carries a state of LiveChat's own. Same as no state.
		return vs, true, s.restart(w, r)
	}
	if err != nil {
		return vs, false, &apiError{Status: http.StatusBadRequest, Code: CodeInvalidState, Message: capitalize(err.Error()) + ".", Class: "state"}
	}
	if !s.used.use(now, vs.nonce, vs.issuedAt.Add(s.stateTTL+clockSkew)) {
		return vs, false, &apiError{Status: http.StatusBadRequest, Code: CodeInvalidState, Message: capitalize(errStateReplayed.Error()) + ".", Class: "state"}
	}
	if _, err := r.Cookie(RestartCookieName); err == nil {
		http.SetCookie(w, s.cookie(RestartCookieName, "", -1))
	}
	return vs, false, nil
}

// exchangeAndSave exchanges the code once and saves the installation. apiKey is "" for a reinstall.
func (s *Server) exchangeAndSave(ctx context.Context, r *http.Request, code, verifier string) (*store.Installation, string, *apiError) {
	tok, err := s.lc.Exchange(ctx, code, verifier)
	if err != nil {
		return nil, "", mapExchangeError(r, err)
	}
	inst, apiKey, err := s.st.Install(ctx, store.Grant{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Scope: tok.Scope,
		ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID, AccountID: tok.AccountID, Region: tok.Region,
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			// LiveChat's answer lacked what an installation needs (ids, tokens).
			infoFrom(r.Context()).errDetail = err.Error()
			return nil, "", &apiError{Status: http.StatusBadGateway, Code: CodeExchangeFailed, Class: "invalid_grant_response",
				Message: "LiveChat's token response was incomplete; the installation could not be saved. Start again."}
		}
		return nil, "", s.unavailable(r, "store", err)
	}
	return inst, apiKey, nil
}

// restart handles a code that arrives without our state (a Marketplace direct installation: no state,
// or a state we did not issue, and no state cookie): the code
// is dropped unused (it cannot be tied to this browser) and the flow starts again through /install,
// once. The restart cookie makes a second such request within the window a clear error, never a loop.
func (s *Server) restart(w http.ResponseWriter, r *http.Request) *apiError {
	if _, err := r.Cookie(RestartCookieName); err == nil {
		http.SetCookie(w, s.cookie(RestartCookieName, "", -1))
		return &apiError{Status: http.StatusBadRequest, Code: CodeRestartRefused, Class: "restart_loop",
			Message: "LiveChat sent an authorization code without this server's state twice in a row; to avoid a redirect loop the installation was stopped. Start it again from the install link (cookies must be enabled)."}
	}
	http.SetCookie(w, s.cookie(RestartCookieName, "1", int(s.restartWindow.Seconds())))
	w.Header().Set("Location", s.installURL)
	w.WriteHeader(http.StatusFound)
	infoFrom(r.Context()).errClass = "restart"
	return nil
}

// authorizationError turns LiveChat's error parameters (RFC 6749 error/error_description, or its own
// oauth_exception/exception_details) into an answer. LiveChat's words are reflected, bounded; the pages
// escape them.
func authorizationError(q map[string][]string) *apiError {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return clip(v[0], maxErrorParamLen)
		}
		return ""
	}
	code, desc := get("error"), get("error_description")
	if code == "" {
		code, desc = get("oauth_exception"), get("exception_details")
	}
	if code == "" {
		return nil
	}
	msg := "LiveChat reported " + clip(code, maxReflectedChars)
	if desc != "" {
		msg += ": " + clip(desc, maxReflectedChars)
	}
	msg += "."
	if code == "access_denied" {
		return &apiError{Status: http.StatusForbidden, Code: CodeAccessDenied, Message: "The app was not allowed access to LiveChat. " + msg, Class: "access_denied"}
	}
	return &apiError{Status: http.StatusBadRequest, Code: CodeAuthorizationFailed, Message: msg, Class: "authorization_error"}
}

// clip bounds s to n bytes without splitting a UTF-8 sequence and drops control characters.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
