package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lcauth/internal/lifecycle"
	"lcauth/internal/livechat"
	"lcauth/internal/sealing"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

var ctx = context.Background()

// revoker records revocations; fail decides an answer per token (nil: revoked).
type revoker struct {
	mu      sync.Mutex
	calls   []string
	fail    func(tok string) error
	onCall  func(tok string) // runs before answering (a concurrent change)
	revoked map[string]bool
}

func (r *revoker) Revoke(_ context.Context, tok string) error {
	r.mu.Lock()
	r.calls = append(r.calls, tok)
	hook, fail := r.onCall, r.fail
	r.mu.Unlock()
	if hook != nil {
		hook(tok)
	}
	if fail != nil {
		if err := fail(tok); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked == nil {
		r.revoked = map[string]bool{}
	}
	r.revoked[tok] = true
	return nil
}

func (r *revoker) wasRevoked(tok string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revoked[tok]
}

func (r *revoker) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

type fixture struct {
	st      *store.Store
	rv      *revoker
	u       *lifecycle.Uninstaller
	metrics *bytes.Buffer
	n       int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, table := dynalitetest.Table(t)
	sealer, err := sealing.NewStatic("test", bytes.Repeat([]byte{7}, sealing.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: store.New(db, table, sealer), rv: &revoker{}, metrics: &bytes.Buffer{}}
	f.u = lifecycle.New(f.st, f.rv, lifecycle.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: f.metrics, MetricsService: "test-stack",
		RevokeBackoff: time.Millisecond,
	})
	return f
}

func (f *fixture) install(t *testing.T, org, account string) *store.Installation {
	t.Helper()
	f.n++
	inst, _, err := f.st.Install(ctx, store.Grant{
		AccessToken: "dal:access-" + org + "-" + account + "-" + string(rune('a'+f.n)), RefreshToken: "refresh-" + org + "-" + account + "-" + string(rune('a'+f.n)),
		TokenType: "Bearer", Scope: "chats--all:ro", ExpiresAt: time.Now().Add(time.Hour), OrganizationID: org, AccountID: account, Region: "dal",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Get(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f *fixture) status(t *testing.T, id string) store.Status {
	t.Helper()
	inst, err := f.st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inst.Status
}

// metricSum adds up one metric over the EMF lines written so far, checking each line's shape.
func (f *fixture) metricSum(t *testing.T, name string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(strings.TrimSpace(f.metrics.String()), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		if doc["Service"] != "test-stack" || doc["_aws"] == nil {
			t.Errorf("metric line %s lacks the Service dimension or the _aws directive", line)
		}
		if v, ok := doc[name].(float64); ok {
			sum += v
		}
	}
	return sum
}

func TestUninstallOrganization_RevokesErasesAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	a := f.install(t, "org-1", "acct-1")
	b := f.install(t, "org-1", "acct-2")
	other := f.install(t, "org-2", "acct-1")

	outs, err := f.u.UninstallOrganization(ctx, "org-1", store.UninstalledByWebhook)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("outcomes %+v, want 2", outs)
	}
	for _, o := range outs {
		if o.Result != lifecycle.Uninstalled || o.RevokeError != "" {
			t.Errorf("outcome %+v, want uninstalled without revoke error", o)
		}
	}
	for _, inst := range []*store.Installation{a, b} {
		if !f.rv.wasRevoked(inst.AccessToken) {
			t.Errorf("access token of %s not revoked", inst.ID)
		}
		got, err := f.st.Get(ctx, inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusUninstalled || got.StatusReason != string(store.UninstalledByWebhook) || got.AccessToken != "" || got.RefreshToken != "" {
			t.Errorf("%s after uninstall: status %s reason %q tokens present %v", inst.ID, got.Status, got.StatusReason, got.AccessToken+got.RefreshToken != "")
		}
	}
	if f.rv.wasRevoked(other.AccessToken) || f.status(t, other.ID) != store.StatusActive {
		t.Errorf("another organization's installation was touched")
	}
	if got := f.metricSum(t, lifecycle.MetricUninstalled); got != 2 {
		t.Errorf("Uninstalled metric sum = %v, want 2", got)
	}

	calls := f.rv.callCount()
	outs, err = f.u.UninstallOrganization(ctx, "org-1", store.UninstalledByWebhook)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Result != lifecycle.AlreadyUninstalled {
			t.Errorf("second uninstall: %+v, want already_uninstalled", o)
		}
	}
	if f.rv.callCount() != calls || f.metricSum(t, lifecycle.MetricUninstalled) != 2 {
		t.Errorf("second uninstall called LiveChat %d more times or emitted metrics", f.rv.callCount()-calls)
	}
	if outs, err := f.u.UninstallOrganization(ctx, "org-unknown", store.UninstalledByWebhook); err != nil || len(outs) != 0 {
		t.Errorf("unknown organization: %+v, %v; want nothing", outs, err)
	}
}

func TestUninstall_RevokesTheRefreshTokenWhenTheAccessTokenIsAlreadyDead(t *testing.T) {
	f := newFixture(t)
	inst := f.install(t, "org-1", "acct-1")
	f.rv.fail = func(tok string) error {
		if tok == inst.AccessToken {
			return &livechat.TokenError{Op: "revoke", StatusCode: 401, Code: "invalid_token"}
		}
		return nil
	}
	out, err := f.u.Uninstall(ctx, inst.ID, store.UninstalledByOperator)
	if err != nil || out.Result != lifecycle.Uninstalled || out.RevokeError != "" {
		t.Fatalf("Uninstall = %+v, %v; want uninstalled without revoke error", out, err)
	}
	if !f.rv.wasRevoked(inst.RefreshToken) {
		t.Error("the refresh token was not revoked after the access token was refused")
	}
}

func TestUninstall_ErasesEvenWhenLiveChatCannotRevokeAndSaysSo(t *testing.T) {
	f := newFixture(t)
	inst := f.install(t, "org-1", "acct-1")
	f.rv.fail = func(string) error {
		return &livechat.TokenError{Op: "revoke", StatusCode: 503, Code: "server_error"}
	}
	out, err := f.u.Uninstall(ctx, inst.ID, store.UninstalledByWebhook)
	if err != nil || out.Result != lifecycle.Uninstalled || out.RevokeError == "" {
		t.Fatalf("Uninstall = %+v, %v; want uninstalled with a revoke error", out, err)
	}
	if strings.Contains(out.RevokeError, inst.AccessToken) {
		t.Error("the revoke error holds the token")
	}
	if n := f.rv.callCount(); n != 3 {
		t.Errorf("LiveChat was asked %d times, want 3 (retries of a transient failure)", n)
	}
	if f.status(t, inst.ID) != store.StatusUninstalled {
		t.Error("not uninstalled")
	}
	if f.metricSum(t, lifecycle.MetricRevokeFailed) != 1 {
		t.Error("RevokeFailed metric not emitted")
	}
}

func TestUninstall_TokensStoredMeanwhileAreRevokedToo(t *testing.T) {
	f := newFixture(t)
	inst := f.install(t, "org-1", "acct-1")
	var newer *store.Installation
	f.rv.onCall = func(string) {
		if newer == nil { // a reinstall lands while the first revocation is in flight
			newer = f.install(t, "org-1", "acct-1")
		}
	}
	out, err := f.u.Uninstall(ctx, inst.ID, store.UninstalledByWebhook)
	if err != nil || out.Result != lifecycle.Uninstalled {
		t.Fatalf("Uninstall = %+v, %v", out, err)
	}
	if !f.rv.wasRevoked(inst.AccessToken) || !f.rv.wasRevoked(newer.AccessToken) {
		t.Errorf("revoked old %v new %v, want both", f.rv.wasRevoked(inst.AccessToken), f.rv.wasRevoked(newer.AccessToken))
	}
	got, err := f.st.Get(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusUninstalled || got.AccessToken != "" {
		t.Errorf("status %s, token present %v; want uninstalled, erased", got.Status, got.AccessToken != "")
	}
}

func TestDelete_UninstallsThenRemovesTheItem(t *testing.T) {
	f := newFixture(t)
	inst := f.install(t, "org-1", "acct-1")
	out, err := f.u.Delete(ctx, inst.ID)
	if err != nil || out.Result != lifecycle.Uninstalled {
		t.Fatalf("Delete = %+v, %v", out, err)
	}
	if !f.rv.wasRevoked(inst.AccessToken) {
		t.Error("Delete did not revoke the tokens first")
	}
	if _, err := f.st.Get(ctx, inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := f.u.Delete(ctx, inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete of a deleted id: %v, want ErrNotFound", err)
	}
	if _, err := f.u.Uninstall(ctx, store.InstallationID("x", "y"), store.UninstalledByOperator); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Uninstall of an unknown id: %v, want ErrNotFound", err)
	}
	if ids, _ := f.st.OrganizationInstallations(ctx, "org-1"); slices.Contains(ids, inst.ID) {
		t.Error("the deleted installation is still in the organization index")
	}
}

func TestUninstallOrganization_ConcurrentDeliveriesUninstallOnce(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.install(t, "org-1", "acct-"+string(rune('a'+i)))
	}
	var wg sync.WaitGroup
	results := make([][]lifecycle.Outcome, 4)
	for i := range results {
		wg.Go(func() {
			outs, err := f.u.UninstallOrganization(ctx, "org-1", store.UninstalledByWebhook)
			if err != nil {
				t.Error(err)
			}
			results[i] = outs
		})
	}
	wg.Wait()
	uninstalled := 0
	for _, outs := range results {
		for _, o := range outs {
			if o.Result == lifecycle.Uninstalled {
				uninstalled++
			}
		}
	}
	if uninstalled != 3 {
		t.Errorf("%d installations reported uninstalled across 4 concurrent deliveries, want 3 (each once)", uninstalled)
	}
	if got := f.metricSum(t, lifecycle.MetricUninstalled); got != 3 {
		t.Errorf("Uninstalled metric sum = %v, want 3", got)
	}
}
