package refresh

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
)

func TestOptions_LeaseCoversTheCallAndEverySaveAttempt(t *testing.T) {
	for _, o := range []Options{
		{},
		{StoreTimeout: 2 * time.Second},
		{LeaseTTL: 10 * time.Second, StoreTimeout: 2 * time.Second},
		{LeaseTTL: 5 * time.Second}, // shorter than the save budget of the default store timeout
		{CallBudget: 3 * time.Second, StoreTimeout: 100 * time.Millisecond},
		{CallBudget: 3 * time.Second, LeaseTTL: time.Minute},
	} {
		got := o.withDefaults()
		// Written out here rather than through SaveBudget, so that a change to the save loop's
		// constants or to the derivation alone makes this fail.
		save := 3*got.StoreTimeout + 50*time.Millisecond + 200*time.Millisecond
		if got.SaveBudget() != save {
			t.Errorf("%+v: SaveBudget = %v, want 3 x StoreTimeout + 250ms = %v", o, got.SaveBudget(), save)
		}
		if need := got.CallBudget + save + leaseSlack; got.LeaseTTL < need {
			t.Errorf("%+v: LeaseTTL %v < CallBudget %v + save budget %v + slack", o, got.LeaseTTL, got.CallBudget, save)
		}
		if got.CallBudget < got.MinCallTime {
			t.Errorf("%+v: CallBudget %v below MinCallTime %v", o, got.CallBudget, got.MinCallTime)
		}
		if o.LeaseTTL > 0 && got.LeaseTTL < o.LeaseTTL {
			t.Errorf("%+v: LeaseTTL shortened to %v", o, got.LeaseTTL)
		}
	}
	if d := (Options{}).withDefaults().LeaseTTL; d != DefaultLeaseTTL {
		t.Errorf("default LeaseTTL = %v, want DefaultLeaseTTL %v", d, DefaultLeaseTTL)
	}
}

// slowSaveStore makes every CompleteRefresh attempt take nearly its whole timeout; attempts before
// succeedOn fail as timed out, attempt succeedOn is written just before its timeout. It records the
// lease and when each attempt ended (on the simulator's clock, the store's).
type slowSaveStore struct {
	Store
	now       func() time.Time
	succeedOn int

	mu       sync.Mutex
	lease    *store.Lease
	attempts []time.Time
}

func (s *slowSaveStore) AcquireLease(ctx context.Context, id string, version int64, owner string, ttl time.Duration) (*store.Installation, *store.Lease, error) {
	inst, l, err := s.Store.AcquireLease(ctx, id, version, owner, ttl)
	s.mu.Lock()
	s.lease = l
	s.mu.Unlock()
	return inst, l, err
}

func (s *slowSaveStore) CompleteRefresh(ctx context.Context, l *store.Lease, g store.Grant) (*store.Installation, error) {
	d, _ := ctx.Deadline()
	s.mu.Lock()
	n := len(s.attempts) + 1
	s.mu.Unlock()
	var inst *store.Installation
	err := context.DeadlineExceeded
	if n == s.succeedOn {
		time.Sleep(time.Until(d) - 30*time.Millisecond)
		inst, err = s.Store.CompleteRefresh(context.WithoutCancel(ctx), l, g)
	} else {
		<-ctx.Done()
	}
	s.mu.Lock()
	s.attempts = append(s.attempts, s.now())
	s.mu.Unlock()
	return inst, err
}

func TestLease_SlowSaveLandsUnderTheLease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		succeedOn int // 0: every attempt times out
	}{
		{"the last attempt lands", saveAttempts},
		{"every attempt times out", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			inst := e.installDue(1)[0]
			o := e.fastOptions()
			o.StoreTimeout = 600 * time.Millisecond // long enough for the real lease write on a busy machine
			o.CallBudget = 600 * time.Millisecond
			o.LeaseTTL = 0
			// LiveChat answers near the end of the call budget.
			e.sim.SetLatency(livechatsim.EndpointTokenRefresh, 350*time.Millisecond)
			st := &slowSaveStore{Store: e.st, now: e.sim.Now, succeedOn: tc.succeedOn}
			r := New(st, e.lc, o)
			o = r.Options()

			start := e.sim.Now()
			got, err := r.RefreshInstallation(context.Background(), inst)
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.attempts) != saveAttempts {
				t.Fatalf("save attempts = %d, want %d (RefreshInstallation: %v)", len(st.attempts), saveAttempts, err)
			}
			last := st.attempts[len(st.attempts)-1]
			if !last.Before(st.lease.ExpiresAt) {
				t.Errorf("last save attempt ended at lease+%v: after the lease lapsed", last.Sub(st.lease.ExpiresAt))
			}
			// What the lease arithmetic assumes: the call and every save attempt within
			// CallBudget + SaveBudget of taking the lease (plus scheduling slack on a busy machine).
			if used, budget := last.Sub(start), o.CallBudget+o.SaveBudget(); used > budget+leaseSlack/2 {
				t.Errorf("call and saves took %v, more than CallBudget + SaveBudget = %v", used, budget)
			}
			if tc.succeedOn > 0 {
				if err != nil || got == nil || e.get(inst.ID).Version != inst.Version+1 {
					t.Fatalf("RefreshInstallation = %v, %v; want the token saved", got, err)
				}
			} else if err == nil {
				t.Fatal("RefreshInstallation succeeded although every save timed out")
			}
		})
	}
}

// saturatedStore lets one store write through at a time, each taking a while.
type saturatedStore struct {
	Store
	sem   chan struct{}
	delay time.Duration
}

func (s *saturatedStore) write() func() {
	s.sem <- struct{}{}
	time.Sleep(s.delay)
	return func() { <-s.sem }
}

