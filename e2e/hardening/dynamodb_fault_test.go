package hardening_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/syncbuf"
)

// passRefresherWith is passRefresher with another token client.
func (s *stack) passRefresherWith(lc refresh.TokenClient, metrics *syncbuf.Buffer) *refresh.Refresher {
	o := s.passRefresher(metrics).Options()
	o.Logger = slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return refresh.New(s.Store, lc, o)
}

// TestFault_DynamoDBThrottlingOnChats: one throttled read is absorbed by the SDK's retry; a table that
// stays throttled gives a JSON 5xx with the store named in the log line and no API key in it.
func TestFault_DynamoDBThrottlingOnChats(t *testing.T) {
	s := newStack(t, harness.Options{})
	inst, key, _ := s.InstallDirect(livechatsim.Account{Chats: 3})

	s.DB.Add(harness.Rule{Op: "GetItem", Kind: harness.Throttle, Times: 1})
	if r := s.Chats(key, "limit=3"); r.Status != http.StatusOK {
		t.Fatalf("one throttled read: %d %s", r.Status, r.Body)
	}
	if s.DB.Injected(harness.Throttle) != 1 {
		t.Fatal("the fault was not injected")
	}

	s.DB.Add(harness.Rule{Op: "GetItem", Kind: harness.Throttle})
	r := s.Chats(key, "limit=3")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled table: status %d (Retry-After %q), want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	r.JSONError(t, http.StatusServiceUnavailable, "service_unavailable")
	if l := s.LastRequestLog("chats"); l["error_class"] != "store" || l["error"] == nil {
		t.Fatalf("request log %v, want error_class store and the error", l)
	}
	s.DB.Clear()
	s.unchanged(inst)
	if r := s.Chats(key, "limit=3"); r.Status != http.StatusOK {
		t.Fatalf("after throttling ended: %d", r.Status)
	}
	s.NoSecretsLogged(key, inst.AccessToken, inst.RefreshToken)
}

// TestFault_DynamoDBThrottlingOnCallback: when the installation cannot be written, the callback
// answers a 5xx, stores nothing, and never logs the code; the person can start again.
func TestFault_DynamoDBThrottlingOnCallback(t *testing.T) {
	s := newStack(t, harness.Options{})
	b, cb := s.Consented(s.Account.AccountID)
	u, _ := url.Parse(cb)
	code := u.Query().Get("code")
	s.DB.Add(harness.Rule{Op: "UpdateItem", Kind: harness.Throttle})
	r := b.Get(cb)
	if r.Status < 500 {
		t.Fatalf("status %d", r.Status)
	}
	r.AnyJSONError(t)
	s.DB.Clear()
	if _, err := s.Store.Get(context.Background(), store.InstallationID(s.Account.OrganizationID, s.Account.AccountID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an installation exists after a failed write: %v", err)
	}
	s.NoSecretsLogged(code)
	res := s.Install(s.Account.AccountID)
	if s.Chats(res.APIKey, "limit=1").Status != http.StatusOK {
		t.Fatal("starting again did not work")
	}
}

// TestFault_DynamoDBThrottledDuringPass: a pass whose due-index query stays throttled stops as
// store_unavailable (failed pass, PassFailed metric) without touching anything; a throttled write that
// the SDK retries does not stop the next pass.
func TestFault_DynamoDBThrottledDuringPass(t *testing.T) {
	s := newStack(t, harness.Options{})
	var insts []*store.Installation
	for range 3 {
		inst, _, _ := s.InstallDirect(livechatsim.Account{Chats: 3})
		insts = append(insts, inst)
	}
	s.Sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)

	s.DB.Add(harness.Rule{Op: "Query", Kind: harness.Throttle})
	if err := s.failingPass(t, refresh.StopStoreUnavailable, insts); !errors.Is(err, refresh.ErrStoreUnavailable) {
		t.Fatalf("pass error %v, want store_unavailable", err)
	}
	s.DB.Clear()

	s.DB.Add(harness.Rule{Op: "UpdateItem", Kind: harness.Throttle, Times: 2})
	sum, err := s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
	if err != nil || sum.Refreshed != 3 {
		t.Fatalf("pass with two throttled writes: %+v %v", sum, err)
	}
	for _, inst := range insts {
		if now := s.Get(inst.ID); now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken) {
			t.Fatalf("installation not refreshed: version %d", now.Version)
		}
	}
}

