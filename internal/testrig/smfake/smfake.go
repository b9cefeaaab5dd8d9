// Package smfake is an in-process AWS Secrets Manager for tests: an httptest server that speaks the
// real GetSecretValue wire protocol (AWS JSON 1.1, X-Amz-Target secretsmanager.GetSecretValue, SigV4
// signed requests, errors as X-Amzn-ErrorType + {"__type","message"}) to the real aws-sdk-go-v2
// secretsmanager client. Only GetSecretValue of the AWSCURRENT version is implemented.
package smfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Fake holds secrets by ARN and counts calls.
type Fake struct {
	mu      sync.Mutex
	secrets map[string]string
	failing int // answer this many calls with InternalServiceError
	latency time.Duration
	calls   atomic.Int64
}

// New returns an empty Fake.
func New() *Fake { return &Fake{secrets: map[string]string{}} }

// Set stores value as the AWSCURRENT SecretString of arn (a rotation when arn exists).
func (f *Fake) Set(arn, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[arn] = value
}

// Delete removes arn, so that GetSecretValue answers ResourceNotFoundException.
func (f *Fake) Delete(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, arn)
}

// FailNext answers the next n calls with HTTP 500 InternalServiceError.
func (f *Fake) FailNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = n
}

// SetLatency delays every answer by d (to make concurrent callers overlap).
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Calls returns how many GetSecretValue requests reached the fake.
func (f *Fake) Calls() int { return int(f.calls.Load()) }

// ServeHTTP implements the GetSecretValue operation.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "unknown operation")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, http.StatusBadRequest, "SerializationException", "unexpected content type "+ct)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not SigV4 signed")
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "secretsmanager.GetSecretValue" {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unsupported target "+target)
		return
	}
	f.calls.Add(1)
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.SecretID == "" {
		writeError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	f.mu.Lock()
	latency := f.latency
	failing := f.failing > 0
	if failing {
		f.failing--
	}
	value, ok := f.secrets[in.SecretID]
	f.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case failing:
		writeError(w, http.StatusInternalServerError, "InternalServiceError", "injected failure")
		return
	case !ok:
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	case in.VersionStage != "" && in.VersionStage != "AWSCURRENT":
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+in.VersionStage)
		return
	}
	name := in.SecretID
	if i := strings.LastIndex(name, ":secret:"); i >= 0 {
		name = name[i+len(":secret:"):]
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN":           in.SecretID,
		"Name":          name,
		"VersionId":     fmt.Sprintf("v-%d", len(value)),
		"SecretString":  value,
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   float64(time.Now().Unix()),
	})
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// Start serves f on 127.0.0.1 until the test ends and returns a real Secrets Manager client pointed at
// it (static credentials, no retries so that injected failures are seen as they are).
func Start(tb testing.TB, f *Fake) *secretsmanager.Client {
	tb.Helper()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return Client(srv.URL)
}

// Client returns a real Secrets Manager client for the fake at endpoint.
func Client(endpoint string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret-key", ""),
		RetryMaxAttempts: 1,
	})
}
