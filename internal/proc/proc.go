// Package proc holds the small pieces shared by code that starts child processes for tests and local
// mode (dynalite, the Lambda Runtime Interface Emulator): finding the repository root, where
// node_modules and go.mod live, keeping the tail of a child's output for error messages, and free
// ports with a few start attempts.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
