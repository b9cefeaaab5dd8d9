package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestTailBuffer_KeepsOnlyTheTailAndCopiesEverything(t *testing.T) {
	var all bytes.Buffer
	tb := &TailBuffer{Max: 8, W: &all}
	for _, s := range []string{"hello ", "dynalite ", "world"} {
		if n, err := tb.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got, want := tb.String(), "te world"; got != want {
		t.Fatalf("tail = %q, want %q", got, want)
	}
	if got, want := all.String(), "hello dynalite world"; got != want {
		t.Fatalf("copy = %q, want %q", got, want)
	}
}

func TestTailBuffer_ConcurrentWriters(t *testing.T) {
	tb := &TailBuffer{Max: 1 << 10}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				_, _ = tb.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if got := tb.String(); len(got) != 800 || strings.Trim(got, "x") != "" {
		t.Fatalf("tail has %d bytes %q, want 800 x", len(got), got)
	}
}

func TestRepoRoot_FindsGoModAbove(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %s, which has no go.mod", root)
	}
	wd, _ := os.Getwd()
	if !strings.HasPrefix(wd, root) {
		t.Fatalf("RepoRoot() = %s is not above %s", root, wd)
	}
}

func TestRepoRoot_FailsOutsideAModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := RepoRoot(); err != ErrNoRepoRoot {
		t.Fatalf("err = %v, want ErrNoRepoRoot", err)
	}
}

func TestStart_RetriesUntilOneAttemptSucceeds(t *testing.T) {
	calls := 0
	got, err := Start(t.Context(), func() (int, error) {
		calls++
		if calls < StartAttempts {
			return 0, errors.New("port taken")
		}
		return calls, nil
	})
	if err != nil || got != StartAttempts {
		t.Fatalf("Start = %d, %v; want success on attempt %d", got, err, StartAttempts)
	}
	calls = 0
	_, err = Start(t.Context(), func() (int, error) { calls++; return 0, fmt.Errorf("attempt %d failed", calls) })
	if err == nil || err.Error() != fmt.Sprintf("attempt %d failed", StartAttempts) || calls != StartAttempts {
		t.Fatalf("Start = %v after %d calls; want the last of %d errors", err, calls, StartAttempts)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls = 0
	if _, err := Start(ctx, func() (int, error) { calls++; return 0, errors.New("no") }); err == nil || calls != 1 {
		t.Fatalf("Start with a done context: %v after %d calls, want one attempt", err, calls)
	}
}

func TestFreePorts_DistinctAndFree(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v, %v; want three distinct ports", ports, err)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
}
