package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"lcauth/internal/store"
)

const leaseTTL = 30 * time.Second

func (f *fixture) acquire(t *testing.T, inst *store.Installation, owner string) (*store.Installation, *store.Lease) {
	t.Helper()
	got, l, err := f.st.AcquireLease(ctx, inst.ID, inst.Version, owner, leaseTTL)
	if err != nil {
		t.Fatalf("AcquireLease(%s v%d, %s): %v", inst.ID, inst.Version, owner, err)
	}
	return got, l
}

func TestAcquireLease_TakesTheLeaseAndReturnsTokens(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	got, l := f.acquire(t, inst, "worker-1")
	if l.InstallationID != inst.ID || l.Owner != "worker-1" || l.Version != inst.Version || l.ID == "" {
		t.Errorf("lease %+v, want installation %s owner worker-1 version %d", l, inst.ID, inst.Version)
	}
	if want := f.clock.Now().Add(leaseTTL); !l.ExpiresAt.Equal(want) {
		t.Errorf("lease expires %s, want %s", l.ExpiresAt, want)
	}
	if got.RefreshToken != inst.RefreshToken || got.LeaseOwner != "worker-1" || !got.LeaseExpiresAt.Equal(l.ExpiresAt) {
		t.Errorf("leased installation %v, want its refresh token and lease", got)
	}
	if got.Version != inst.Version {
		t.Errorf("taking a lease changed the version to %d", got.Version)
	}
}

func TestAcquireLease_ConditionalFailures(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture, inst *store.Installation) (id string, version int64)
		want    error
	}{
		{"unknown installation", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			return store.InstallationID("no", "one"), 1
		}, store.ErrNotFound},
		{"deleted installation", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			if err := f.st.Delete(ctx, inst.ID); err != nil {
				t.Fatal(err)
			}
			return inst.ID, inst.Version
		}, store.ErrNotFound},
		{"stale version", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			return inst.ID, inst.Version - 1
		}, store.ErrVersionConflict},
		{"future version", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			return inst.ID, inst.Version + 1
		}, store.ErrVersionConflict},
		{"reinstalled since read", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			f.install(t, "org-1", "acct-1", time.Hour)
			return inst.ID, inst.Version
		}, store.ErrVersionConflict},
		{"live lease of another holder", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			f.acquire(t, inst, "other")
			f.clock.Advance(leaseTTL - time.Millisecond)
			return inst.ID, inst.Version
		}, store.ErrLeaseHeld},
		{"live lease of the same owner", func(t *testing.T, f *fixture, inst *store.Installation) (string, int64) {
			f.acquire(t, inst, "worker")
			return inst.ID, inst.Version
		}, store.ErrLeaseHeld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
			id, version := tt.prepare(t, f, inst)
			got, l, err := f.st.AcquireLease(ctx, id, version, "worker", leaseTTL)
			if !errors.Is(err, tt.want) || got != nil || l != nil {
				t.Fatalf("err = %v (lease %v), want %v", err, l, tt.want)
			}
		})
	}
}

