package refresh

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
)

func TestRunPass_RefreshesOnlyDueAndMarksRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	due := e.installDue(6)
	fresh := e.install(3) // installed after the clock moved: expire in 8h, outside the window
	revoked := due[:2]
	for _, inst := range revoked {
		e.sim.RevokeGrant(inst.AccountID)
	}
	r := e.refresher(nil, nil)

	sum, err := r.RunPass(context.Background())
	if err != nil {
		t.Fatalf("RunPass: %v", err)
	}
	want := Summary{Due: 6, Refreshed: 4, ReauthorizationRequired: 2, Failed: map[string]int{}, ListedAll: true}
	if sum.Due != want.Due || sum.Refreshed != want.Refreshed || sum.ReauthorizationRequired != want.ReauthorizationRequired ||
		sum.Skipped != 0 || sum.FailedTotal() != 0 || sum.Left != 0 || !sum.ListedAll || sum.StoppedReason != "" || sum.PassFailed {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}

	for _, old := range due[2:] {
		got := e.get(old.ID)
		e.noteTokens(got)
		if n := e.sim.RefreshesOf(old.AccountID); n != 1 {
			t.Errorf("%s: LiveChat refreshes = %d, want 1", old.ID, n)
		}
		if got.AccessToken == old.AccessToken || !e.sim.TokenValid(got.AccessToken) {
			t.Errorf("%s: stored access token is not a new valid one", old.ID)
		}
		if got.Version != old.Version+1 || got.Status != store.StatusActive || got.LeaseOwner != "" {
			t.Errorf("%s: version %d status %s lease %q, want version %d active, no lease", old.ID, got.Version, got.Status, got.LeaseOwner, old.Version+1)
		}
		if wantExp := e.sim.Now().Add(livechatsim.DefaultTokenLifetime); got.ExpiresAt.Before(wantExp.Add(-time.Minute)) {
			t.Errorf("%s: expires at %v, want about %v", old.ID, got.ExpiresAt, wantExp)
		}
	}
	for _, old := range fresh {
		got := e.get(old.ID)
		if n := e.sim.RefreshesOf(old.AccountID); n != 0 || got.Version != old.Version || got.AccessToken != old.AccessToken {
			t.Errorf("%s: fresh installation touched (refreshes %d, version %d -> %d)", old.ID, n, old.Version, got.Version)
		}
	}
	for _, old := range revoked {
		got := e.get(old.ID)
		if got.Status != store.StatusReauthorizationRequired || got.StatusReason != "livechat: invalid_grant" {
			t.Errorf("%s: status %s (%q), want reauthorization_required (livechat: invalid_grant)", old.ID, got.Status, got.StatusReason)
		}
		if got.RefreshToken != old.RefreshToken || got.AccessToken != old.AccessToken {
			t.Errorf("%s: tokens of a revoked installation were not kept", old.ID)
		}
	}

	m := e.passMetrics()
	for name, want := range map[string]float64{
		MetricPassFailed: 0, MetricDue: 6, MetricRefreshed: 4, MetricReauthorizationRequired: 2,
		MetricFailed: 0, MetricLeftForNextPass: 0, MetricSkipped: 0,
	} {
		if m[name] != want {
			t.Errorf("metric %s = %v, want %v", name, m[name], want)
		}
	}
	if _, ok := m[MetricDurationMs]; !ok {
		t.Errorf("metric %s missing", MetricDurationMs)
	}

	// The next pass finds nothing due: refreshed tokens moved out of the window, revoked ones left the
	// index.
	sum, err = r.RunPass(context.Background())
	if err != nil || sum.Due != 0 || sum.Refreshed != 0 {
		t.Errorf("second pass: %+v, %v; want nothing due", sum, err)
	}
	e.checkNoSecretsLogged()
}

