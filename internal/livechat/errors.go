package livechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors wrapped by *ResponseError (errors.Is).
var (
	// ErrResponseTooLarge: the body exceeded the client's limit for the endpoint.
	ErrResponseTooLarge = errors.New("response body too large")
	// ErrMalformedResponse: the body was not the JSON the endpoint documents.
	ErrMalformedResponse = errors.New("malformed response body")
)

// TokenError is an error answer of the Accounts server (token endpoint, info, revoke),
// in either of LiveChat's shapes: {"error", "error_description", "request_id"} or the
// legacy {"oauth_exception", "exception_description"}.
type TokenError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is "error" or "oauth_exception" (e.g. invalid_grant); "" if the body had
	// neither, in which case Classify falls back to the status code.
	Code string
	// Description is error_description / exception_description, scrubbed of anything
	// we sent and truncated.
	Description string
	// RequestID is LiveChat's request_id, for support tickets.
	RequestID string
	// RetryAfter is the Retry-After header, if any.
	RetryAfter time.Duration
	// Op names the call: "exchange", "refresh", "info", "revoke".
	Op string
}

// Error describes the failure without any token, code or secret.
func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "livechat: %s: HTTP %d", opOr(e.Op, "accounts"), e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id " + e.RequestID + ")")
	}
	return b.String()
}

// APIError is an Agent Chat Web API error answer:
// {"error": {"type": ..., "message": ..., "data": {...}}}.
type APIError struct {
	// StatusCode is the HTTP status; branch on Type, not on this.
	StatusCode int
	// Type is error.type (authentication, validation, misdirected_request, ...); ""
	// if the body was not LiveChat's error shape.
	Type string
	// Message is error.message, scrubbed and truncated.
	Message string
	// Data is error.data unchanged (e.g. {"region": "fra"} for misdirected_request);
	// dropped if over 4 KiB.
	Data json.RawMessage
	// RetryAfter is the Retry-After header, if any.
	RetryAfter time.Duration
	// Op names the call ("list_chats").
	Op string
	// Body is LiveChat's error body as received, for a proxy that passes errors
	// through: set only if it was a JSON object of at most 64 KiB, with the access
	// token (should LiveChat ever echo it) replaced by "[redacted]". Not part of Error().
	Body json.RawMessage
}

// Error describes the failure without the access token.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "livechat: %s: HTTP %d", opOr(e.Op, "agent api"), e.StatusCode)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Region returns error.data.region (set on misdirected_request), or "".
func (e *APIError) Region() string {
	var d struct {
		Region string `json:"region"`
	}
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	return d.Region
}

// ValidationError is our own check of a request before it is sent (so nothing was
// sent). Field names the offending field in LiveChat's JSON spelling.
type ValidationError struct {
	Field, Message string
}

// Error names the field and the rule it broke.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "livechat: invalid request: " + e.Message
	}
	return "livechat: invalid request: " + e.Field + ": " + e.Message
}

// ResponseError is a response the client could not use: too large or malformed. It
// wraps ErrResponseTooLarge or ErrMalformedResponse.
type ResponseError struct {
	Op         string
	StatusCode int
	// Limit is the byte limit that was exceeded (ErrResponseTooLarge only).
	Limit int64
	Err   error
}

// Error names the call and the problem, never the body.
func (e *ResponseError) Error() string {
	if errors.Is(e.Err, ErrResponseTooLarge) {
		return fmt.Sprintf("livechat: %s: HTTP %d: %v (limit %d bytes)", opOr(e.Op, "call"), e.StatusCode, e.Err, e.Limit)
	}
	return fmt.Sprintf("livechat: %s: HTTP %d: %v", opOr(e.Op, "call"), e.StatusCode, e.Err)
}

// Unwrap returns ErrResponseTooLarge or ErrMalformedResponse (wrapped).
func (e *ResponseError) Unwrap() error { return e.Err }

// TransportError is a failure to get a response at all: DNS, connect, reset,
// timeout, cancelled context. Err is the underlying error (errors.Is works with
// context.DeadlineExceeded and friends).
type TransportError struct {
	Op  string
	Err error
}