// TestFault_DynamoDBGoesAwayMidPass: the table's endpoint disappears in the middle of a pass. The pass
// stops or records store failures; no installation is marked, none loses its tokens; after the endpoint
// is back (and the dead leases expired) the next pass refreshes the rest, and every stored token is the
// newest one LiveChat issued (at most one refresh per installation was lost on the way).
func TestFault_DynamoDBGoesAwayMidPass(t *testing.T) {
	s := newStack(t, harness.Options{})
	const n = 12
	var insts []*store.Installation
	var accs []livechatsim.Account
	for range n {
		inst, _, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
		insts, accs = append(insts, inst), append(accs, acc)
	}
	s.Sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)

	// 16 shard queries, then a few leases and saves, then nothing answers.
	s.DB.Add(harness.Rule{Kind: harness.Down, After: store.DueShards + 9})
	metrics := &syncbuf.Buffer{}
	sum, err := s.passRefresher(metrics).RunPass(context.Background())
	if sum.Refreshed >= n {
		t.Fatalf("the outage did not bite: %+v", sum)
	}
	if err == nil && sum.Failed["store"] == 0 && sum.Left == 0 {
		t.Fatalf("summary %+v err %v: the outage is not reported", sum, err)
	}
	if sum.ReauthorizationRequired != 0 {
		t.Fatalf("summary %+v: installations marked during a store outage", sum)
	}
	t.Logf("pass during the outage: %+v, err %v", sum, err)
	s.DB.Clear()
	for _, inst := range insts {
		if now := s.Get(inst.ID); now.Status != store.StatusActive || now.AccessToken == "" || now.RefreshToken == "" {
			t.Fatalf("installation %s damaged by the outage: %s", inst.ID, now.Status)
		}
	}

	// Leases taken before the outage expire after LeaseTTL (10s in passRefresher, on the shared clock).
	s.Sim.Advance(11 * time.Second)
	sum2, err := s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
	if err != nil || sum2.FailedTotal() != 0 {
		t.Fatalf("pass after the outage: %+v %v", sum2, err)
	}
	for i, inst := range insts {
		now := s.Get(inst.ID)
		refreshes := s.Sim.RefreshesOf(accs[i].AccountID)
		switch {
		case now.Status != store.StatusActive:
			t.Fatalf("installation %d is %s", i, now.Status)
		case now.Version != inst.Version+1:
			t.Fatalf("installation %d: version %d, want exactly one saved refresh (%d)", i, now.Version, inst.Version+1)
		case !s.Sim.TokenValid(now.AccessToken):
			t.Fatalf("installation %d: the stored access token is not valid at LiveChat", i)
		case refreshes < 1 || refreshes > 2:
			t.Fatalf("installation %d: %d refreshes at LiveChat, want 1 (or 2 if one was lost to the outage)", i, refreshes)
		}
	}
}

// savedFailsClient is a TokenClient whose successful refreshes are followed by a DynamoDB outage for
// writes: LiveChat minted a token, and it cannot be saved.
type savedFailsClient struct {
	inner refresh.TokenClient
	db    *harness.DynamoFaults
	once  sync.Once
}

func (c *savedFailsClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	tok, err := c.inner.Refresh(ctx, refreshToken)
	if err == nil {
		c.once.Do(func() { c.db.Add(harness.Rule{Op: "UpdateItem", Kind: harness.ServerError}) })
	}
	return tok, err
}