func TestAcquireLease_RejectsBadArguments(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	tests := []struct {
		name  string
		owner string
		ttl   time.Duration
	}{
		{"empty owner", "", leaseTTL},
		{"huge owner", strings.Repeat("o", 300), leaseTTL},
		{"zero ttl", "w", 0},
		{"negative ttl", "w", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := f.st.AcquireLease(ctx, inst.ID, inst.Version, tt.owner, tt.ttl); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestAcquireLease_ExpiredLeaseOfACrashedHolderIsTakenOver(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, crashed := f.acquire(t, inst, "crashed")
	f.clock.Advance(leaseTTL)
	_, l := f.acquire(t, inst, "rescuer")
	if l.Owner != "rescuer" {
		t.Fatalf("owner %s", l.Owner)
	}
	// The crashed holder comes back: its writes must not land over the rescuer's lease.
	if _, err := f.st.CompleteRefresh(ctx, crashed, f.grant("org-1", "acct-1", time.Hour, "late")); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("late CompleteRefresh: err = %v, want ErrLeaseHeld", err)
	}
	if err := f.st.ReleaseLease(ctx, crashed, nil); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("late ReleaseLease: err = %v, want ErrLeaseHeld", err)
	}
	g := f.grant("org-1", "acct-1", time.Hour, "rescued")
	done, err := f.st.CompleteRefresh(ctx, l, g)
	if err != nil {
		t.Fatalf("rescuer CompleteRefresh: %v", err)
	}
	if done.Version != inst.Version+1 || f.get(t, inst.ID).AccessToken != g.AccessToken {
		t.Errorf("rescuer's tokens not stored")
	}
}

func TestCompleteRefresh_StoresNewTokensAndClearsTheLease(t *testing.T) {
	f := newFixture(t)
	inst, key := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	if err := f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "transient", Message: "timeout"}); err != nil {
		t.Fatal(err)
	}
	inst = f.get(t, inst.ID)
	_, l = f.acquire(t, inst, "w")
	f.clock.Advance(5 * time.Second)
	g := f.grant("org-1", "acct-1", 8*time.Hour, "refreshed")
	g.Scope, g.TokenType, g.Region = "", "", "" // a refresh answer that leaves them out keeps the stored ones
	done, err := f.st.CompleteRefresh(ctx, l, g)
	if err != nil {
		t.Fatal(err)
	}
	got := f.get(t, inst.ID)
	for _, x := range []*store.Installation{done, got} {
		if x.AccessToken != g.AccessToken || x.RefreshToken != g.RefreshToken || !x.ExpiresAt.Equal(g.ExpiresAt) {
			t.Errorf("tokens/expiry not replaced: %v", x)
		}
		if x.Version != inst.Version+1 || x.LeaseOwner != "" || !x.LeaseExpiresAt.IsZero() || x.LastRefreshError != nil {
			t.Errorf("version %d lease %q %s error %v; want %d, no lease, no error", x.Version, x.LeaseOwner, x.LeaseExpiresAt, x.LastRefreshError, inst.Version+1)
		}
		if !x.LastRefreshedAt.Equal(f.clock.Now()) || x.Scope != inst.Scope || x.TokenType != "Bearer" || x.Region != "dal" {
			t.Errorf("LastRefreshedAt %s scope %q type %q region %q", x.LastRefreshedAt, x.Scope, x.TokenType, x.Region)
		}
		if !x.CreatedAt.Equal(inst.CreatedAt) || x.Status != store.StatusActive {
			t.Errorf("created %s status %s changed", x.CreatedAt, x.Status)
		}
	}
	// The due index follows the new expiry.
	if ids := f.dueIDs(t, f.clock.Now().Add(time.Hour)); ids[inst.ID] {
		t.Errorf("still due an hour from now after the refresh")
	}
	if ids := f.dueIDs(t, g.ExpiresAt); !ids[inst.ID] {
		t.Errorf("not due at its new expiry")
	}
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Errorf("API key stopped working after a refresh: %v", err)
	}
}

// leaseFailureCases are the ways a lease can be stale; every lease-bound write must refuse them all.
var leaseFailureCases = []struct {
	name    string
	prepare func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease
	want    error
}{
	{"reinstalled while refreshing", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		f.install(t, "org-1", "acct-1", time.Hour)
		return l
	}, store.ErrVersionConflict},
	{"already completed", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		if _, err := f.st.CompleteRefresh(ctx, l, f.grant("org-1", "acct-1", time.Hour, "first")); err != nil {
			t.Fatal(err)
		}
		return l
	}, store.ErrVersionConflict},
	{"already released", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		if err := f.st.ReleaseLease(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
		return l
	}, store.ErrLeaseLost},
	{"lapsed and taken over", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		f.clock.Advance(leaseTTL + time.Second)
		f.acquire(t, inst, "other")
		return l
	}, store.ErrLeaseHeld},
	{"forged lease id", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		forged := *l
		forged.ID = "0123456789abcdef"
		return &forged
	}, store.ErrLeaseHeld},
	{"deleted", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		if err := f.st.Delete(ctx, inst.ID); err != nil {
			t.Fatal(err)
		}
		return l
	}, store.ErrNotFound},
	{"nil lease", func(t *testing.T, f *fixture, inst *store.Installation, l *store.Lease) *store.Lease {
		return nil
	}, store.ErrInvalid},
}

func TestLeaseWrites_RefuseStaleLeases(t *testing.T) {
	writes := []struct {
		name string
		do   func(f *fixture, l *store.Lease) error
	}{
		{"CompleteRefresh", func(f *fixture, l *store.Lease) error {
			_, err := f.st.CompleteRefresh(ctx, l, f.grant("org-1", "acct-1", time.Hour, "stale"))
			return err
		}},
		{"ReleaseLease", func(f *fixture, l *store.Lease) error {
			return f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "transient", Message: "stale"})
		}},
		{"MarkReauthorizationRequired", func(f *fixture, l *store.Lease) error {
			_, err := f.st.MarkReauthorizationRequired(ctx, l, "invalid_grant")
			return err
		}},
	}
	for _, w := range writes {
		for _, tt := range leaseFailureCases {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t)
				inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
				_, l := f.acquire(t, inst, "w")
				l = tt.prepare(t, f, inst, l)
				before, _ := f.st.Get(ctx, inst.ID)
				if err := w.do(f, l); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				after, _ := f.st.Get(ctx, inst.ID)
				if before != nil && (after.AccessToken != before.AccessToken || after.Version != before.Version || after.Status != before.Status) {
					t.Errorf("a refused write changed the item: %v -> %v", before, after)
				}
			})
		}
	}
}

