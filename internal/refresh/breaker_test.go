package refresh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
)

// installDead creates an installation whose refresh token LiveChat does not know (an uninstalled app,
// a revoked grant, a token evicted by the 25-token limit): the simulator answers unauthorized_client,
// as it does for a wrong client secret. Its token expires after lifetime from now.
func (e *env) installDead(i int, lifetime time.Duration) *store.Installation {
	e.t.Helper()
	inst, _, err := e.st.Install(context.Background(), store.Grant{
		AccessToken: fmt.Sprintf("dal:dead-access-%d", i), RefreshToken: fmt.Sprintf("dal:dead-refresh-%d", i),
		TokenType: "Bearer", Scope: "chats--all:ro", ExpiresAt: e.sim.Now().Add(lifetime),
		OrganizationID: fmt.Sprintf("dead-org-%d", i), AccountID: fmt.Sprintf("dead-acct-%d", i), Region: "dal",
	})
	if err != nil {
		e.t.Fatalf("install dead %d: %v", i, err)
	}
	return inst
}

// orderedStore lists the due index in a fixed order, all of it as shard 0's single page: the test
// decides the order in which the pass meets its installations.
type orderedStore struct {
	Store
	order []*store.Installation
}

func (o *orderedStore) ListDue(_ context.Context, _ time.Time, shard int, _ string, _ int) (store.DuePage, error) {
	if shard != 0 {
		return store.DuePage{}, nil
	}
	return store.DuePage{Installations: o.order}, nil
}

func TestRunPass_DeadRefreshTokensNeverStopThePassWhateverTheirOrder(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"random", "dead first", "dead last"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			healthy := e.install(40)
			dead := make([]*store.Installation, 40)
			for i := range dead {
				dead[i] = e.installDead(i, livechatsim.DefaultTokenLifetime)
			}
			e.sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
			var all []*store.Installation
			switch order {
			case "dead last":
				all = append(append(all, healthy...), dead...)
			default:
				all = append(append(all, dead...), healthy...)
			}
			if order == "random" {
				rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			}
			o := e.fastOptions()
			o.Concurrency = 2
			r := New(&orderedStore{Store: e.st, order: all}, e.lc, o)
			sum, err := r.RunPass(context.Background())
			if err != nil || sum.PassFailed {
				t.Fatalf("RunPass = %+v, %v; want a pass that does not fail", sum, err)
			}
			if sum.Refreshed != 40 || sum.Failed[string(livechat.ClassMisconfiguration)] != 40 || sum.Left != 0 {
				t.Errorf("summary = %+v, want all 40 healthy refreshed and 40 misconfiguration failures", sum)
			}
			for _, inst := range healthy {
				if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
					t.Errorf("%s: refreshes = %d, want 1", inst.ID, n)
				}
			}
			for _, inst := range dead {
				if got := e.get(inst.ID); got.Status != store.StatusActive || got.LeaseOwner != "" {
					t.Errorf("%s: status %s, lease %q after one failing pass; want active, no lease", inst.ID, got.Status, got.LeaseOwner)
				}
			}
		})
	}
}

func TestRunPass_WrongSecretOverThirtyInstallationsMarksNoneAndTheFixedPassRefreshesAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	insts := e.installDue(30)
	wrong := e.refresher(e.clientWithSecret("not-the-client-secret"), nil)
	// Several passes with the wrong secret (an operator who takes an hour to notice): none marks.
	for range 3 {
		sum, err := wrong.RunPass(context.Background())
		if !errors.Is(err, ErrCircuitOpen) || sum.StoppedReason != StopCircuitBreaker || !sum.PassFailed {
			t.Fatalf("pass with a wrong secret = %+v, %v; want it failed by the circuit breaker", sum, err)
		}
		if sum.Refreshed != 0 || sum.ReauthorizationRequired != 0 {
			t.Errorf("pass with a wrong secret = %+v, want nothing refreshed or marked", sum)
		}
		e.sim.Advance(15 * time.Minute)
	}
	for _, old := range insts {
		got := e.get(old.ID)
		if got.Status != store.StatusActive || got.Version != old.Version || got.AccessToken != old.AccessToken ||
			got.RefreshToken != old.RefreshToken || got.DeadTokenStrikes != 0 || got.LeaseOwner != "" {
			t.Errorf("%s touched by passes with a wrong secret: %v, strikes %d", old.ID, got, got.DeadTokenStrikes)
		}
	}
	if m := e.passMetrics(); m[MetricPassFailed] != 1 {
		t.Errorf("PassFailed metric = %v, want 1 (the alarm's input)", m[MetricPassFailed])
	}

	sum, err := e.refresher(nil, nil).RunPass(context.Background())
	if err != nil || sum.Refreshed != 30 || sum.FailedTotal() != 0 {
		t.Fatalf("first pass after the fix = %+v, %v; want all 30 refreshed", sum, err)
	}
	e.checkNoSecretsLogged()
}