// TestFault_RefreshSucceedsButSaveFails: LiveChat refreshed, DynamoDB refused the write. The pass
// reports a store failure (log line and FailedStore metric); the stored tokens are the old ones and
// still work; the next pass, after the lease expired, refreshes again and saves. The same through
// /chats: a JSON 5xx, then 503 refresh_in_progress while the dead lease lasts, then 200.
func TestFault_RefreshSucceedsButSaveFails(t *testing.T) {
	s := newStack(t, harness.Options{})

	t.Run("scheduled pass", func(t *testing.T) {
		inst, key, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
		s.Sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
		metrics := &syncbuf.Buffer{}
		sum, _ := s.passRefresherWith(&savedFailsClient{inner: s.App.LiveChat(), db: s.DB}, metrics).RunPass(context.Background())
		s.DB.Clear()
		if sum.Failed["store"] != 1 || sum.Refreshed != 0 {
			t.Fatalf("summary %+v, want one store failure", sum)
		}
		if metricValue(metrics.String(), "FailedStore") != 1 {
			t.Fatalf("FailedStore metric not 1:\n%s", metrics.String())
		}
		if !s.HasLog("refresh: token refreshed at LiveChat but not saved", map[string]any{"installation_id": inst.ID}) {
			t.Fatal(`no "token refreshed at LiveChat but not saved" log line`)
		}
		s.unchanged(inst)
		if r := s.Chats(key, "limit=1"); r.Status != http.StatusOK {
			t.Fatalf("the old token stopped working: %d", r.Status)
		}
		s.Sim.Advance(11 * time.Second)
		sum, err := s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
		if err != nil || sum.Refreshed != 1 {
			t.Fatalf("recovery pass: %+v %v", sum, err)
		}
		now := s.Get(inst.ID)
		if now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken) || s.Sim.RefreshesOf(acc.AccountID) != 2 {
			t.Fatalf("after recovery: version %d, %d refreshes", now.Version, s.Sim.RefreshesOf(acc.AccountID))
		}
	})

	t.Run("on demand in /chats", func(t *testing.T) {
		inst, key, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
		s.Sim.Advance(livechatsim.DefaultTokenLifetime + time.Minute)
		// The key's first use is recorded (last_used_at), the lease taken, LiveChat answers, the save
		// fails.
		s.DB.Add(harness.Rule{Op: "UpdateItem", Kind: harness.ServerError, After: 2})
		r := s.Chats(key, "limit=1")
		s.DB.Clear()
		if r.Status < 500 {
			t.Fatalf("status %d", r.Status)
		}
		r.AnyJSONError(t)
		s.unchanged(inst)
		if s.Sim.RefreshesOf(acc.AccountID) != 1 {
			t.Fatal("LiveChat was not called")
		}
		// The dead lease blocks a second refresh until it expires: a clear, retryable answer.
		r = s.Chats(key, "limit=1")
		r.JSONError(t, http.StatusServiceUnavailable, "upstream_error")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		s.Sim.Advance(refresh.DefaultLeaseTTL + time.Second)
		if r := s.Chats(key, "limit=1"); r.Status != http.StatusOK {
			t.Fatalf("after the lease expired: %d %s", r.Status, r.Body)
		}
		now := s.Get(inst.ID)
		if now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken) || s.Sim.RefreshesOf(acc.AccountID) != 2 {
			t.Fatalf("after recovery: version %d, %d refreshes", now.Version, s.Sim.RefreshesOf(acc.AccountID))
		}
	})
}

// TestFault_ReinstallDuringRefreshWins: a reinstall lands while /chats is refreshing the old grant. The
// refresh's version-checked save fails, its token is discarded (logged), the reinstall's tokens stay,
// and the request is still answered with the newer token.
func TestFault_ReinstallDuringRefreshWins(t *testing.T) {
	s := newStack(t, harness.Options{})
	res := s.Install(s.Account.AccountID)
	s.Sim.Advance(livechatsim.DefaultTokenLifetime + time.Minute)
	s.Sim.SetLatency(livechatsim.EndpointTokenRefresh, 700*time.Millisecond)

	done := make(chan harness.Response, 1)
	go func() { done <- s.Chats(res.APIKey, "limit=1") }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Sim.Calls(livechatsim.EndpointTokenRefresh) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res2 := s.Install(s.Account.AccountID)
	reinstalled := s.Get(res2.InstallationID)
	r := <-done
	s.Sim.SetLatency(livechatsim.EndpointTokenRefresh, 0)
	if r.Status != http.StatusOK {
		t.Fatalf("/chats during the reinstall: %d %s", r.Status, r.Body)
	}
	now := s.Get(res2.InstallationID)
	if now.AccessToken != reinstalled.AccessToken || now.Version != reinstalled.Version {
		t.Fatal("an older in-flight refresh overwrote the reinstall")
	}
	if !s.HasLog("refresh: refreshed token discarded, installation changed meanwhile", map[string]any{"installation_id": res2.InstallationID}) {
		t.Fatal("the discarded refresh was not logged")
	}
	if s.Sim.RefreshesOf(s.Account.AccountID) != 1 {
		t.Fatalf("%d refreshes, want 1", s.Sim.RefreshesOf(s.Account.AccountID))
	}
}