func TestRunPass_WrongClientSecretMarksNothingAndFailsThePass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		due         int
		concurrency int
		wantCalls   int // exact LiveChat calls; 0 = don't check
	}{
		{name: "many due, breaker opens after the threshold and the probes", due: 100, concurrency: 1},
		{name: "many due, concurrent", due: 120, concurrency: 8},
		{name: "fewer due than the threshold, all fail", due: 12, concurrency: 4, wantCalls: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			insts := e.installDue(tc.due)
			rec := &recordingClient{inner: e.clientWithSecret("not-the-client-secret")}
			o := e.fastOptions()
			o.Concurrency = tc.concurrency
			r := e.refresher(rec, &o)

			sum, err := r.RunPass(context.Background())
			if !errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("RunPass error = %v, want ErrCircuitOpen", err)
			}
			if livechat.Classify(err) != livechat.ClassMisconfiguration {
				t.Errorf("Classify(RunPass error) = %s, want misconfiguration", livechat.Classify(err))
			}
			if !sum.PassFailed || sum.StoppedReason != StopCircuitBreaker || sum.Refreshed != 0 || sum.ReauthorizationRequired != 0 {
				t.Errorf("summary = %+v, want failed pass stopped by the circuit breaker", sum)
			}
			calls := len(rec.snapshot())
			if tc.wantCalls > 0 && calls != tc.wantCalls {
				t.Errorf("LiveChat calls = %d, want %d", calls, tc.wantCalls)
			}
			// The threshold, the probes, and what was already in the pipeline when the breaker suspected
			// (listed C, leasing S, leased 2C, calling C, answered 2C, and one in the lister's hand) and
			// when it opened (calling C, answered 2C).
			if max := DefaultMisconfigThreshold + DefaultMisconfigProbes + 9*tc.concurrency + tc.concurrency + 1; calls > max {
				t.Errorf("LiveChat calls = %d, want at most %d (threshold + probes + pipeline)", calls, max)
			}
			if sum.Failed[string(livechat.ClassMisconfiguration)] != calls {
				t.Errorf("failed misconfiguration = %d, want %d", sum.Failed[string(livechat.ClassMisconfiguration)], calls)
			}
			if tc.due > DefaultMisconfigThreshold+DefaultMisconfigProbes+10*tc.concurrency+1 && sum.Left == 0 && sum.ListedAll {
				t.Errorf("summary = %+v, want installations left for the next pass", sum)
			}
			for _, old := range insts {
				got := e.get(old.ID)
				if got.Status != store.StatusActive || got.Version != old.Version || got.AccessToken != old.AccessToken ||
					got.RefreshToken != old.RefreshToken || got.LeaseOwner != "" {
					t.Errorf("%s: installation changed: status %s version %d->%d lease %q", old.ID, got.Status, old.Version, got.Version, got.LeaseOwner)
				}
			}
			if m := e.passMetrics(); m[MetricPassFailed] != 1 || m[MetricFailedMisconfiguration] != float64(calls) {
				t.Errorf("metrics PassFailed=%v FailedMisconfiguration=%v, want 1 and %d", m[MetricPassFailed], m[MetricFailedMisconfiguration], calls)
			}

			// With the right secret the next pass refreshes everything: nothing was lost.
			r = e.refresher(nil, nil)
			sum, err = r.RunPass(context.Background())
			if err != nil || sum.Refreshed != tc.due {
				t.Errorf("pass with the right secret: %+v, %v; want %d refreshed", sum, err, tc.due)
			}
			e.checkNoSecretsLogged()
		})
	}
}