func (s *saturatedStore) AcquireLease(ctx context.Context, id string, version int64, owner string, ttl time.Duration) (*store.Installation, *store.Lease, error) {
	defer s.write()()
	return s.Store.AcquireLease(ctx, id, version, owner, ttl)
}

func (s *saturatedStore) CompleteRefresh(ctx context.Context, l *store.Lease, g store.Grant) (*store.Installation, error) {
	defer s.write()()
	return s.Store.CompleteRefresh(ctx, l, g)
}

func (s *saturatedStore) ReleaseLease(ctx context.Context, l *store.Lease, e *store.RefreshError) error {
	defer s.write()()
	return s.Store.ReleaseLease(ctx, l, e)
}

// inFlightClient counts the LiveChat calls in flight and keeps the peak.
type inFlightClient struct {
	inner    TokenClient
	now, max atomic.Int64
}

func (c *inFlightClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	return c.inner.Refresh(ctx, refreshToken)
}

func TestRunPass_SaturatedStoreNeverAddsLiveChatCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(40)
	o := e.slowCallOptions(20*time.Millisecond, 3)
	o.StoreConcurrency = 12 // many more store writers than call slots, all queueing on one store
	lc := &inFlightClient{inner: e.lc}
	r := New(&saturatedStore{Store: e.st, sem: make(chan struct{}, 1), delay: 10 * time.Millisecond}, lc, o)
	sum, err := r.RunPass(context.Background())
	if err != nil || sum.Refreshed != 40 {
		t.Fatalf("RunPass = %+v, %v; want all 40 refreshed", sum, err)
	}
	if m := lc.max.Load(); m > int64(o.Concurrency) || m < 1 {
		t.Errorf("LiveChat calls in flight peaked at %d, want 1..%d (the setting)", m, o.Concurrency)
	}
	for _, inst := range insts {
		if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
			t.Errorf("%s: refreshes = %d, want 1", inst.ID, n)
		}
	}
}

// deadlineClient records the deadline of each LiveChat call's context.
type deadlineClient struct {
	inner     TokenClient
	mu        sync.Mutex
	deadlines []time.Time
}

func (c *deadlineClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	d, _ := ctx.Deadline()
	c.mu.Lock()
	c.deadlines = append(c.deadlines, d)
	c.mu.Unlock()
	return c.inner.Refresh(ctx, refreshToken)
}

// slowCompleteStore delays every CompleteRefresh.
type slowCompleteStore struct {
	Store
	delay time.Duration
}

func (s slowCompleteStore) CompleteRefresh(ctx context.Context, l *store.Lease, g store.Grant) (*store.Installation, error) {
	time.Sleep(s.delay)
	return s.Store.CompleteRefresh(ctx, l, g)
}

func TestRefreshInstallation_ReservesTheSaveBudgetBeforeTheCallersDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	o := e.fastOptions()
	o.StoreTimeout = 500 * time.Millisecond
	lc := &deadlineClient{inner: e.lc}
	r := New(e.st, lc, o)
	o = r.Options()
	// A /chats request with room for a call and the whole save budget after it.
	deadline := time.Now().Add(o.SaveBudget() + 2*time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := r.RefreshInstallation(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if len(lc.deadlines) != 1 {
		t.Fatalf("LiveChat calls = %d, want 1", len(lc.deadlines))
	}
	if got, want := lc.deadlines[0], deadline.Add(-o.SaveBudget()); got.After(want) {
		t.Errorf("the call may run until %v before the request's deadline, want at least the save budget %v", deadline.Sub(got), o.SaveBudget())
	}
}

func TestRefreshInstallation_SaveOutlivesAShortRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	o := e.fastOptions()
	o.StoreTimeout = 3 * time.Second
	// The request has 2s: less than a save budget (3 x 3s + 250ms), so the call gets what is left but
	// 1s. The save takes 2.1s, so it ends after the request's deadline, whenever the call ended.
	r := New(slowCompleteStore{Store: e.st, delay: 2100 * time.Millisecond}, e.lc, o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := r.RefreshInstallation(ctx, inst)
	if err != nil || got == nil {
		t.Fatalf("RefreshInstallation = %v, %v; want the token saved after the request's deadline", got, err)
	}
	if stored := e.get(inst.ID); stored.Version != inst.Version+1 || stored.AccessToken != got.AccessToken {
		t.Errorf("stored version %d, want %d with the new token", stored.Version, inst.Version+1)
	}
}

func TestRunPass_CallSlotsDoNotWaitForTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n, concurrency = 48, 4
	const callLatency, writeLatency = 100 * time.Millisecond, 60 * time.Millisecond
	e.installDue(n)
	o := e.slowCallOptions(callLatency, concurrency)
	r := New(&saturatedStore{Store: e.st, sem: make(chan struct{}, 16), delay: writeLatency}, e.lc, o)
	start := time.Now()
	sum, err := r.RunPass(context.Background())
	elapsed := time.Since(start)
	if err != nil || sum.Refreshed != n {
		t.Fatalf("RunPass = %+v, %v; want all %d refreshed", sum, err, n)
	}
	// A slot that waited for its own lease write and save would need n/concurrency x (call + 2
	// writes) = 2.64s; call slots kept busy need n/concurrency x call = 1.2s, plus filling and
	// draining the pipeline.
	ideal := time.Duration(n/concurrency) * callLatency
	serial := time.Duration(n/concurrency) * (callLatency + 2*writeLatency)
	t.Logf("pass %v; ideal %v, slots waiting for the store %v", elapsed, ideal, serial)
	if limit := serial * 3 / 4; elapsed > limit {
		t.Errorf("pass took %v, more than %v: the call slots waited for the store", elapsed, limit)
	}
}
