package refresh

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
)

func TestRefreshInstallation_Outcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		setup      func(e *env, inst *store.Installation)
		secret     string // "" = the right one
		wantClass  livechat.ErrorClass
		wantReauth bool
		wantStatus store.Status
		wantErrRec string // class recorded as the last refresh error; "" = none
		wantNewTok bool
	}{
		{name: "success stores the new token", wantStatus: store.StatusActive, wantNewTok: true},
		{name: "revoked grant is marked", setup: func(e *env, inst *store.Installation) { e.sim.RevokeGrant(inst.AccountID) },
			wantClass: livechat.ClassReauthorization, wantReauth: true, wantStatus: store.StatusReauthorizationRequired},
		{name: "missing grant is marked", setup: func(e *env, inst *store.Installation) { e.sim.RequireConsent(inst.AccountID) },
			wantClass: livechat.ClassReauthorization, wantReauth: true, wantStatus: store.StatusReauthorizationRequired},
		{name: "wrong client secret marks nothing", secret: "wrong-secret",
			wantClass: livechat.ClassMisconfiguration, wantStatus: store.StatusActive, wantErrRec: "misconfiguration"},
		{name: "server error is recorded", setup: func(e *env, _ *store.Installation) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusBadGateway})
		}, wantClass: livechat.ClassTransient, wantStatus: store.StatusActive, wantErrRec: "transient"},
		{name: "rate limit is recorded", setup: func(e *env, _ *store.Installation) {
			e.sim.InjectFault(livechatsim.EndpointTokenRefresh, livechatsim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second})
		}, wantClass: livechat.ClassRateLimited, wantStatus: store.StatusActive, wantErrRec: "rate_limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			inst := e.installDue(1)[0]
			if tc.setup != nil {
				tc.setup(e, inst)
			}
			var lc TokenClient = e.lc
			if tc.secret != "" {
				lc = e.clientWithSecret(tc.secret)
			}
			r := e.refresher(lc, nil)
			got, err := r.RefreshInstallation(context.Background(), inst)
			if c := livechat.Classify(err); c != tc.wantClass {
				t.Errorf("Classify(err) = %q, want %q (err %v)", c, tc.wantClass, err)
			}
			if errors.Is(err, ErrReauthorizationRequired) != tc.wantReauth {
				t.Errorf("errors.Is(err, ErrReauthorizationRequired) = %v, want %v", !tc.wantReauth, tc.wantReauth)
			}
			stored := e.get(inst.ID)
			e.noteTokens(stored)
			if stored.Status != tc.wantStatus || stored.LeaseOwner != "" {
				t.Errorf("stored status %s lease %q, want %s and no lease", stored.Status, stored.LeaseOwner, tc.wantStatus)
			}
			if tc.wantNewTok {
				if err != nil || got == nil || got.AccessToken != stored.AccessToken || stored.AccessToken == inst.AccessToken {
					t.Fatalf("RefreshInstallation = %v; want the stored new token", err)
				}
				if !e.sim.TokenValid(got.AccessToken) || got.Version != inst.Version+1 {
					t.Errorf("returned token valid %v, version %d; want valid, %d", e.sim.TokenValid(got.AccessToken), got.Version, inst.Version+1)
				}
			} else if stored.AccessToken != inst.AccessToken || stored.RefreshToken != inst.RefreshToken {
				t.Errorf("tokens changed although the refresh failed")
			}
			switch {
			case tc.wantErrRec == "" && stored.LastRefreshError != nil:
				t.Errorf("last refresh error = %+v, want none", stored.LastRefreshError)
			case tc.wantErrRec != "" && (stored.LastRefreshError == nil || stored.LastRefreshError.Class != tc.wantErrRec):
				t.Errorf("last refresh error = %+v, want class %s", stored.LastRefreshError, tc.wantErrRec)
			}
			reauthMetrics := 0
			for _, d := range e.emfLines() {
				if d.raw["event"] == "reauthorization_required" && d.raw[MetricReauthorizationRequired] == 1.0 {
					reauthMetrics++
				}
			}
			if want := map[bool]int{true: 1}[tc.wantReauth]; reauthMetrics != want {
				t.Errorf("ReauthorizationRequired metric lines = %d, want %d", reauthMetrics, want)
			}
			e.checkNoSecretsLogged()
		})
	}
}

func TestRefreshInstallation_AlreadyMarkedDoesNotCallLiveChat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	e.sim.RevokeGrant(inst.AccountID)
	r := e.refresher(nil, nil)
	if _, err := r.RefreshInstallation(context.Background(), inst); !errors.Is(err, ErrReauthorizationRequired) {
		t.Fatalf("first refresh: %v, want ErrReauthorizationRequired", err)
	}
	calls := e.sim.Calls(livechatsim.EndpointTokenRefresh)
	// A caller holding the old version and one holding the marked version both learn it without a call.
	for _, cur := range []*store.Installation{inst, e.get(inst.ID)} {
		got, err := r.RefreshInstallation(context.Background(), cur)
		if !errors.Is(err, ErrReauthorizationRequired) || got == nil || got.Status != store.StatusReauthorizationRequired {
			t.Errorf("RefreshInstallation(version %d) = %v, %v; want the marked installation and ErrReauthorizationRequired", cur.Version, got, err)
		}
	}
	if n := e.sim.Calls(livechatsim.EndpointTokenRefresh); n != calls {
		t.Errorf("LiveChat token calls went from %d to %d, want none", calls, n)
	}
}