func TestRunPass_RateLimitStormBacksOffGloballyAndLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(24)
	// One 429 with Retry-After: 1s, then a storm of plain 429s.
	e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 1})
	e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusTooManyRequests, Times: 10})
	rec := &recordingClient{inner: e.lc}
	o := e.fastOptions()
	o.Concurrency = 4
	o.MaxAttempts = 8
	o.MaxGlobalBackoff = 2 * time.Second
	r := e.refresher(rec, &o)

	start := time.Now()
	sum, err := r.RunPass(context.Background())
	if err != nil {
		t.Fatalf("RunPass: %v", err)
	}
	if sum.Refreshed+sum.FailedTotal() != 24 || sum.ReauthorizationRequired != 0 || sum.RateLimited != 11 || sum.Retries == 0 {
		t.Errorf("summary = %+v, want 24 refreshed or failed, 11 rate limited, retries, nothing marked", sum)
	}
	if sum.Failed[string(livechat.ClassRateLimited)] != sum.FailedTotal() {
		t.Errorf("failed = %v, want only rate_limited failures; logs:\n%s", sum.Failed, e.logs.String())
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("pass took %v, want at least the 1s Retry-After", d)
	}
	// Global backoff: once the 429 with Retry-After came back, no worker started a new
	// call until Retry-After had passed (calls already in flight may still have started earlier).
	calls := rec.snapshot()
	var first429 time.Time
	for _, c := range calls {
		if c.retryAfter > 0 {
			first429 = c.end
		}
	}
	if first429.IsZero() {
		t.Fatal("no call saw the 429 with Retry-After")
	}
	for _, c := range calls {
		if c.start.After(first429.Add(50*time.Millisecond)) && c.start.Before(first429.Add(500*time.Millisecond)) {
			t.Errorf("a call started %v after the first 429, inside its Retry-After", c.start.Sub(first429))
		}
	}
	// Nothing lost or marked: whatever failed is refreshed by the next pass, and no installation was
	// refreshed twice.
	if sum.FailedTotal() > 0 {
		sum2, err := r.RunPass(context.Background())
		if err != nil || sum2.Refreshed != sum.FailedTotal() {
			t.Errorf("next pass: %+v, %v; want %d refreshed", sum2, err, sum.FailedTotal())
		}
	}
	for _, old := range insts {
		got := e.get(old.ID)
		if got.Status != store.StatusActive || e.sim.RefreshesOf(old.AccountID) != 1 || !e.sim.TokenValid(got.AccessToken) {
			t.Errorf("%s: status %s, refreshes %d; want active, refreshed once", old.ID, got.Status, e.sim.RefreshesOf(old.AccountID))
		}
	}
}

func TestRunPass_ServerErrorsAreRetriedAndNeverMark(t *testing.T) {
	t.Parallel()
	t.Run("a burst is retried within the pass", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		insts := e.installDue(10)
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusInternalServerError, Times: 6})
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusServiceUnavailable, Times: 3})
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Reset: true, Times: 2})
		o := e.fastOptions()
		o.MaxAttempts = 6
		sum, err := e.refresher(nil, &o).RunPass(context.Background())
		if err != nil || sum.Refreshed != 10 || sum.Retries != 11 || sum.FailedTotal() != 0 {
			t.Errorf("RunPass = %+v, %v; want all 10 refreshed after 11 retries", sum, err)
		}
		for _, old := range insts {
			if n := e.sim.RefreshesOf(old.AccountID); n != 1 {
				t.Errorf("%s: refreshes = %d, want 1", old.ID, n)
			}
		}
	})
	t.Run("an outage fails installations, not the pass, and the next pass recovers", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		insts := e.installDue(5)
		e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusInternalServerError})
		o := e.fastOptions()
		o.MaxAttempts = 3
		r := e.refresher(nil, &o)
		sum, err := r.RunPass(context.Background())
		if err != nil || sum.PassFailed || sum.Failed[string(livechat.ClassTransient)] != 5 || sum.Retries != 10 {
			t.Errorf("RunPass = %+v, %v; want 5 transient failures after 2 retries each, pass not failed", sum, err)
		}
		for _, old := range insts {
			got := e.get(old.ID)
			if got.Status != store.StatusActive || got.AccessToken != old.AccessToken || got.LeaseOwner != "" ||
				got.LastRefreshError == nil || got.LastRefreshError.Class != string(livechat.ClassTransient) {
				t.Errorf("%s: status %s lease %q last error %+v; want active, unchanged, transient error recorded", old.ID, got.Status, got.LeaseOwner, got.LastRefreshError)
			}
		}
		if m := e.passMetrics(); m[MetricPassFailed] != 0 || m[MetricFailedTransient] != 5 {
			t.Errorf("metrics = %v, want PassFailed 0, FailedTransient 5", m)
		}
		e.sim.ClearFaults()
		sum, err = r.RunPass(context.Background())
		if err != nil || sum.Refreshed != 5 {
			t.Errorf("next pass = %+v, %v; want 5 refreshed", sum, err)
		}
		for _, old := range insts {
			if got := e.get(old.ID); got.LastRefreshError != nil {
				t.Errorf("%s: last refresh error %+v not cleared by a successful refresh", old.ID, got.LastRefreshError)
			}
		}
	})
}

