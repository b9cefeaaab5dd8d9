// Package secrets supplies lcauth's secrets (the LiveChat OAuth client secret, the OAuth state key, the
// webhook secret): from AWS Secrets Manager on Lambda (cached with a TTL and single-flight, so a burst
// of cold requests makes one call and a rotated secret is picked up after the TTL) or from a static
// value in local runs. Both implement livechat.SecretSource.
//
// A secret that is empty or still the stack's placeholder is reported as ErrNotConfigured, which the
// HTTP layer turns into 503 not_configured with instructions for the operator.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/singleflight"
)

// Placeholder is the value the stack stores in the secret when it creates it. The operator replaces it
// with the real client secret; until then every endpoint that needs the secret answers 503.
const Placeholder = "REPLACE_WITH_LIVECHAT_CLIENT_SECRET"

// JSONField is the field read when the secret is a JSON object rather than a plain string.
const JSONField = "client_secret"

// ErrNotConfigured means the client secret has not been set yet: missing, empty, or the placeholder.
var ErrNotConfigured = errors.New("secrets: the LiveChat client secret is not configured")

// GetSecretValueAPI is the part of the Secrets Manager client the Source uses.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ GetSecretValueAPI = (*secretsmanager.Client)(nil)

// Source reads the client secret from Secrets Manager and caches it for a TTL. Concurrent callers that
// find the cache stale share one GetSecretValue call. If a refetch fails while a value is cached, the
// cached value keeps being served (an outage of Secrets Manager should not take the API down with it)
// and the fetch is retried after retryAfterError. It is safe for concurrent use.
type Source struct {
	client GetSecretValueAPI
	arn    string
	ttl    time.Duration
	now    func() time.Time
	group  singleflight.Group

	mu        sync.Mutex
	value     string    // last good secret; "" if none
	err       error     // last ErrNotConfigured result, cached like a value
	nextFetch time.Time // when to ask Secrets Manager again
}

// retryAfterError bounds how often a failing Secrets Manager is asked while a good value is cached, and
// how long a "not configured" answer is believed before asking again.
const retryAfterError = 30 * time.Second

// Option configures a Source.
type Option func(*Source)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// NewSecretsManager returns a Source reading the secret arn through client and caching it for ttl
// (a ttl <= 0 means 5 minutes).
func NewSecretsManager(client GetSecretValueAPI, arn string, ttl time.Duration, opts ...Option) *Source {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	s := &Source{client: client, arn: arn, ttl: ttl, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// String never shows the secret.
func (s *Source) String() string { return "secrets.Source(" + s.arn + ")" }

// ClientSecret returns the current client secret, ErrNotConfigured, or an error from Secrets Manager.
func (s *Source) ClientSecret(ctx context.Context) (string, error) {
	s.mu.Lock()
	now := s.now()
	if now.Before(s.nextFetch) {
		v, err := s.value, s.err
		s.mu.Unlock()
		return v, err
	}
	s.mu.Unlock()

	// The fetch is detached from any one caller's cancellation: it is shared, and a caller that gives
	// up must not fail the others. It keeps the caller's values and a bound of its own.
	ch := s.group.DoChan("secret", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return s.fetch(fctx)
	})
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("secrets: get client secret: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

// fetch calls Secrets Manager once and updates the cache.
func (s *Source) fetch(ctx context.Context) (string, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.arn)})
	var value string
	if err == nil {
		value, err = parse(out)
	} else {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			// The secret or its AWSCURRENT value does not exist: the operator has not set it.
			err = fmt.Errorf("%w (secret %s has no value)", ErrNotConfigured, s.arn)
		} else {
			err = fmt.Errorf("secrets: get secret value of %s: %w", s.arn, err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case err == nil:
		s.value, s.err, s.nextFetch = value, nil, now.Add(s.ttl)
		return value, nil
	case errors.Is(err, ErrNotConfigured):
		// Believed for a short while only, so that setting the secret takes effect quickly.
		s.value, s.err, s.nextFetch = "", err, now.Add(min(s.ttl, retryAfterError))
		return "", err
	case s.value != "":
		s.nextFetch = now.Add(min(s.ttl, retryAfterError))
		return s.value, nil
	default:
		return "", err
	}
}

// parse extracts the client secret from a plain string or a JSON object with a client_secret field.
func parse(out *secretsmanager.GetSecretValueOutput) (string, error) {
	var raw string
	switch {
	case out.SecretString != nil:
		raw = *out.SecretString
	case len(out.SecretBinary) > 0:
		raw = string(out.SecretBinary)
	}
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "{") {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			// Never include the document: it is the secret.
			return "", fmt.Errorf("%w: the secret looks like JSON but does not parse", ErrNotConfigured)
		}
		var v string
		if f, ok := doc[JSONField]; !ok || json.Unmarshal(f, &v) != nil {
			return "", fmt.Errorf("%w: the secret's JSON has no string field %q", ErrNotConfigured, JSONField)
		}
		raw = strings.TrimSpace(v)
	}
	return check(raw)
}

func check(v string) (string, error) {
	switch v {
	case "":
		return "", fmt.Errorf("%w: the secret is empty", ErrNotConfigured)
	case Placeholder:
		return "", fmt.Errorf("%w: the secret still holds the placeholder %s", ErrNotConfigured, Placeholder)
	}
	return v, nil
}

// StaticSource is a fixed client secret (LIVECHAT_CLIENT_SECRET in local runs).
type StaticSource struct{ secret string }

// Static returns a source that always yields secret, or ErrNotConfigured if it is empty or the
// placeholder.
func Static(secret string) *StaticSource { return &StaticSource{secret: strings.TrimSpace(secret)} }

// ClientSecret returns the secret.
func (s *StaticSource) ClientSecret(context.Context) (string, error) { return check(s.secret) }

// String never shows the secret.
func (s *StaticSource) String() string { return "secrets.Static([redacted])" }

// GoString never shows the secret.
func (s *StaticSource) GoString() string { return s.String() }
