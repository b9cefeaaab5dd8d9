package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/secrets"
)

// install answers GET /install: a new state (and PKCE verifier when enabled) bound to this browser by
// a cookie, then 302 to LiveChat's authorize URL. It writes nothing to the store.
func (s *Server) install(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET")
	}
	if len(r.URL.RawQuery) > s.maxQuery {
		return tooLarge(http.StatusRequestURITooLong, "The query string is too long.")
	}
	keys, e := s.stateKeys(r.Context())
	if e != nil {
		return e
	}
	var (
		verifier string
		pkce     livechat.PKCE
	)
	if s.pkce != "" {
		v, p, err := livechat.NewPKCE(s.pkce)
		if err != nil {
			return s.internal(r, "pkce", err)
		}
		verifier, pkce = v, p
	}
	st, err := keys.issue(s.now(), verifier)
	if err != nil {
		return s.internal(r, "state", err)
	}
	http.SetCookie(w, s.stateCookie(st.Cookie, int(s.stateTTL.Seconds())))
	w.Header().Set("Location", s.lc.AuthorizeURL(st.State, pkce))
	w.WriteHeader(http.StatusFound)
	return nil
}

// stateKeys derives the state keys from the state key, or from the client secret where no state key
// is configured (a local serve).
func (s *Server) stateKeys(ctx context.Context) (*stateKeys, *apiError) {
	var (
		secret []byte
		err    error
	)
	if s.stateKey != nil {
		secret, err = s.stateKey.StateKey(ctx)
	} else {
		var cs string
		cs, err = s.secret.ClientSecret(ctx)
		secret = []byte(cs)
	}
	if err != nil {
		if errors.Is(err, secrets.ErrNotConfigured) {
			return nil, notConfigured()
		}
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUpstreamError,
			Message: "The key that signs the installation state could not be read; try again shortly.", Class: "secret_unavailable"}
	}
	keys, err := deriveStateKeys(secret)
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error.", Class: "state_keys"}
	}
	return keys, nil
}

// cookie builds a cookie scoped to the callback path. maxAge < 0 deletes it.
func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.callbackURL.Path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// hostCookie builds a __Host- cookie on https (Path=/, Secure, no Domain) and a plain one scoped to
// the callback path on http (local runs, where Secure cookies would be dropped). maxAge < 0 deletes it.
func (s *Server) hostCookie(plainName, value string, maxAge int, sameSite http.SameSite) *http.Cookie {
	c := s.cookie(plainName, value, maxAge)
	if s.secure {
		c.Name, c.Path = "__Host-"+plainName, "/"
	}
	c.SameSite = sameSite
	return c
}

func (s *Server) stateCookieName() string {
	if s.secure {
		return SecureStateCookieName
	}
	return StateCookieName
}

// stateCookie is the state cookie. SameSite=Lax: it must travel on LiveChat's top-level redirect back.
func (s *Server) stateCookie(value string, maxAge int) *http.Cookie {
	return s.hostCookie(StateCookieName, value, maxAge, http.SameSiteLaxMode)
}

func notConfigured() *apiError {
	return &apiError{
		Status:  http.StatusServiceUnavailable,
		Code:    CodeNotConfigured,
		Message: "The LiveChat client secret is not configured yet.",
		Hint: "Operator: put the client secret of the LiveChat app (Developer Console, Authorization) into the " +
			"Secrets Manager secret named by LIVECHAT_CLIENT_SECRET_ARN (as plain text or JSON {\"client_secret\": \"...\"}), " +
			"or set LIVECHAT_CLIENT_SECRET for local runs. It is picked up within LCAUTH_SECRET_TTL.",
		Class: string(livechat.ClassMisconfiguration),
	}
}

// noStore answers for a function started without a table (a deployment mistake: config.LoadFor
// normally refuses to start it).
func noStore() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: CodeNotConfigured, Class: "no_store",
		Message: "This function has no installation table configured (LCAUTH_TABLE and a sealing key)."}
}

func tooLarge(status int, msg string) *apiError {
	return &apiError{Status: status, Code: CodeRequestTooLarge, Message: msg}
}

// unavailable answers a failure of one of our own dependencies (DynamoDB, KMS): 503 with Retry-After, so
// clients retry instead of treating it as a bug. The error itself goes to the log only.
func (s *Server) unavailable(r *http.Request, class string, err error) *apiError {
	infoFrom(r.Context()).errDetail = err.Error()
	return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Class: class, RetryAfter: time.Second,
		Message: "lcauth could not reach its storage; retry in a moment."}
}

// internal records err for the log (it never holds a secret: our errors are built that way) and
// answers a bare 500.
func (s *Server) internal(r *http.Request, class string, err error) *apiError {
	ri := infoFrom(r.Context())
	ri.errDetail = err.Error()
	return &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error; it has been logged.", Class: class}
}
