package livechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	s := errorText(opOr(e.Op, "accounts"), e.StatusCode, e.Code, e.Description)
	if e.RequestID != "" {
		s += " (request_id " + e.RequestID + ")"
	}
	return s
}

// errorText is an error answer's text: "livechat: op: HTTP status kind: message", without an empty
// kind or message.
func errorText(op string, status int, kind, message string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "livechat: %s: HTTP %d", op, status)
	if kind != "" {
		b.WriteString(" " + kind)
	}
	if message != "" {
		b.WriteString(": " + message)
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
	return errorText(opOr(e.Op, "agent api"), e.StatusCode, e.Type, e.Message)
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