func TestReleaseLease_RecordsTheErrorAndKeepsTokens(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	long := strings.Repeat("é", store.MaxErrorMessage) // 2 bytes a rune: must be cut on a rune boundary
	if err := f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "transient", Message: long}); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, inst.ID)
	if got.AccessToken != inst.AccessToken || got.Version != inst.Version || got.LeaseOwner != "" {
		t.Errorf("after release: %v; want same tokens and version, no lease", got)
	}
	e := got.LastRefreshError
	if e == nil || e.Class != "transient" || len(e.Message) > store.MaxErrorMessage || !strings.HasPrefix(long, e.Message) || !e.At.Equal(f.clock.Now()) {
		t.Fatalf("last error %+v, want transient, message cut to %d bytes, at now", e, store.MaxErrorMessage)
	}
	if !f.dueIDs(t, f.clock.Now().Add(time.Minute))[inst.ID] {
		t.Errorf("released installation left the due index")
	}
	// Released: the next refresher takes it at once, without waiting for the ttl. Releasing without
	// an error keeps the last one recorded.
	_, l = f.acquire(t, got, "next")
	if err := f.st.ReleaseLease(ctx, l, nil); err != nil {
		t.Fatal(err)
	}
	if e2 := f.get(t, inst.ID).LastRefreshError; e2 == nil || *e2 != *e {
		t.Errorf("last error after a release without one: %+v, want %+v", e2, e)
	}
}

func TestMarkReauthorizationRequired_KeepsTokensAndLeavesTheDueIndex(t *testing.T) {
	f := newFixture(t)
	inst, key := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	f.clock.Advance(time.Second)
	got, err := f.st.MarkReauthorizationRequired(ctx, l, "invalid_grant")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusReauthorizationRequired || got.StatusReason != "invalid_grant" || !got.StatusChangedAt.Equal(f.clock.Now()) {
		t.Errorf("status %s reason %q at %s", got.Status, got.StatusReason, got.StatusChangedAt)
	}
	if got.Version != inst.Version+1 || got.AccessToken != inst.AccessToken || got.RefreshToken != inst.RefreshToken || got.LeaseOwner != "" {
		t.Errorf("after mark: %v; want version+1, same tokens, no lease", got)
	}
	if f.dueIDs(t, f.clock.Now().Add(24*time.Hour))[inst.ID] {
		t.Errorf("reauthorization_required installation is still in the due index")
	}
	if a, err := f.st.Authenticate(ctx, key); err != nil || a.Status != store.StatusReauthorizationRequired {
		t.Errorf("Authenticate: %v, %v; want the installation with its status", a, err)
	}
}

func TestInstall_ReactivatesAReauthorizationRequiredInstallation(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	if _, err := f.st.MarkReauthorizationRequired(ctx, l, "invalid_grant"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	again, _ := f.install(t, "org-1", "acct-1", time.Minute)
	if again.Status != store.StatusActive || again.StatusReason != "" || !again.StatusChangedAt.Equal(f.clock.Now()) || again.Version != inst.Version+2 {
		t.Errorf("after reinstall: %v reason %q; want active, version %d", again, again.StatusReason, inst.Version+2)
	}
	if !again.CreatedAt.Equal(inst.CreatedAt) {
		t.Errorf("created_at changed from %s to %s", inst.CreatedAt, again.CreatedAt)
	}
	if !f.dueIDs(t, f.clock.Now().Add(time.Hour))[inst.ID] {
		t.Errorf("reactivated installation is not back in the due index")
	}
}

func TestCompleteRefresh_ReactivatesWhenLeasedWhileReauthorizationRequired(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	marked, err := f.st.MarkReauthorizationRequired(ctx, l, "invalid_grant")
	if err != nil {
		t.Fatal(err)
	}
	// An operator retries it by hand and LiveChat now accepts the refresh token.
	_, l = f.acquire(t, marked, "operator")
	f.clock.Advance(time.Minute)
	done, err := f.st.CompleteRefresh(ctx, l, f.grant("org-1", "acct-1", time.Hour, "back"))
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != store.StatusActive || done.StatusReason != "" || !done.StatusChangedAt.Equal(f.clock.Now()) {
		t.Errorf("status %s reason %q changed at %s; want active now", done.Status, done.StatusReason, done.StatusChangedAt)
	}
	if !f.dueIDs(t, f.clock.Now().Add(2*time.Hour))[inst.ID] {
		t.Errorf("not back in the due index")
	}
}

func TestInstall_LateCompleteRefreshCannotClobberAReinstall(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "slow-refresher")
	reinstall := f.grant("org-1", "acct-1", 8*time.Hour, "reinstall")
	if _, _, err := f.st.Install(ctx, reinstall); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CompleteRefresh(ctx, l, f.grant("org-1", "acct-1", 8*time.Hour, "old-refresh")); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("late CompleteRefresh: err = %v, want ErrVersionConflict", err)
	}
	if got := f.get(t, inst.ID); got.AccessToken != reinstall.AccessToken || got.LeaseOwner != "" {
		t.Errorf("item holds %v; want the reinstall's tokens and no lease", got)
	}
}

