package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/refresh"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// This file is the one place where domain errors become HTTP answers.

// defaultRetryAfter is sent with a 429 when LiveChat gave no Retry-After.
const defaultRetryAfter = 5 * time.Second

// mapExchangeError maps a failed code exchange. The code is single-use, so every failure ends with
// "start again"; the status says whose fault it was: 400 when LiveChat rejected the code (expired,
// used, not ours), 502 when LiveChat failed, 503 when our secret is not set.
func mapExchangeError(r *http.Request, err error) *apiError {
	class := livechat.Classify(err)
	infoFrom(r.Context()).errDetail = err.Error()
	if errors.Is(err, secrets.ErrNotConfigured) {
		return notConfigured()
	}
	switch class {
	case livechat.ClassReauthorization, livechat.ClassMisconfiguration, livechat.ClassInvalidRequest, livechat.ClassAuthentication:
		// unauthorized_client for a code means: used or expired code, wrong redirect URI, or a wrong
		// client secret. The person can only start again; the log line tells the operator which.
		return &apiError{Status: http.StatusBadRequest, Code: CodeExchangeFailed, Class: string(class),
			Message: "LiveChat did not accept the authorization code (it may have expired or been used already). Start the installation again."}
	case livechat.ClassRateLimited:
		return &apiError{Status: http.StatusBadGateway, Code: CodeExchangeFailed, Class: string(class), RetryAfter: retryAfter(err),
			Message: "LiveChat is rate limiting this app right now. Wait a moment and start the installation again."}
	}
	return &apiError{Status: http.StatusBadGateway, Code: CodeExchangeFailed, Class: string(class),
		Message: "LiveChat could not complete the authorization right now. Start the installation again in a moment."}
}

// mapChatsError maps a failure of /chats after authentication: refresh or list_chats.
func (s *Server) mapChatsError(r *http.Request, err error) *apiError {
	class := livechat.Classify(err)
	ri := infoFrom(r.Context())
	ri.errDetail = err.Error()
	switch {
	case errors.Is(err, secrets.ErrNotConfigured):
		return notConfigured()
	case errors.Is(err, refresh.ErrReauthorizationRequired) || class == livechat.ClassReauthorization:
		return s.reauthorization(r, "LiveChat no longer accepts this installation's authorization.")
	case errors.Is(err, refresh.ErrRefreshInProgress):
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUpstreamError, Class: "refresh_in_progress", RetryAfter: time.Second,
			Message: "The access token is being refreshed right now; retry in a second."}
	case errors.Is(err, store.ErrUninstalled):
		// Uninstalled while this request was under way.
		return s.uninstalled(r)
	case errors.Is(err, store.ErrNotFound) && ri.keyID != "":
		// Deleted between the service key's lookup and the refresh.
		return &apiError{Status: http.StatusNotFound, Code: CodeInstallationNotFound, Message: "No installation has that installation_id."}
	case errors.Is(err, store.ErrNotFound):
		// Deleted between authentication and refresh.
		return &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "The API key is not valid."}
	}
	switch class {
	case livechat.ClassAuthentication:
		// Still rejected after a fresh token: the grant is likely revoked.
		return s.reauthorization(r, "LiveChat rejected this installation's access token even after a refresh.")
	case livechat.ClassRateLimited:
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Class: string(class), RetryAfter: retryAfter(err),
			Message: "LiveChat's rate limit was reached; retry after the time in Retry-After."}
	case livechat.ClassInvalidRequest:
		var ae *livechat.APIError
		var ve *livechat.ValidationError
		switch {
		case errors.As(err, &ve):
			return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Class: string(class), Message: ve.Error()[len("livechat: "):]}
		case errors.As(err, &ae) && (ae.Type == "authorization" || ae.Type == "missing_access" || ae.Type == "license_expired"):
			return &apiError{Status: http.StatusForbidden, Code: CodeForbidden, Class: string(class), Message: liveChatSays(ae)}
		case errors.As(err, &ae):
			return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Class: string(class), Message: liveChatSays(ae)}
		}
		return &apiError{Status: http.StatusBadGateway, Code: CodeUpstreamError, Class: string(class), Message: "LiveChat refused the request."}
	case livechat.ClassMisconfiguration:
		return &apiError{Status: http.StatusBadGateway, Code: CodeUpstreamError, Class: string(class),
			Message: "LiveChat rejected this app's client credentials; the operator must check LIVECHAT_CLIENT_ID and the client secret."}
	case livechat.ClassTransient:
		if re := (*livechat.ResponseError)(nil); errors.As(err, &re) && re.Op == "list_chats" && errors.Is(err, livechat.ErrResponseTooLarge) {
			return responseTooLarge(string(class)) // over the client's own limit, far over Lambda's
		}
		if isTimeout(err) {
			return &apiError{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Class: string(class), Message: "LiveChat did not answer in time; retry shortly."}
		}
		return &apiError{Status: http.StatusBadGateway, Code: CodeUpstreamError, Class: string(class), Message: "LiveChat failed to answer; retry shortly."}
	}
	// Not LiveChat's answer: the refresh failed on our side (DynamoDB, KMS).
	return s.unavailable(r, "store", err)
}

// reauthorization answers for an installation LiveChat no longer accepts: 401 to its own key (as
// always), 409 to a service key (the key itself is fine; the installation is not).
func (s *Server) reauthorization(r *http.Request, why string) *apiError {
	status := http.StatusUnauthorized
	if infoFrom(r.Context()).keyID != "" {
		status = http.StatusConflict
	}
	return &apiError{Status: status, Code: CodeReauthorizationNeeded, Class: string(livechat.ClassReauthorization),
		InstallURL: s.installURL,
		Message:    why + " The app must be installed again at " + s.installURL + " (existing API keys keep working)."}
}

func liveChatSays(ae *livechat.APIError) string {
	msg := "LiveChat rejected the request"
	if ae.Type != "" {
		msg += " (" + ae.Type + ")"
	}
	if ae.Message != "" {
		msg += ": " + clip(ae.Message, 300)
	}
	return msg
}

func retryAfter(err error) time.Duration {
	if d := livechat.RetryAfter(err); d > 0 {
		return d
	}
	return defaultRetryAfter
}

// isTimeout reports whether err is LiveChat (or the network) not answering in time, as opposed to
// answering with a failure.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var ae *livechat.APIError
	if errors.As(err, &ae) && (ae.Type == "request_timeout" || ae.StatusCode == http.StatusGatewayTimeout) {
		return true
	}
	return false
}
