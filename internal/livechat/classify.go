package livechat

// Classification: what a caller should do about an error of this package (re-authorize, fix the
// configuration, retry later, ...), kept apart from the error types themselves in errors.go.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorClass is the decision a caller makes about an error.
type ErrorClass string

// Error classes, see Classify.
const (
	// ClassNone: err == nil.
	ClassNone ErrorClass = ""
	// ClassReauthorization: the grant is gone (invalid_grant, missing_grant, or
	// access_denied on a refresh: the grant no longer covers our scopes); the user
	// must install again. Specific to one installation.
	ClassReauthorization ErrorClass = "reauthorization"
	// ClassMisconfiguration: unauthorized_client / invalid_client. Usually OUR client
	// id or secret is wrong (then every installation fails alike); never read it as
	// "this user revoked us" without evidence. A SecretSource failure is here too,
	// unless it is a timeout or network error (then ClassTransient).
	ClassMisconfiguration ErrorClass = "misconfiguration"
	// ClassAuthentication: the Agent API rejected the access token (invalid or
	// expired); refresh and retry once.
	ClassAuthentication ErrorClass = "authentication"
	// ClassRateLimited: 429, temporarily_unavailable, too_many_requests. Retry later,
	// honouring RetryAfter.
	ClassRateLimited ErrorClass = "rate_limited"
	// ClassTransient: 5xx, server_error, service_unavailable, request_timeout,
	// internal, network errors, timeouts, too-large or malformed responses.
	ClassTransient ErrorClass = "transient"
	// ClassInvalidRequest: the request was wrong (our ValidationError, LiveChat's
	// validation, authorization, not_found, other 4xx). Retrying will not help.
	ClassInvalidRequest ErrorClass = "invalid_request"
	// ClassOther: anything else.
	ClassOther ErrorClass = "other"
)

// Classify maps any error returned by this package (also when wrapped) to a class.
// Token endpoint errors are classified by their code first and the status second,
// Agent API errors by error.type first and the status second, as LiveChat advises.
func Classify(err error) ErrorClass {
	if err == nil {
		return ClassNone
	}
	var (
		te *TokenError
		ae *APIError
		ve *ValidationError
		re *ResponseError
		tr *TransportError
		se *secretError
	)
	switch {
	case errors.As(err, &te):
		return classifyToken(te)
	case errors.As(err, &ae):
		return classifyAPI(ae)
	case errors.As(err, &ve):
		return ClassInvalidRequest
	case errors.As(err, &re):
		return ClassTransient
	case errors.As(err, &se):
		if temporary(se.err) {
			return ClassTransient
		}
		return ClassMisconfiguration
	case errors.As(err, &tr):
		return ClassTransient
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		return ClassTransient
	}
	return ClassOther
}

// temporary reports whether a SecretSource error looks like a passing failure (a
// timeout, a network error, an AWS error the SDK would retry) rather than a missing or
// wrong configuration: a Secrets Manager hiccup must not stop a refresh run as if our
// client secret were wrong.
func temporary(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var retryable interface{ RetryableError() bool }
	if errors.As(err, &retryable) && retryable.RetryableError() {
		return true
	}
	// AWS SDK errors carry the HTTP status (awshttp.ResponseError) and the AWS error code
	// (smithy.APIError) but no RetryableError method: a 5xx, a 429 or a throttling code is an outage
	// of the secret store, not a wrong secret.
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && (status.HTTPStatusCode() >= 500 || status.HTTPStatusCode() == http.StatusTooManyRequests) {
		return true
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		switch coded.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "InternalServiceError", "InternalFailure", "ServiceUnavailable":
			return true
		}
	}
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

func classifyToken(e *TokenError) ErrorClass {
	switch e.Code {
	case "invalid_grant", "missing_grant":
		return ClassReauthorization
	case "access_denied":
		// 403 "the requested scopes include a scope that wasn't originally granted": on a refresh,
		// the owner no longer grants what the installation holds.
		if e.Op == opRefresh {
			return ClassReauthorization
		}
		return ClassInvalidRequest
	case "unauthorized_client", "invalid_client":
		return ClassMisconfiguration
	case "temporarily_unavailable", "too_many_requests":
		return ClassRateLimited
	case "server_error", "service_unavailable", "internal", "request_timeout":
		return ClassTransient
	case "invalid_token", "authentication":
		// /v2/info and DELETE /v2/token with a bad bearer token.
		return ClassAuthentication
	case "invalid_request", "unsupported_grant_type", "unsupported_response_type", "invalid_scope", "validation", "not_found":
		return ClassInvalidRequest
	}
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		// Without a code, a 401/403 from /v2/info or DELETE /v2/token is about the
		// bearer token; from the token endpoint it says nothing we can act on.
		if e.Op == opInfo || e.Op == opRevoke {
			return ClassAuthentication
		}
		return ClassOther
	}
	return classifyStatus(e.StatusCode)
}

func classifyAPI(e *APIError) ErrorClass {
	switch e.Type {
	case "authentication":
		return ClassAuthentication
	case "too_many_requests":
		return ClassRateLimited
	case "request_timeout", "service_unavailable", "internal", "misdirected_request":
		// misdirected_request reaches the caller only if the one retry with
		// X-Region was misdirected again: LiveChat is moving the account.
		return ClassTransient
	case "validation", "authorization", "not_found", "missing_access", "license_expired",
		"wrong_product_version", "unsupported_version", "entity_too_large", "group_not_found",
		"chat_inactive", "user_not_found":
		return ClassInvalidRequest
	}
	return classifyStatus(e.StatusCode)
}

func classifyStatus(status int) ErrorClass {
	switch {
	case status == http.StatusTooManyRequests:
		return ClassRateLimited
	case status == http.StatusUnauthorized:
		return ClassAuthentication
	case status == http.StatusRequestTimeout || status >= 500:
		return ClassTransient
	case status >= 400:
		return ClassInvalidRequest
	}
	return ClassOther
}

// IsTransient reports whether retrying later may succeed (ClassRateLimited or
// ClassTransient).
func IsTransient(err error) bool {
	c := Classify(err)
	return c == ClassRateLimited || c == ClassTransient
}

// RetryAfter returns the Retry-After LiveChat sent with err (0 if none).
func RetryAfter(err error) time.Duration {
	var te *TokenError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// parseRetryAfter reads delta-seconds or an HTTP date; bounded to a day so that a
// hostile header cannot park a caller forever.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 86400 {
			secs = 86400
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	if d > 24*time.Hour {
		d = 24 * time.Hour
	}
	return d
}