// Error names the call and the underlying network or context error.
func (e *TransportError) Error() string {
	return fmt.Sprintf("livechat: %s: %v", opOr(e.Op, "call"), e.Err)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// secretError wraps a SecretSource failure so that Classify can tell it apart.
type secretError struct {
	op  string
	err error
}

func (e *secretError) Error() string {
	return fmt.Sprintf("livechat: %s: client secret: %v", e.op, e.err)
}

func (e *secretError) Unwrap() error { return e.err }

func opOr(op, def string) string {
	if op == "" {
		return def
	}
	return op
}

// ErrorClass is the decision a caller makes about an error.
type ErrorClass string

// Error classes, see Classify.
const (
	// ClassNone: err == nil.
	ClassNone ErrorClass = ""
	// ClassReauthorization: the grant is gone (invalid_grant, missing_grant); the
	// user must install again. Specific to one installation.
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
	case "unauthorized_client", "invalid_client":
		return ClassMisconfiguration
	case "temporarily_unavailable", "too_many_requests":
		return ClassRateLimited
	case "server_error", "service_unavailable", "internal", "request_timeout":
		return ClassTransient
	case "invalid_token", "authentication":
		// /v2/info and DELETE /v2/token with a bad bearer token.
		return ClassAuthentication
	case "invalid_request", "unsupported_grant_type", "unsupported_response_type", "invalid_scope", "access_denied", "validation", "not_found":
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

// parseTokenError turns a non-2xx Accounts answer into a *TokenError. A body in the
// Agent API shape ({"error": {"type": ...}}) is accepted too, since /v2/info's error
// shape is not documented.
func parseTokenError(op string, r *response, now time.Time, secrets ...string) *TokenError {
	e := &TokenError{Op: op, StatusCode: r.status, RetryAfter: parseRetryAfter(r.header.Get("Retry-After"), now)}
	var body struct {
		Error                json.RawMessage `json:"error"`
		ErrorDescription     string          `json:"error_description"`
		RequestID            string          `json:"request_id"`
		OAuthException       string          `json:"oauth_exception"`
		ExceptionDescription string          `json:"exception_description"`
	}
	if json.Unmarshal(r.body, &body) != nil {
		return e
	}
	var code string
	if len(body.Error) > 0 && json.Unmarshal(body.Error, &code) != nil {
		var obj struct{ Type, Message string }
		if json.Unmarshal(body.Error, &obj) == nil {
			code, body.ErrorDescription = obj.Type, obj.Message
		}
	}
	if code == "" && body.OAuthException != "" {
		code, body.ErrorDescription = body.OAuthException, body.ExceptionDescription
	}
	e.Code = scrub(code, secrets...)
	e.Description = scrub(body.ErrorDescription, secrets...)
	e.RequestID = scrub(body.RequestID, secrets...)
	return e
}

// maxErrorBody bounds APIError.Body.
const maxErrorBody = 64 << 10

// parseAPIError turns a non-2xx Agent API answer into an *APIError.
func parseAPIError(op string, r *response, now time.Time, secrets ...string) *APIError {
	e := &APIError{Op: op, StatusCode: r.status, RetryAfter: parseRetryAfter(r.header.Get("Retry-After"), now)}
	var body struct {
		Error struct {
			Type    string          `json:"type"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &body) != nil {
		return e
	}
	if trimmed := bytes.TrimSpace(r.body); len(trimmed) <= maxErrorBody && len(trimmed) > 0 && trimmed[0] == '{' {
		raw := string(trimmed)
		for _, sec := range secrets {
			if len(sec) >= 4 {
				raw = strings.ReplaceAll(raw, sec, "[redacted]")
			}
		}
		e.Body = json.RawMessage(raw)
	}
	e.Type = scrub(body.Error.Type, secrets...)
	e.Message = scrub(body.Error.Message, secrets...)
	if len(body.Error.Data) > 0 && string(body.Error.Data) != "null" && len(body.Error.Data) <= 4096 {
		e.Data = append(json.RawMessage(nil), body.Error.Data...)
	}
	return e
}
