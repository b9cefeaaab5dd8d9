package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lcauth/internal/config"
)

func TestLoadOrCreateKey_CreatesAPrivateKeyOnceAndReusesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", sealingKeyFile)
	key, created, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created || len(key) != config.SealingKeySize {
		t.Fatalf("got created=%v, %d bytes; want a new %d-byte key", created, len(key), config.SealingKeySize)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("key folder mode %v, want 0700", dst.Mode().Perm())
	}
	again, created, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if created || !bytes.Equal(again, key) {
		t.Fatal("a second start did not reuse the key it generated")
	}
}

func TestLoadOrCreateKey_ConcurrentStartsAgreeOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), sealingKeyFile)
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := loadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("start %d got another key than start 0", i)
		}
	}
}

func TestLoadOrCreateKey_RefusesABadKeyFileWithoutReplacingIt(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"not base64", "not a key!\n", 0o600, "does not hold"},
		{"wrong length", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "does not hold"},
		{"readable by others", base64.StdEncoding.EncodeToString(make([]byte, 32)), 0o644, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), sealingKeyFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := loadOrCreateKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Fatal("the error quotes the key file's content")
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Fatal("the bad key file was changed")
			}
		})
	}
}

func TestRunDev_RefusesHalfConfiguredLiveChatBeforeStartingAnything(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"client id only", map[string]string{config.EnvClientID: "abc"}},
		{"client secret only", map[string]string{config.EnvClientSecret: "s3cr3t-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := map[string]string{config.EnvAddr: "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			err := runDev(context.Background(), []string{"-state", t.TempDir()}, lookup(env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), config.EnvClientID) || !strings.Contains(err.Error(), config.EnvClientSecret) {
				t.Fatalf("got %v, want an error naming both variables", err)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(stderr.String(), "s3cr3t-value") {
				t.Fatal("the client secret appears in the error or the log")
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed a banner although it did not start: %q", stdout.String())
			}
		})
	}
}

func TestRunDev_RejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"positional argument", []string{"extra"}, "unexpected arguments"},
		{"unknown flag", []string{"-nope"}, "not defined"},
		{"token lifetime too short", []string{"-simulator-token-lifetime", "10s"}, "at least 1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runDev(context.Background(), tt.args, func(string) string { return "" }, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPublicURL_UsesLocalhostForLoopbackAndAnyAddress(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"127.0.0.1:8080", "http://localhost:8080"},
		{"[::1]:9000", "http://localhost:9000"},
		{"0.0.0.0:8080", "http://localhost:8080"},
		{"192.0.2.7:8080", "http://192.0.2.7:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a, err := netResolve(tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := publicURL(a); got != tt.want {
				t.Fatalf("publicURL(%s) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}

func netResolve(addr string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", addr) }

// lookup is a getenv that reads env.
func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}
