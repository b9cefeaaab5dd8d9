package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBuffer_KeepsEveryConcurrentWrite(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); len(got) != 1600 || strings.ReplaceAll(got, "ab", "") != "" {
		t.Fatalf("got %d bytes, want 800 intact writes of \"ab\"", len(got))
	}
}