// TestFault_DynamoDBFailsAtEachRefreshStep: DynamoDB fails the write of each step of the lease protocol
// in turn (take the lease; save the token; release after a LiveChat failure; mark after invalid_grant).
// The pass reports the failure in its summary and metrics, the installation keeps its tokens and is
// not marked by the store's fault, and the next pass (after the dead lease lapsed) finishes the job.
func TestFault_DynamoDBFailsAtEachRefreshStep(t *testing.T) {
	tests := []struct {
		name string
		// after: UpdateItem calls that succeed before the failure (0 = the lease itself fails).
		after   int
		prepare func(s *stack, acc livechatsim.Account)
		// failedClass is the pass's failure class; refreshes the LiveChat refreshes in the first pass.
		failedClass string
		refreshes   int
		// finalStatus after the recovery pass.
		finalStatus store.Status
	}{
		{"acquire lease", 0, nil, "store", 0, store.StatusActive},
		{"complete refresh", 1, nil, "store", 1, store.StatusActive},
		{"release lease after a LiveChat 500", 1, func(s *stack, _ livechatsim.Account) {
			s.Sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 500})
		}, "transient", 0, store.StatusActive},
		{"mark reauthorization after invalid_grant", 1, func(s *stack, acc livechatsim.Account) {
			s.Sim.RevokeGrant(acc.AccountID)
		}, "store", 0, store.StatusReauthorizationRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, inst, acc := newDueStack(t, tt.prepare)
			s.DB.Add(harness.Rule{Op: "UpdateItem", Kind: harness.ServerError, After: tt.after})
			metrics := &syncbuf.Buffer{}
			sum, _ := s.passRefresher(metrics).RunPass(context.Background())
			s.DB.Clear()
			s.Sim.ClearFaults()
			if sum.Failed[tt.failedClass] != 1 || sum.Refreshed != 0 || sum.ReauthorizationRequired != 0 {
				t.Fatalf("summary %+v, want one %s failure", sum, tt.failedClass)
			}
			metric := map[string]string{"store": "FailedStore", "transient": "FailedTransient"}[tt.failedClass]
			if metricValue(metrics.String(), metric) != 1 {
				t.Fatalf("metric %s not 1:\n%s", metric, metrics.String())
			}
			if got := s.Sim.RefreshesOf(acc.AccountID); got != tt.refreshes {
				t.Fatalf("%d refreshes at LiveChat, want %d", got, tt.refreshes)
			}
			s.unchanged(inst)

			s.Sim.Advance(11 * time.Second) // the dead lease lapses
			sum, err := s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
			if err != nil || sum.FailedTotal() != 0 {
				t.Fatalf("recovery pass: %+v %v", sum, err)
			}
			now := s.Get(inst.ID)
			if now.Status != tt.finalStatus || now.RefreshToken == "" || now.AccessToken == "" {
				t.Fatalf("after recovery: status %s", now.Status)
			}
			if tt.finalStatus == store.StatusActive && (now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken)) {
				t.Fatalf("after recovery: version %d, token valid %v", now.Version, s.Sim.TokenValid(now.AccessToken))
			}
			if tt.finalStatus == store.StatusReauthorizationRequired && (now.AccessToken != inst.AccessToken || now.RefreshToken != inst.RefreshToken) {
				t.Fatal("marking dropped the tokens")
			}
		})
	}
}

