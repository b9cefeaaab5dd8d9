package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lcauth/internal/app"
	"lcauth/internal/testrig/harness"
)

func TestServe_ShutsDownGracefullyOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- app.Serve(ctx, "127.0.0.1:0", h, app.NewJSONLogger(io.Discard, 0), func(a net.Addr) { addrc <- a })
	}()
	addr := <-addrc
	bodyc := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/")
		if err != nil {
			bodyc <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		bodyc <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if got := <-bodyc; got != "done" {
		t.Fatalf("in-flight request got %q, want it to finish", got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func TestServe_BoundsHeadersAndSlowClients(t *testing.T) {
	srv := app.NewServer("127.0.0.1:0", http.NotFoundHandler(), app.NewJSONLogger(io.Discard, 0))
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	go func() {
		_ = app.Serve(ctx, "127.0.0.1:0", http.NotFoundHandler(), app.NewJSONLogger(io.Discard, 0), func(a net.Addr) { addrc <- a })
	}()
	addr := <-addrc
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	if r := harness.Do(t, http.DefaultClient, req); r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", r.Status)
	}
}
