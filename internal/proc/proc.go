// Package proc holds the small pieces shared by code that starts child processes for tests and local
// mode (dynalite, the Lambda Runtime Interface Emulator): finding the repository root, where
// node_modules and go.mod live, keeping the tail of a child's output for error messages, and free
// ports with a few start attempts.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// ErrNoRepoRoot means no go.mod was found above the working directory.
var ErrNoRepoRoot = errors.New("proc: no go.mod above the working directory")

// RepoRoot returns the directory holding go.mod, searching upwards from the working directory, so
// tests in any package (and `go run` from any folder of the checkout) find node_modules.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("proc: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRepoRoot
		}
		dir = parent
	}
}

// TailBuffer keeps the last Max bytes written, to quote a failed child's last words in an error, and
// copies everything to W when W is set. It is safe for concurrent use (stdout and stderr share it).
type TailBuffer struct {
	// Max is how many bytes of the tail are kept.
	Max int
	// W, when set, receives a copy of everything written.
	W io.Writer

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write keeps p's tail and copies p to W. It never fails: a failing log sink must not stop the child.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.Max; extra > 0 {
		t.buf.Next(extra)
	}
	if t.W != nil {
		_, _ = t.W.Write(p)
	}
	return len(p), nil
}

// String returns the kept tail.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// StartAttempts is how many times Start tries to start a child.
const StartAttempts = 3

// Start calls start until it succeeds, at most StartAttempts times, or until ctx is done, and returns
// the last error. A child told to listen on a free port (FreePorts) can lose it to another process
// before it binds it; a new attempt with new ports makes that harmless.
func Start[T any](ctx context.Context, start func() (T, error)) (T, error) {
	var zero T
	var lastErr error
	for range StartAttempts {
		v, err := start()
		if err == nil {
			return v, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return zero, lastErr
}

// FreePorts asks the kernel for n distinct free loopback ports. They are free when it returns; a
// child may find one taken by the time it binds it (see Start).
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