// slowDeadClient answers dead refresh tokens only after a delay, so that in a pass the healthy
// installations' successes come first (the order the strikes need).
type slowDeadClient struct {
	inner TokenClient
	delay time.Duration
}

func (c slowDeadClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	tok, err := c.inner.Refresh(ctx, refreshToken)
	if livechat.Classify(err) == livechat.ClassMisconfiguration {
		time.Sleep(c.delay)
	}
	return tok, err
}

func TestRunPass_DeadRefreshTokenLeavesTheDueIndexAfterStrikesInPassesThatSucceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.install(4)
	dead := e.installDead(0, livechatsim.DefaultTokenLifetime)
	o := e.fastOptions()
	o.Window = livechatsim.DefaultTokenLifetime + time.Hour // everything is due in every pass
	o.Concurrency = 4
	r := e.refresher(slowDeadClient{inner: e.lc, delay: 200 * time.Millisecond}, &o)

	// Strikes 1 and 2 (20 minutes apart): still active and due.
	for want := 1; want <= 2; want++ {
		sum, err := r.RunPass(context.Background())
		if err != nil || sum.Refreshed != 4 || sum.Failed[string(livechat.ClassMisconfiguration)] != 1 {
			t.Fatalf("pass %d = %+v, %v; want 4 refreshed, the dead one failed", want, sum, err)
		}
		got := e.get(dead.ID)
		if got.Status != store.StatusActive || got.DeadTokenStrikes != want {
			t.Fatalf("after pass %d: status %s, strikes %d; want active with %d", want, got.Status, got.DeadTokenStrikes, want)
		}
		e.sim.Advance(20 * time.Minute)
	}
	// Strike 3, 40 minutes after the first: out of the due index, with a reason the operator can see.
	sum, err := r.RunPass(context.Background())
	if err != nil || sum.Refreshed != 4 || sum.ReauthorizationRequired != 1 || sum.FailedTotal() != 0 {
		t.Fatalf("third pass = %+v, %v; want 4 refreshed and the dead one marked", sum, err)
	}
	got := e.get(dead.ID)
	if got.Status != store.StatusReauthorizationRequired || got.StatusReason != reasonRefreshTokenNotFound {
		t.Fatalf("dead installation: status %s (%q), want reauthorization_required (%s)", got.Status, got.StatusReason, reasonRefreshTokenNotFound)
	}
	if got.RefreshToken != dead.RefreshToken {
		t.Errorf("the dead installation's tokens were not kept")
	}
	sum, err = r.RunPass(context.Background())
	if err != nil || sum.Due != 4 {
		t.Errorf("next pass = %+v, %v; want only the 4 healthy due", sum, err)
	}
}

func TestRunPass_DeadTokenStrikesNeedTheMinimumSpan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.install(2)
	dead := e.installDead(0, livechatsim.DefaultTokenLifetime)
	o := e.fastOptions()
	o.Window = livechatsim.DefaultTokenLifetime + time.Hour
	r := e.refresher(slowDeadClient{inner: e.lc, delay: 200 * time.Millisecond}, &o)
	// Four strikes within 15 minutes: below the 30-minute span, so still active.
	for range 4 {
		if _, err := r.RunPass(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.sim.Advance(5 * time.Minute)
	}
	if got := e.get(dead.ID); got.Status != store.StatusActive || got.DeadTokenStrikes != 4 {
		t.Fatalf("status %s, strikes %d; want active with 4 (span not reached)", got.Status, got.DeadTokenStrikes)
	}
	e.sim.Advance(15 * time.Minute)
	if sum, err := r.RunPass(context.Background()); err != nil || sum.ReauthorizationRequired != 1 {
		t.Fatalf("pass past the span = %+v, %v; want the dead installation marked", sum, err)
	}
}

// deniedClient answers every refresh with the token endpoint's 403 access_denied.
type deniedClient struct{}

func (deniedClient) Refresh(context.Context, string) (*livechat.Token, error) {
	return nil, &livechat.TokenError{StatusCode: 403, Code: "access_denied", Op: "refresh",
		Description: "the requested scopes include a scope that wasn't originally granted"}
}

func TestRefreshInstallation_AccessDeniedMeansReauthorizationRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	_, err := e.refresher(deniedClient{}, nil).RefreshInstallation(context.Background(), inst)
	if !errors.Is(err, ErrReauthorizationRequired) {
		t.Fatalf("RefreshInstallation = %v, want ErrReauthorizationRequired", err)
	}
	got := e.get(inst.ID)
	if got.Status != store.StatusReauthorizationRequired || got.StatusReason != "livechat: access_denied" {
		t.Errorf("status %s (%q), want reauthorization_required (livechat: access_denied)", got.Status, got.StatusReason)
	}
}