func TestReleaseLease_CountsDeadTokenStrikesUntilARefreshOrReinstall(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	first := f.clock.Now()
	strike := func(cur *store.Installation) *store.Installation {
		t.Helper()
		_, l := f.acquire(t, cur, "w")
		if err := f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "misconfiguration", Message: "unauthorized_client", Strike: true}); err != nil {
			t.Fatal(err)
		}
		return f.get(t, cur.ID)
	}
	got := strike(inst)
	f.clock.Advance(20 * time.Minute)
	got = strike(got)
	if got.DeadTokenStrikes != 2 || !got.DeadTokenSince.Equal(first) {
		t.Fatalf("after two strikes: %d since %s, want 2 since %s", got.DeadTokenStrikes, got.DeadTokenSince, first)
	}
	// A release without a strike keeps the count.
	_, l := f.acquire(t, got, "w")
	if err := f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "transient", Message: "timeout"}); err != nil {
		t.Fatal(err)
	}
	if got = f.get(t, inst.ID); got.DeadTokenStrikes != 2 {
		t.Fatalf("a transient failure changed the strikes to %d", got.DeadTokenStrikes)
	}
	// A successful refresh clears them.
	_, l = f.acquire(t, got, "w")
	if _, err := f.st.CompleteRefresh(ctx, l, f.grant("org-1", "acct-1", time.Hour, "r1")); err != nil {
		t.Fatal(err)
	}
	if got = f.get(t, inst.ID); got.DeadTokenStrikes != 0 || !got.DeadTokenSince.IsZero() {
		t.Fatalf("after a refresh: %d strikes since %s, want none", got.DeadTokenStrikes, got.DeadTokenSince)
	}
	// So does a reinstall.
	strike(got) // strikes to clear; the reinstall below is what is checked
	if _, _, err := f.st.Install(ctx, f.grant("org-1", "acct-1", time.Hour, "again")); err != nil {
		t.Fatal(err)
	}
	if got = f.get(t, inst.ID); got.DeadTokenStrikes != 0 || !got.DeadTokenSince.IsZero() {
		t.Fatalf("after a reinstall: %d strikes since %s, want none", got.DeadTokenStrikes, got.DeadTokenSince)
	}
}

func TestCompleteRefresh_ClearsWhatTheItemHeldAndMovesTheDueIndex(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, l := f.acquire(t, inst, "w")
	if err := f.st.ReleaseLease(ctx, l, &store.RefreshError{Class: "misconfiguration", Message: "unauthorized_client", Strike: true}); err != nil {
		t.Fatal(err)
	}
	cur, l := f.acquire(t, f.get(t, inst.ID), "w")
	if cur.LastRefreshError == nil || cur.DeadTokenStrikes != 1 {
		t.Fatalf("leased %v: want the recorded error and one strike", cur)
	}
	g := f.grant("org-1", "acct-1", 3*time.Hour, "r1")
	g.Scope = "chats--all:ro"
	if _, err := f.st.CompleteRefresh(ctx, l, g); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, inst.ID)
	if got.LastRefreshError != nil || got.DeadTokenStrikes != 0 || !got.DeadTokenSince.IsZero() || got.Scope != g.Scope ||
		got.Status != store.StatusActive || got.AccessToken != g.AccessToken || got.LeaseOwner != "" {
		t.Errorf("after complete: %v (error %v, strikes %d, scope %q); want new tokens and scope, no error, no strikes, no lease", got, got.LastRefreshError, got.DeadTokenStrikes, got.Scope)
	}
	if f.dueIDs(t, f.clock.Now().Add(time.Hour))[inst.ID] || !f.dueIDs(t, f.clock.Now().Add(4*time.Hour))[inst.ID] {
		t.Errorf("the due index does not follow the new expiry")
	}
}