func TestRunPass_ShortDeadlineLeavesTheRestForTheNextPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(40)
	o := e.slowCallOptions(150*time.Millisecond, 2)
	o.SafetyMargin = time.Second
	o.StoreTimeout = time.Second // a save budget of 3 x 1s + 250ms: nothing starts in the last 3.75s
	r := e.refresher(nil, &o)

	// 2.25s of work at 2 x (150ms + store) per refresh: about half of the 40 (less on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	start := time.Now()
	sum, err := r.RunPass(ctx)
	if err != nil {
		t.Fatalf("RunPass: %v (running out of time is not a failure)", err)
	}
	if d := time.Since(start); d > 6100*time.Millisecond {
		t.Errorf("pass took %v, past its deadline", d)
	}
	if sum.StoppedReason != StopDeadline || sum.Refreshed == 0 || sum.Refreshed >= 40 || sum.FailedTotal() != 0 || sum.PassFailed {
		t.Errorf("summary = %+v, want a partial pass stopped by the deadline, no failures", sum)
	}
	if sum.Left == 0 && sum.ListedAll {
		t.Errorf("summary = %+v, want installations reported as left", sum)
	}
	if sum.Refreshed+sum.Left > sum.Due {
		t.Errorf("refreshed %d + left %d > due %d", sum.Refreshed, sum.Left, sum.Due)
	}
	if m := e.passMetrics(); m[MetricLeftForNextPass] != float64(sum.Left) || m[MetricPassFailed] != 0 {
		t.Errorf("metrics = %v, want LeftForNextPass %d, PassFailed 0", m, sum.Left)
	}
	for _, inst := range insts {
		if got := e.get(inst.ID); got.LeaseOwner != "" {
			t.Errorf("%s: lease still held after the pass", inst.ID)
		}
	}

	sum2, err := r.RunPass(context.Background())
	if err != nil || sum2.Refreshed != 40-sum.Refreshed || sum2.StoppedReason != "" {
		t.Errorf("next pass = %+v, %v; want the remaining %d refreshed", sum2, err, 40-sum.Refreshed)
	}
	for _, inst := range insts {
		if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
			t.Errorf("%s: refreshes = %d, want 1", inst.ID, n)
		}
	}
}

func TestRunPass_RotatingRefreshTokensKeepWorking(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.SetRotateRefreshTokens(true)
	insts := e.installDue(8)
	r := e.refresher(nil, nil)
	for round := 1; round <= 3; round++ {
		sum, err := r.RunPass(context.Background())
		if err != nil || sum.Refreshed != 8 || sum.ReauthorizationRequired != 0 {
			t.Fatalf("round %d: %+v, %v; want 8 refreshed", round, sum, err)
		}
		for _, inst := range insts {
			got := e.get(inst.ID)
			e.noteTokens(got)
			if got.RefreshToken == inst.RefreshToken {
				t.Errorf("round %d: %s: rotated refresh token not stored", round, inst.ID)
			}
			if n := e.sim.RefreshesOf(inst.AccountID); n != round {
				t.Errorf("round %d: %s: refreshes = %d", round, inst.ID, n)
			}
		}
		e.sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
	}
	e.checkNoSecretsLogged()
}

