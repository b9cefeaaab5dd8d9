package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/testrig/harness"
)

// lineWriter hands over the first line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	line chan string
	once sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); i >= 0 {
		w.once.Do(func() { w.line <- string(w.buf.Bytes()[:i]) })
	}
	return len(p), nil
}

func TestServe_ServesTheHandlersUntilCancelled(t *testing.T) {
	s := harness.New(t, harness.Options{})
	env := s.ProcessEnv()
	env[config.EnvAddr] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(t.Context())
	out := &lineWriter{line: make(chan string, 1)}
	errc := make(chan error, 1)
	go func() {
		errc <- runServe(ctx, nil, lookup(env), out, io.Discard)
	}()
	var base string
	select {
	case line := <-out.line:
		base = strings.TrimPrefix(line, "lcauth serving on ")
	case err := <-errc:
		t.Fatalf("runServe: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("runServe did not start")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/install")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), s.SimURL) {
		t.Fatalf("/install: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(base + "/chats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/chats without key: %d", resp.StatusCode)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("runServe after cancel: %v", err)
	}
}

func TestServe_ReportsEveryConfigProblem(t *testing.T) {
	err := runServe(t.Context(), nil, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("want an error without configuration")
	}
	for _, name := range []string{config.EnvClientID, config.EnvRedirectURL, config.EnvTable} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
