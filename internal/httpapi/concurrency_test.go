package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestChats_ConcurrentCallsNearExpiryRefreshOnce(t *testing.T) {
	e := newEnv(t)
	key := e.install(e.account.AccountID)["api_key"].(string)
	e.sim.Advance(8*time.Hour - time.Minute)
	const n = 12
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.chats(key, "limit=1").status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	if got := e.sim.RefreshesOf(e.account.AccountID); got != 1 {
		t.Fatalf("%d refreshes for %d concurrent requests, want 1", got, n)
	}
}

func TestChats_UsesStillValidTokenWhileAnotherProcessRefreshes(t *testing.T) {
	e := newEnv(t)
	res := e.install(e.account.AccountID)
	key, id := res["api_key"].(string), res["installation_id"].(string)
	e.sim.Advance(8*time.Hour - time.Minute)
	inst, err := e.st.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.AcquireLease(t.Context(), id, inst.Version, "another-process", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := e.chats(key, ""); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v: it waited for the other holder although its token was valid", d)
	}
	if got := e.sim.RefreshesOf(e.account.AccountID); got != 0 {
		t.Fatalf("%d refreshes while another process holds the lease, want 0", got)
	}
}
