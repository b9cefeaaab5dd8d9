package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"lcauth/internal/store"
)

// refreshRace runs workers that race to refresh one installation until it has been refreshed target
// times. Each worker reads the item, takes the lease at the version it read, and completes it with
// tokens naming (version, worker) - unless crash says the holder dies first and leaves its lease.
// onContended runs whenever a worker loses a race (tests use it to move the clock).
type raceResult struct {
	mu          sync.Mutex
	leases      map[int64][]string // version -> owners granted a lease on it
	completions map[int64]string   // new version -> access token written
	unexpected  []error
}

func refreshRace(t *testing.T, f *fixture, inst *store.Installation, workers, target int, crash func() bool, onContended func()) *raceResult {
	t.Helper()
	res := &raceResult{leases: map[int64][]string{}, completions: map[int64]string{}}
	var wg sync.WaitGroup
	done := make(chan struct{})
	var once sync.Once
	for w := 0; w < workers; w++ {
		owner := fmt.Sprintf("worker-%02d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				cur, err := f.st.Get(ctx, inst.ID)
				if err != nil {
					res.fail(err)
					return
				}
				if cur.Version >= inst.Version+int64(target) {
					once.Do(func() { close(done) })
					return
				}
				_, l, err := f.st.AcquireLease(ctx, cur.ID, cur.Version, owner, leaseTTL)
				if errors.Is(err, store.ErrLeaseHeld) || errors.Is(err, store.ErrVersionConflict) {
					if onContended != nil {
						onContended()
					}
					// Losers back off a little, as real refreshers do, instead of hammering the table.
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					res.fail(err)
					return
				}
				res.mu.Lock()
				res.leases[cur.Version] = append(res.leases[cur.Version], owner)
				res.mu.Unlock()
				if crash != nil && crash() {
					continue // the holder "dies": its lease stays until it lapses
				}
				g := f.grant(inst.OrganizationID, inst.AccountID, time.Hour, fmt.Sprintf("v%d-%s", cur.Version+1, owner))
				got, err := f.st.CompleteRefresh(ctx, l, g)
				switch {
				case err == nil:
					res.mu.Lock()
					if prev, ok := res.completions[got.Version]; ok {
						res.unexpected = append(res.unexpected, fmt.Errorf("version %d written twice: %s and %s", got.Version, prev, g.AccessToken))
					}
					res.completions[got.Version] = g.AccessToken
					res.mu.Unlock()
				case errors.Is(err, store.ErrLeaseHeld) || errors.Is(err, store.ErrVersionConflict):
					// Our lease lapsed and was taken over: the write was refused, as it must be.
				default:
					res.fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(res.unexpected) > 0 {
		t.Fatalf("unexpected: %v", errors.Join(res.unexpected...))
	}
	return res
}

func (r *raceResult) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unexpected = append(r.unexpected, err)
}

// checkNoLostUpdate: versions advanced one by one, each by exactly one completion, and the item holds
// the tokens of the newest.
func checkNoLostUpdate(t *testing.T, f *fixture, inst *store.Installation, res *raceResult) {
	t.Helper()
	final := f.get(t, inst.ID)
	if int64(len(res.completions)) != final.Version-inst.Version {
		t.Errorf("%d completions, but the version moved %d -> %d", len(res.completions), inst.Version, final.Version)
	}
	for v := inst.Version + 1; v <= final.Version; v++ {
		if _, ok := res.completions[v]; !ok {
			t.Errorf("no completion produced version %d", v)
		}
	}
	if want := res.completions[final.Version]; final.AccessToken != want {
		t.Errorf("final access token %q, want the newest write %q", final.AccessToken, want)
	}
	if final.LeaseOwner != "" && final.LeaseExpiresAt.After(f.clock.Now().Add(leaseTTL)) {
		t.Errorf("lease %s expires %s, beyond any ttl", final.LeaseOwner, final.LeaseExpiresAt)
	}
}

func TestRefreshRace_OneLeasePerVersionAndNoLostUpdate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	const workers, target = 12, 25
	res := refreshRace(t, f, inst, workers, target, nil, nil)
	for v, owners := range res.leases {
		if len(owners) != 1 {
			t.Errorf("version %d leased %d times (%v), want exactly once", v, len(owners), owners)
		}
	}
	if len(res.leases) != target {
		t.Errorf("%d versions leased, want %d", len(res.leases), target)
	}
	checkNoLostUpdate(t, f, inst, res)
	if final := f.get(t, inst.ID); final.Version != inst.Version+target || final.LeaseOwner != "" {
		t.Errorf("final version %d lease %q, want %d and no lease", final.Version, final.LeaseOwner, inst.Version+target)
	}
}

func TestRefreshRace_CrashedHoldersLeasesLapseAndNothingIsLost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	crash := func() bool { // a quarter of the holders die holding the lease
		rmu.Lock()
		defer rmu.Unlock()
		return rng.IntN(4) == 0
	}
	// Time passes while workers wait on each other; sooner or later every abandoned lease lapses, and
	// now and then a live holder is too slow and loses its lease (its write must then be refused).
	advance := func() { f.clock.Advance(3 * time.Second) }
	const workers, target = 8, 20
	res := refreshRace(t, f, inst, workers, target, crash, advance)
	checkNoLostUpdate(t, f, inst, res)
	taken := 0
	for _, owners := range res.leases {
		taken += len(owners) - 1
	}
	if taken == 0 {
		t.Errorf("no lease was ever taken over from a crashed holder; the test did not exercise expiry")
	}
}
