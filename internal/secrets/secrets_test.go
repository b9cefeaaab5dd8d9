package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/secrets"
	"lcauth/internal/testrig/smfake"
)

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth/livechat-client-secret-AbCdEf"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSource(t *testing.T, ttl time.Duration) (*smfake.Fake, *secrets.Source, *clock) {
	t.Helper()
	fake := smfake.New()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	src := secrets.NewSecretsManager(smfake.Start(t, fake), arn, ttl, secrets.WithClock(clk.Now))
	return fake, src, clk
}

func TestSecretsManager_ReadsPlainAndJSONSecrets(t *testing.T) {
	tests := []struct {
		name, stored, want string
		wantErr            error
	}{
		{"plain string", "s3cr3t", "s3cr3t", nil},
		{"plain string with newline", "s3cr3t\n", "s3cr3t", nil},
		{"JSON object", `{"client_secret":"js0n-s3cr3t","other":1}`, "js0n-s3cr3t", nil},
		{"empty", "", "", secrets.ErrNotConfigured},
		{"placeholder", secrets.Placeholder, "", secrets.ErrNotConfigured},
		{"placeholder in JSON", `{"client_secret":"` + secrets.Placeholder + `"}`, "", secrets.ErrNotConfigured},
		{"JSON without the field", `{"secret":"x"}`, "", secrets.ErrNotConfigured},
		{"JSON with a number", `{"client_secret":5}`, "", secrets.ErrNotConfigured},
		{"broken JSON", `{"client_secret":`, "", secrets.ErrNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, src, _ := newSource(t, time.Minute)
			fake.Set(arn, tt.stored)
			got, err := src.ClientSecret(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("secret = %q, want %q", got, tt.want)
			}
			if err != nil && tt.stored != "" && tt.stored != secrets.Placeholder && strings.Contains(err.Error(), tt.stored) {
				t.Fatalf("error echoes the stored value: %v", err)
			}
		})
	}
}

func TestSecretsManager_MissingSecretIsNotConfigured(t *testing.T) {
	_, src, _ := newSource(t, time.Minute)
	_, err := src.ClientSecret(context.Background())
	if !errors.Is(err, secrets.ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
}

func TestSecretsManager_CachesForTTLThenPicksUpRotation(t *testing.T) {
	fake, src, clk := newSource(t, 5*time.Minute)
	fake.Set(arn, "old")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if got, _ := src.ClientSecret(ctx); got != "old" {
			t.Fatalf("got %q, want old", got)
		}
	}
	if fake.Calls() != 1 {
		t.Fatalf("calls = %d within the TTL, want 1", fake.Calls())
	}
	fake.Set(arn, "new")
	clk.Advance(4 * time.Minute)
	if got, _ := src.ClientSecret(ctx); got != "old" {
		t.Fatalf("got %q before the TTL, want the cached old", got)
	}
	clk.Advance(2 * time.Minute)
	if got, _ := src.ClientSecret(ctx); got != "new" {
		t.Fatalf("got %q after the TTL, want the rotated new", got)
	}
	if fake.Calls() != 2 {
		t.Fatalf("calls = %d, want 2", fake.Calls())
	}
}

func TestSecretsManager_ConcurrentColdCallsMakeOneRequest(t *testing.T) {
	fake, src, _ := newSource(t, time.Minute)
	fake.Set(arn, "s3cr3t")
	fake.SetLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := src.ClientSecret(context.Background()); err != nil || got != "s3cr3t" {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d callers got a wrong answer", bad.Load())
	}
	if fake.Calls() != 1 {
		t.Fatalf("calls = %d for 50 concurrent cold callers, want 1", fake.Calls())
	}
}

func TestSecretsManager_ServesCachedValueWhenRefetchFails(t *testing.T) {
	fake, src, clk := newSource(t, time.Minute)
	fake.Set(arn, "s3cr3t")
	ctx := context.Background()
	if _, err := src.ClientSecret(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	fake.FailNext(1)
	if got, err := src.ClientSecret(ctx); err != nil || got != "s3cr3t" {
		t.Fatalf("got %q, %v while Secrets Manager fails, want the cached value", got, err)
	}
	// The failure is not retried on every call.
	if got, _ := src.ClientSecret(ctx); got != "s3cr3t" || fake.Calls() != 2 {
		t.Fatalf("got %q with %d calls, want cached value and 2 calls", got, fake.Calls())
	}
}

func TestSecretsManager_ColdFailureIsAnErrorNamingTheARN(t *testing.T) {
	fake, src, _ := newSource(t, time.Minute)
	fake.Set(arn, "s3cr3t")
	fake.FailNext(1)
	_, err := src.ClientSecret(context.Background())
	if err == nil || errors.Is(err, secrets.ErrNotConfigured) || !strings.Contains(err.Error(), arn) {
		t.Fatalf("err = %v, want a Secrets Manager error naming the ARN", err)
	}
	if got, err := src.ClientSecret(context.Background()); err != nil || got != "s3cr3t" {
		t.Fatalf("second call: %q, %v; want the secret (errors are not cached)", got, err)
	}
}

func TestSecretsManager_NotConfiguredIsRecheckedSoon(t *testing.T) {
	fake, src, clk := newSource(t, time.Hour)
	fake.Set(arn, secrets.Placeholder)
	ctx := context.Background()
	if _, err := src.ClientSecret(ctx); !errors.Is(err, secrets.ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
	fake.Set(arn, "now-set")
	clk.Advance(31 * time.Second)
	if got, err := src.ClientSecret(ctx); err != nil || got != "now-set" {
		t.Fatalf("got %q, %v 31s after the operator set it, want the secret", got, err)
	}
}

func TestSecretsManager_CallerCancellationDoesNotBreakOthers(t *testing.T) {
	fake, src, _ := newSource(t, time.Minute)
	fake.Set(arn, "s3cr3t")
	fake.SetLatency(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := src.ClientSecret(context.Background())
		done <- err
	}()
	if _, err := src.ClientSecret(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: err = %v, want DeadlineExceeded", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
}

func TestStatic(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  error
	}{
		{"s3cr3t", "s3cr3t", nil},
		{"", "", secrets.ErrNotConfigured},
		{secrets.Placeholder, "", secrets.ErrNotConfigured},
	}
	for _, tt := range tests {
		got, err := secrets.Static(tt.in).ClientSecret(context.Background())
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("Static(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if s := fmt.Sprintf("%v %#v %s", secrets.Static("s3cr3t"), secrets.Static("s3cr3t"), secrets.Static("s3cr3t")); strings.Contains(s, "s3cr3t") {
		t.Fatalf("formatting leaks the secret: %s", s)
	}
}
