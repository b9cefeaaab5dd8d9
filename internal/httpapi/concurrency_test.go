package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestChats_ConcurrentCallsNearExpiryRefreshOnce(t *testing.T) {
	e, key := newInstalledEnv(t)
	e.Sim.Advance(8*time.Hour - time.Minute)
	const n = 12
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.Chats(key, "limit=1").Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	if got := e.Sim.RefreshesOf(e.Account.AccountID); got != 1 {
		t.Fatalf("%d refreshes for %d concurrent requests, want 1", got, n)
	}
}

func TestChats_UsesStillValidTokenWhileAnotherProcessRefreshes(t *testing.T) {
	e := newEnv(t)
	res := e.Install(e.Account.AccountID)
	key, id := res.APIKey, res.InstallationID
	e.Sim.Advance(8*time.Hour - time.Minute)
	inst, err := e.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Store.AcquireLease(t.Context(), id, inst.Version, "another-process", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v: it waited for the other holder although its token was valid", d)
	}
	if got := e.Sim.RefreshesOf(e.Account.AccountID); got != 0 {
		t.Fatalf("%d refreshes while another process holds the lease, want 0", got)
	}
}