func TestRunPass_PassAndConcurrentOnDemandRefreshesRefreshEachInstallationOnce(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		name := "fixed refresh tokens"
		if rotate {
			name = "rotating refresh tokens"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.sim.SetRotateRefreshTokens(rotate)
			insts := e.installDue(12)
			e.sim.SetLatency(livechatsim.EndpointTokenRefresh, 30*time.Millisecond)
			r := e.refresher(nil, nil)
			// Another process (/chats): its own lease owners. It waits long for the other holder so that
			// a loaded test machine (slow dynalite) cannot turn a wait into an error.
			co := e.fastOptions()
			co.WaitForOther = 30 * time.Second
			chats := e.refresher(nil, &co)

			const callers = 6
			type outcome struct {
				id  string
				got *store.Installation
				err error
			}
			results := make(chan outcome, len(insts)*callers)
			passDone := make(chan Summary, 1)
			start := make(chan struct{})
			go func() {
				<-start
				sum, err := r.RunPass(context.Background())
				if err != nil {
					t.Errorf("RunPass: %v", err)
				}
				passDone <- sum
			}()
			for _, inst := range insts {
				for range callers {
					go func() {
						<-start
						// Spread the callers over the pass's listing and refreshing.
						time.Sleep(time.Duration(rand.N(150)) * time.Millisecond)
						// What /chats does: read the installation, see the token is about to expire,
						// refresh.
						cur, err := e.st.Get(context.Background(), inst.ID)
						if err == nil && cur.ExpiresAt.Before(e.sim.Now().Add(time.Hour)) {
							cur, err = chats.RefreshInstallation(context.Background(), cur)
						}
						results <- outcome{inst.ID, cur, err}
					}()
				}
			}
			close(start)
			sum := <-passDone
			t.Logf("pass: due %d, refreshed %d, skipped (lost to /chats callers) %d", sum.Due, sum.Refreshed, sum.Skipped)
			tokens := map[string]map[string]bool{}
			for range len(insts) * callers {
				o := <-results
				if o.err != nil {
					t.Errorf("%s: RefreshInstallation: %v", o.id, o.err)
					continue
				}
				if tokens[o.id] == nil {
					tokens[o.id] = map[string]bool{}
				}
				tokens[o.id][o.got.AccessToken] = true
			}
			// The pass lists what is still due when it reads the index; /chats callers may have refreshed
			// some before that.
			if sum.Due > len(insts) || sum.Refreshed+sum.Skipped != sum.Due || sum.FailedTotal() != 0 {
				t.Errorf("pass summary = %+v, want refreshed + skipped = due <= %d", sum, len(insts))
			}
			for _, inst := range insts {
				got := e.get(inst.ID)
				e.noteTokens(got)
				if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
					t.Errorf("%s: LiveChat refreshes = %d, want exactly 1", inst.ID, n)
				}
				if got.Version != inst.Version+1 || !e.sim.TokenValid(got.AccessToken) || got.LeaseOwner != "" {
					t.Errorf("%s: version %d (want %d), token valid %v, lease %q", inst.ID, got.Version, inst.Version+1, e.sim.TokenValid(got.AccessToken), got.LeaseOwner)
				}
				// Every caller ended up with the newest token: the stored one.
				for tok := range tokens[inst.ID] {
					if tok != got.AccessToken {
						t.Errorf("%s: a caller got a token other than the stored newest one", inst.ID)
					}
				}
			}
			// The stored refresh token is the one LiveChat accepts now: one more refresh works.
			e.sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
			if sum, err := r.RunPass(context.Background()); err != nil || sum.Refreshed != len(insts) {
				t.Errorf("follow-up pass = %+v, %v; want %d refreshed", sum, err, len(insts))
			}
			e.checkNoSecretsLogged()
		})
	}
}

// failingStore wraps the real store and fails chosen calls, to show how the pass treats an unavailable
// store.
type failingStore struct {
	Store
	failList    bool
	failAcquire bool
}

var errStoreDown = errors.New("operation error DynamoDB: connection refused")

func (f *failingStore) ListDue(ctx context.Context, before time.Time, shard int, tok string, limit int) (store.DuePage, error) {
	if f.failList {
		return store.DuePage{}, errStoreDown
	}
	return f.Store.ListDue(ctx, before, shard, tok, limit)
}

func (f *failingStore) AcquireLease(ctx context.Context, id string, version int64, owner string, ttl time.Duration) (*store.Installation, *store.Lease, error) {
	if f.failAcquire {
		return nil, nil, errStoreDown
	}
	return f.Store.AcquireLease(ctx, id, version, owner, ttl)
}