// intrudingClient is a TokenClient that, once LiveChat has answered, lets another holder take the
// installation's lease (after moving the clock past the lease's lifetime), so the write that follows
// fails DynamoDB's condition for real.
type intrudingClient struct {
	inner refresh.TokenClient
	s     *stack
	id    string
	once  sync.Once
}

func (c *intrudingClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	tok, err := c.inner.Refresh(ctx, refreshToken)
	c.once.Do(func() { c.s.intrude(c.id) })
	return tok, err
}

// intrude moves the clock past passRefresher's lease lifetime and takes the lease as another holder.
func (s *stack) intrude(id string) {
	s.T.Helper()
	s.Sim.Advance(11 * time.Second)
	cur := s.Get(id)
	if _, _, err := s.Store.AcquireLease(context.Background(), id, cur.Version, "intruder", 10*time.Second); err != nil {
		s.T.Errorf("intruder lease: %v", err)
	}
}

// TestFault_ConditionalFailureAtEachRefreshStep: another holder takes the lease at each step of the
// protocol (before ours; after LiveChat answered, so the save, the release or the mark fails its
// condition in DynamoDB). Nothing is overwritten, the minted token is discarded with a log line,
// nothing is marked by the loser, and the next pass finishes the job.
func TestFault_ConditionalFailureAtEachRefreshStep(t *testing.T) {
	tests := []struct {
		name        string
		before      bool // intrude before the pass instead of after LiveChat answered
		prepare     func(s *stack, acc livechatsim.Account)
		skipped     int
		failedClass string
		log         string
		finalStatus store.Status
	}{
		{"lease held when the pass starts", true, nil, 1, "", "", store.StatusActive},
		{"lease lost before the save", false, nil, 1, "", "refresh: refreshed token discarded, installation changed meanwhile", store.StatusActive},
		{"lease lost before the release", false, func(s *stack, _ livechatsim.Account) {
			s.Sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: 400, Body: `{"error":"invalid_request"}`})
		}, 0, "invalid_request", "refresh: refresh failed", store.StatusActive},
		{"lease lost before the mark", false, func(s *stack, acc livechatsim.Account) {
			s.Sim.RevokeGrant(acc.AccountID)
		}, 0, "store", "", store.StatusReauthorizationRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, inst, _ := newDueStack(t, tt.prepare)
			var lc refresh.TokenClient = &intrudingClient{inner: s.App.LiveChat(), s: s, id: inst.ID}
			if tt.before {
				s.intrude(inst.ID)
				lc = s.App.LiveChat()
			}
			sum, err := s.passRefresherWith(lc, &syncbuf.Buffer{}).RunPass(context.Background())
			s.Sim.ClearFaults()
			if err != nil || sum.Refreshed != 0 || sum.Skipped != tt.skipped || sum.ReauthorizationRequired != 0 {
				t.Fatalf("summary %+v err %v", sum, err)
			}
			if tt.failedClass != "" && sum.Failed[tt.failedClass] != 1 {
				t.Fatalf("summary %+v, want one %s failure", sum, tt.failedClass)
			}
			if tt.log != "" && !s.HasLog(tt.log, map[string]any{"installation_id": inst.ID}) {
				t.Fatalf("no %q log line", tt.log)
			}
			now := s.Get(inst.ID)
			if now.Status != store.StatusActive || now.AccessToken != inst.AccessToken || now.RefreshToken != inst.RefreshToken || now.LeaseOwner != "intruder" {
				t.Fatalf("the loser changed the installation: status %s lease %q", now.Status, now.LeaseOwner)
			}

			s.Sim.Advance(11 * time.Second) // the intruder's lease lapses
			sum, err = s.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
			if err != nil || sum.FailedTotal() != 0 {
				t.Fatalf("recovery pass: %+v %v", sum, err)
			}
			now = s.Get(inst.ID)
			if now.Status != tt.finalStatus {
				t.Fatalf("after recovery: status %s, want %s", now.Status, tt.finalStatus)
			}
			if tt.finalStatus == store.StatusActive && (now.Version != inst.Version+1 || !s.Sim.TokenValid(now.AccessToken)) {
				t.Fatalf("after recovery: version %d (was %d)", now.Version, inst.Version)
			}
		})
	}
}
