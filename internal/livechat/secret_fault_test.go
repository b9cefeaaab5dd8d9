package livechat_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"lcauth/internal/livechat"
)

// statusError is how AWS SDK v2 errors expose the HTTP status of a failed call (awshttp.ResponseError
// has HTTPStatusCode), and ErrorCode the AWS error code (smithy.APIError).
type statusError struct {
	status int
	code   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("https response error StatusCode: %d, %s", e.status, e.code)
}
func (e *statusError) HTTPStatusCode() int { return e.status }
func (e *statusError) ErrorCode() string   { return e.code }
func (e *statusError) Unwrap() error       { return nil }

type erringSecret struct{ err error }

func (s erringSecret) ClientSecret(context.Context) (string, error) { return "", s.err }

// TestClassify_SecretSourceOutageIsTransient: a Secrets Manager that answers 5xx or throttles is an
// outage, not a wrong client secret; only a 4xx about the secret itself (not found, access denied) is
// misconfiguration. Before the fix every SDK error counted as misconfiguration, so an outage tripped
// the refresh circuit breaker and /chats blamed "LiveChat rejected this app's client credentials".
func TestClassify_SecretSourceOutageIsTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want livechat.ErrorClass
	}{
		{"500 InternalServiceError", &statusError{500, "InternalServiceError"}, livechat.ClassTransient},
		{"503", &statusError{503, "ServiceUnavailable"}, livechat.ClassTransient},
		{"429", &statusError{429, "TooManyRequestsException"}, livechat.ClassTransient},
		{"400 ThrottlingException", &statusError{400, "ThrottlingException"}, livechat.ClassTransient},
		{"400 ResourceNotFoundException", &statusError{400, "ResourceNotFoundException"}, livechat.ClassMisconfiguration},
		{"400 AccessDeniedException", &statusError{400, "AccessDeniedException"}, livechat.ClassMisconfiguration},
		{"plain error", errors.New("no secret"), livechat.ClassMisconfiguration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := livechat.New(livechat.Config{AccountsURL: "http://127.0.0.1:1", ClientID: "c",
				ClientSecret: erringSecret{fmt.Errorf("secrets: get secret value: %w", tt.err)}})
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := c.Refresh(context.Background(), "refresh-token")
			if got := livechat.Classify(rerr); got != tt.want {
				t.Fatalf("Classify = %s, want %s (%v)", got, tt.want, rerr)
			}
			if !errors.Is(rerr, tt.err) {
				t.Fatal("the source's error is not wrapped")
			}
		})
	}
}