func TestRunPass_UnavailableStoreFailsThePass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fs   failingStore
	}{
		{"listing fails", failingStore{failList: true}},
		{"every lease fails", failingStore{failAcquire: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.installDue(12)
			fs := tc.fs
			fs.Store = e.st
			o := e.fastOptions()
			o.Concurrency = 1
			r := New(&fs, e.lc, o)
			sum, err := r.RunPass(context.Background())
			if !errors.Is(err, ErrStoreUnavailable) || !sum.PassFailed || sum.StoppedReason != StopStoreUnavailable {
				t.Fatalf("RunPass = %+v, %v; want ErrStoreUnavailable", sum, err)
			}
			if e.sim.Calls(livechatsim.EndpointTokenRefresh) != 0 {
				t.Errorf("LiveChat was called although no lease could be taken")
			}
			if m := e.passMetrics(); m[MetricPassFailed] != 1 {
				t.Errorf("PassFailed = %v, want 1", m[MetricPassFailed])
			}
		})
	}
}

func TestRunPass_ClientRateLimitSpacesCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.installDue(6)
	rec := &recordingClient{inner: e.lc}
	o := e.fastOptions()
	o.Rate = 10 // one call per 100ms
	r := e.refresher(rec, &o)
	sum, err := r.RunPass(context.Background())
	if err != nil || sum.Refreshed != 6 {
		t.Fatalf("RunPass = %+v, %v", sum, err)
	}
	calls := rec.snapshot()
	first, last := calls[0].start, calls[0].start
	for _, c := range calls {
		if c.start.Before(first) {
			first = c.start
		}
		if c.start.After(last) {
			last = c.start
		}
	}
	if span := last.Sub(first); span < 450*time.Millisecond {
		t.Errorf("6 calls at 10/s spanned %v, want at least 500ms", span)
	}
}

func TestRunShards_RefreshesOnlyTheGivenShards(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(24)
	r := e.refresher(nil, nil)
	half := AllShards()[:8]
	inHalf := func(id string) bool { return store.DueShard(id) < 8 }
	want := 0
	for _, inst := range insts {
		if inHalf(inst.ID) {
			want++
		}
	}
	sum, err := r.RunShards(context.Background(), half)
	if err != nil || sum.Due != want || sum.Refreshed != want {
		t.Fatalf("RunShards(0..7) = %+v, %v; want %d due and refreshed", sum, err, want)
	}
	for _, inst := range insts {
		if got, want := e.sim.RefreshesOf(inst.AccountID), map[bool]int{true: 1}[inHalf(inst.ID)]; got != want {
			t.Errorf("%s (shard %d): refreshes = %d, want %d", inst.ID, store.DueShard(inst.ID), got, want)
		}
	}
	sum, err = r.RunShards(context.Background(), AllShards()[8:])
	if err != nil || sum.Refreshed != len(insts)-want {
		t.Errorf("RunShards(8..15) = %+v, %v; want %d refreshed", sum, err, len(insts)-want)
	}
	for _, bad := range [][]int{{-1}, {store.DueShards}} {
		if _, err := r.RunShards(context.Background(), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RunShards(%v) error = %v, want store.ErrInvalid", bad, err)
		}
	}
}

func TestRunPass_CancelledPassStopsCleanlyWithoutFailing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(30)
	o := e.slowCallOptions(100*time.Millisecond, 4)
	r := e.refresher(nil, &o)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(400*time.Millisecond, cancel) // Ctrl-C during `lcauth refresh`
	sum, err := r.RunPass(ctx)
	if err != nil || sum.PassFailed || sum.StoppedReason != StopCanceled || sum.Failed[classStore] != 0 {
		t.Fatalf("RunPass = %+v, %v; want a pass stopped as canceled, not failed, no store failures", sum, err)
	}
	for _, inst := range insts {
		if got := e.get(inst.ID); got.LeaseOwner != "" {
			t.Errorf("%s: lease still held after a cancelled pass", inst.ID)
		}
	}
	sum2, err := r.RunPass(context.Background())
	if err != nil || sum2.Refreshed != 30-sum.Refreshed {
		t.Errorf("next pass = %+v, %v; want the other %d refreshed", sum2, err, 30-sum.Refreshed)
	}
	for _, inst := range insts {
		if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
			t.Errorf("%s: refreshes = %d, want 1", inst.ID, n)
		}
	}
}
