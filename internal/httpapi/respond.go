package httpapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes in {"error": {"code": ...}}. They are part of the HTTP interface: clients branch on them.
const (
	CodeInvalidState          = "invalid_state"            // 400: state/cookie missing, forged, expired or replayed
	CodeRestartRefused        = "restart_refused"          // 400: a second code without our state within the restart window
	CodeAccessDenied          = "access_denied"            // 403: the user did not allow the app
	CodeAuthorizationFailed   = "authorization_failed"     // 400: LiveChat reported another authorization error
	CodeInvalidRequest        = "invalid_request"          // 400: missing/invalid parameters or body
	CodeExchangeFailed        = "exchange_failed"          // 400 (code rejected) or 502 (LiveChat failed)
	CodeNotConfigured         = "not_configured"           // 503: the client secret is not set yet
	CodeUnauthorized          = "unauthorized"             // 401: missing or wrong API key
	CodeReauthorizationNeeded = "reauthorization_required" // 401: the installation must be installed again
	CodeForbidden             = "forbidden"                // 403: LiveChat refused access (scope, license)
	CodeRateLimited           = "rate_limited"             // 429: LiveChat's rate limit; see Retry-After
	CodeUpstreamError         = "upstream_error"           // 502: LiveChat failed or answered nonsense
	CodeUpstreamTimeout       = "upstream_timeout"         // 504: LiveChat did not answer in time
	CodeRequestTooLarge       = "request_too_large"        // 413/414/431: input over its bound
	CodeUnsupportedMediaType  = "unsupported_media_type"   // 415: POST /chats without a JSON body
	CodeMethodNotAllowed      = "method_not_allowed"       // 405
	CodeNotFound              = "not_found"                // 404
	CodeUnavailable           = "service_unavailable"      // 503: DynamoDB or KMS failed; see Retry-After
	CodeInternal              = "internal_error"           // 500: our own failure (details only in the log)
	CodeCrossSiteRequest      = "cross_site_request"       // 403: the new-key POST came from another site
	CodeNewKeyRefused         = "new_key_refused"          // 403: no valid grant cookie/CSRF token for a new key
	CodeTooManyKeys           = "too_many_keys"            // 409: the installation has the most keys allowed
	CodeServiceKeyRequired    = "service_key_required"     // 403: an installation key on a service-key route
	CodeInstallationMismatch  = "installation_mismatch"    // 403: an installation key naming another installation
	CodeInstallationNotFound  = "installation_not_found"   // 404: a service key naming an unknown installation
	CodeUninstalled           = "uninstalled"              // 401 (its own key) / 410 (a service key): the installation was uninstalled (+ install_url)
	CodeResponseTooLarge      = "response_too_large"       // 502: LiveChat's answer would not fit in a response; ask for a smaller limit
)

// apiError is an error answer. Message is for people and never carries a token, code, secret or key.
type apiError struct {
	Status     int
	Code       string
	Message    string
	InstallURL string        // reauthorization_required: where to install again
	RetryAfter time.Duration // 429
	Class      string        // for the request log: the error class behind the answer
	// Hint is an extra sentence for the operator (for example how to set the secret).
	Hint string
	// challenge is the WWW-Authenticate header of a 401 unauthorized.
	challenge string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	InstallURL string `json:"install_url,omitempty"`
}

// wantsJSON reports whether the client asked for JSON (Accept: application/json with q > 0). Browsers
// never send that, so they get HTML.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
				continue
			}
		}
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"could not encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeAPIErrorJSON(w http.ResponseWriter, e *apiError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	msg := e.Message
	if e.Hint != "" {
		msg += " " + e.Hint
	}
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: msg, InstallURL: e.InstallURL}})
}

func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// securityHeaders are set on every response, including errors and assets.
func setSecurityHeaders(h http.Header, hsts bool) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "interest-cohort=()")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000")
	}
}
