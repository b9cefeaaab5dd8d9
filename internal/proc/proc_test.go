package proc

import (
	"bytes"
	"os"
	"path/filepath"
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