// newEnvLeasedElsewhere starts an env with one due installation whose refresh lease another
// process ("other-process", 10s) holds.
func newEnvLeasedElsewhere(t *testing.T) (*env, *store.Installation, *store.Lease) {
	t.Helper()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	_, lease, err := e.st.AcquireLease(context.Background(), inst.ID, inst.Version, "other-process", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return e, inst, lease
}

func TestRefreshInstallation_WaitsForTheLeaseHolderInsteadOfRefreshingTwice(t *testing.T) {
	t.Parallel()
	// Another process takes the lease and refreshes slowly.
	e, inst, lease := newEnvLeasedElsewhere(t)
	ctx := context.Background()
	type res struct {
		got *store.Installation
		err error
	}
	done := make(chan res, 1)
	r := e.refresher(nil, nil)
	go func() {
		got, err := r.RefreshInstallation(ctx, inst)
		done <- res{got, err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case out := <-done:
		t.Fatalf("RefreshInstallation returned while the lease was held: %v", out.err)
	default:
	}
	tok, err := e.lc.Refresh(ctx, inst.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CompleteRefresh(ctx, lease, store.Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: tok.Expiry, Region: tok.Region}); err != nil {
		t.Fatal(err)
	}
	out := <-done
	if out.err != nil || out.got.AccessToken != tok.AccessToken {
		t.Fatalf("RefreshInstallation = %v; want the other holder's token", out.err)
	}
	if n := e.sim.RefreshesOf(inst.AccountID); n != 1 {
		t.Errorf("LiveChat refreshes = %d, want 1 (the other holder's only)", n)
	}
}

func TestRefreshInstallation_GivesUpWhenTheHolderDoesNotFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	if _, _, err := e.st.AcquireLease(context.Background(), inst.ID, inst.Version, "stuck-process", time.Minute); err != nil {
		t.Fatal(err)
	}
	o := e.fastOptions()
	o.WaitForOther = 400 * time.Millisecond
	start := time.Now()
	_, err := e.refresher(nil, &o).RefreshInstallation(context.Background(), inst)
	if !errors.Is(err, ErrRefreshInProgress) {
		t.Fatalf("err = %v, want ErrRefreshInProgress", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want about WaitForOther (400ms)", d)
	}
	if n := e.sim.Calls(livechatsim.EndpointTokenRefresh); n != 0 {
		t.Errorf("LiveChat calls = %d, want 0", n)
	}
}

func TestRefreshInstallation_RetriesOnceWhenTheHolderFailed(t *testing.T) {
	t.Parallel()
	e, inst, lease := newEnvLeasedElsewhere(t)
	ctx := context.Background()
	done := make(chan error, 1)
	var got *store.Installation
	go func() {
		var err error
		got, err = e.refresher(nil, nil).RefreshInstallation(ctx, inst)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	// The holder's LiveChat call failed: it releases the lease without new tokens.
	if err := e.st.ReleaseLease(ctx, lease, &store.RefreshError{Class: "transient", Message: "livechat: refresh: HTTP 502"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RefreshInstallation: %v", err)
	}
	stored := e.get(inst.ID)
	if got.AccessToken != stored.AccessToken || stored.AccessToken == inst.AccessToken || e.sim.RefreshesOf(inst.AccountID) != 1 {
		t.Errorf("want our own single refresh stored after the holder failed")
	}
}

func TestRefreshInstallation_SavesTheTokenEvenIfTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	e.sim.SetRotateRefreshTokens(true) // losing the answer would lose the only valid refresh token
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var minted *livechat.Token
	rec := &recordingClient{inner: e.lc, after: func(tok *livechat.Token, err error) {
		minted = tok
		cancel() // the /chats client disconnects right after LiveChat answered
	}}
	got, err := e.refresher(rec, nil).RefreshInstallation(ctx, inst)
	if err != nil {
		t.Fatalf("RefreshInstallation: %v", err)
	}
	stored := e.get(inst.ID)
	if minted == nil || stored.AccessToken != minted.AccessToken || stored.RefreshToken != minted.RefreshToken || got.AccessToken != minted.AccessToken {
		t.Errorf("the minted token was not saved after the caller's context was cancelled")
	}
}

func TestRefreshInstallation_ReinstallDuringRefreshWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	// While our LiveChat call is in flight, the user reinstalls: a newer grant is saved.
	var reinstalled *store.Installation
	rec := &recordingClient{inner: e.lc, after: func(*livechat.Token, error) {
		tok := e.sim.GrantTokens(inst.AccountID)
		var err error
		reinstalled, _, err = e.st.Install(context.Background(), store.Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
			TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID, AccountID: tok.AccountID, Region: tok.Region})
		if err != nil {
			t.Error(err)
		}
	}}
	got, err := e.refresher(rec, nil).RefreshInstallation(context.Background(), inst)
	if err != nil {
		t.Fatalf("RefreshInstallation: %v", err)
	}
	stored := e.get(inst.ID)
	if stored.AccessToken != reinstalled.AccessToken || stored.Version != reinstalled.Version {
		t.Errorf("the older refresh overwrote the reinstall")
	}
	if got.AccessToken != reinstalled.AccessToken {
		t.Errorf("RefreshInstallation returned a token other than the reinstall's (the newest)")
	}
}

func TestRefreshInstallation_DoesNotCallLiveChatWithoutTimeToSaveTheAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.installDue(1)[0]
	// Less than the second kept for the save is left of the request.
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	if _, err := e.refresher(nil, nil).RefreshInstallation(ctx, inst); err == nil {
		t.Fatal("RefreshInstallation succeeded without time to save the answer")
	}
	if n := e.sim.Calls(livechatsim.EndpointTokenRefresh); n != 0 {
		t.Errorf("LiveChat calls = %d, want 0", n)
	}
	got := e.get(inst.ID)
	if got.LeaseOwner != "" || got.LastRefreshError != nil || got.Version != inst.Version {
		t.Errorf("installation touched: lease %q, last error %+v, version %d", got.LeaseOwner, got.LastRefreshError, got.Version)
	}
}
