package refresh

// One leased refresh, in the steps a pass runs in separate stages: acquire (the lease write), call
// (LiveChat, retries included), then finish: save the new token, mark the installation, or release the
// lease. RefreshInstallation runs the same steps in a row (refreshLeased).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

// outcome is how one leased refresh ended.
type outcome int

const (
	outcomeRefreshed outcome = iota
	outcomeLostRace
	outcomeGone
	outcomeReauthorization
	outcomeFailed
	outcomeNotStarted
)

// classStore is the failure class of store errors in a Summary (LiveChat's classes come from
// livechat.Classify).
const classStore = "store"

// reasonRefreshTokenNotFound is the status reason of an installation taken out of the due index after
// its refresh token kept answering unauthorized_client / invalid_client while others succeeded.
const reasonRefreshTokenNotFound = "refresh_token_not_found"

// result is the outcome of one leased refresh.
type result struct {
	kind outcome
	inst *store.Installation
	err  error
	// class is the failure class for outcomeFailed: a livechat.ErrorClass or classStore.
	class string
	// attempts counts LiveChat calls made.
	attempts int
	// storeFailed is set when a store call failed (the pass counts consecutive ones).
	storeFailed bool
	// probe is set for an installation the circuit breaker drew at random (breaker.go).
	probe bool
}

// job is one installation under a lease, between acquire and finish.
type job struct {
	cur        *store.Installation // as of the lease
	lease      *store.Lease
	acquiredAt time.Time
	// callEnd is when every LiveChat call under the lease must have ended.
	callEnd time.Time
	// saveCtx carries the writes after the call: not cancelled with the caller (a minted token must be
	// saved, a taken lease given back) and bounded by the lease, under which they must land.
	saveCtx context.Context
	cancel  context.CancelFunc
	probe   bool
}

// called is what LiveChat answered a job.
type called struct {
	tok      *livechat.Token
	attempts int
	err      error
}

// refreshLeased takes inst's lease, calls LiveChat and saves the outcome, in a row: the on-demand path
// (RefreshInstallation, p == nil).
func (r *Refresher) refreshLeased(ctx context.Context, inst *store.Installation, p *pass) result {
	j, res := r.acquire(ctx, inst)
	if j == nil {
		return res
	}
	return r.finish(ctx, j, r.call(ctx, j, p), p)
}

// acquire takes inst's lease. Without a lease it returns a nil job and the result to record; a lease
// taken for a caller that gave up meanwhile, or on an installation marked meanwhile, is given back.
func (r *Refresher) acquire(ctx context.Context, inst *store.Installation) (*job, result) {
	if err := ctx.Err(); err != nil {
		return nil, result{kind: outcomeNotStarted, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
	}
	j := &job{acquiredAt: time.Now()}
	j.saveCtx, j.cancel = context.WithDeadline(context.WithoutCancel(ctx), j.acquiredAt.Add(r.opts.LeaseTTL))
	// The lease write is on saveCtx too: a lease taken by a write whose answer we dropped would block
	// the installation until it lapses.
	callCtx, cancel := r.storeCall(j.saveCtx)
	cur, lease, err := r.st.AcquireLease(callCtx, inst.ID, inst.Version, r.newOwner(), r.opts.LeaseTTL)
	cancel()
	if err != nil {
		j.cancel()
		switch {
		case errors.Is(err, store.ErrLeaseHeld), errors.Is(err, store.ErrVersionConflict):
			return nil, result{kind: outcomeLostRace}
		case errors.Is(err, store.ErrNotFound):
			return nil, result{kind: outcomeGone, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
		}
		return nil, result{kind: outcomeFailed, class: classStore, storeFailed: true,
			err: fmt.Errorf("refresh: installation %s: acquire lease: %w", inst.ID, err)}
	}
	j.cur, j.lease = cur, lease
	j.callEnd = r.callEnd(ctx, j.acquiredAt)
	if err := ctx.Err(); err != nil {
		// The caller gave up while we took the lease: give it back untouched.
		r.release(j, nil)
		return nil, result{kind: outcomeNotStarted, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
	}
	if cur.Status == store.StatusReauthorizationRequired {
		// Marked between our read and the lease: nothing to refresh.
		r.release(j, nil)
		return nil, result{kind: outcomeReauthorization, inst: cur,
			err: fmt.Errorf("refresh: installation %s: %w", cur.ID, ErrReauthorizationRequired)}
	}
	return j, result{}
}

// callEnd is when the LiveChat calls of a lease taken at acquiredAt must have ended: within the call
// budget, so that every save attempt still fits in the lease, and early enough before the caller's
// deadline for the whole save budget. A caller whose deadline cannot hold that (a short request) keeps
// saveReserve for a save that succeeds at once; the save itself is bounded by the lease, not by the
// caller (saveCtx).
func (r *Refresher) callEnd(ctx context.Context, acquiredAt time.Time) time.Time {
	end := acquiredAt.Add(r.opts.CallBudget)
	d, ok := ctx.Deadline()
	if !ok {
		return end
	}
	if full := d.Add(-r.opts.SaveBudget()); time.Until(full) >= r.opts.MinCallTime {
		return minTime(end, full)
	}
	return minTime(end, d.Add(-saveReserve))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// call makes the job's LiveChat call (with retries in a pass). It makes none when the pass stopped or
// its time to start new work is over.
func (r *Refresher) call(ctx context.Context, j *job, p *pass) called {
	if p != nil && !p.mayStart(ctx) {
		return called{err: errPassStopped}
	}
	tok, attempts, err := r.callWithRetry(ctx, j.cur, j.callEnd, p)
	return called{tok: tok, attempts: attempts, err: err}
}

// errPassStopped: the pass stopped before this job's call.
var errPassStopped = errors.New("refresh: the pass stopped before this call")

// finish saves the outcome of a call under the job's lease and ends the job.
func (r *Refresher) finish(ctx context.Context, j *job, c called, p *pass) result {
	defer j.cancel()
	cur := j.cur
	if c.attempts == 0 {
		// LiveChat was never called (the caller gave up, the pass stopped, or its backoff outlasts the
		// budget): give the lease back untouched; the next pass takes it from here.
		r.release(j, nil)
		return result{kind: outcomeNotStarted, probe: j.probe, err: fmt.Errorf("refresh: installation %s: %w", cur.ID, c.err)}
	}
	if c.err == nil {
		return r.save(ctx, j, c)
	}
	class := livechat.Classify(c.err)
	switch {
	case class == livechat.ClassReauthorization:
		return r.mark(ctx, j, c, grantReason(c.err), p)
	case class == livechat.ClassMisconfiguration && p != nil && p.proven():
		// Our credentials worked for another installation in this pass: a strike against this
		// refresh token, and after enough of them it leaves the due index.
		if r.deadTokenDue(cur) {
			return r.mark(ctx, j, c, reasonRefreshTokenNotFound, p)
		}
		return r.fail(ctx, j, c, class, true)
	}
	return r.fail(ctx, j, c, class, false)
}

// deadTokenDue reports whether one more strike takes inst's refresh token out of the due index.
func (r *Refresher) deadTokenDue(inst *store.Installation) bool {
	if inst.DeadTokenStrikes+1 < r.opts.DeadTokenStrikes {
		return false
	}
	since := inst.DeadTokenSince
	if since.IsZero() {
		since = r.opts.Now() // this is the first strike
	}
	return r.opts.Now().Sub(since) >= r.opts.DeadTokenMinSpan
}

// grantReason is the status reason for a refused grant: LiveChat's code when it sent one.
func grantReason(err error) string {
	var te *livechat.TokenError
	if errors.As(err, &te) && te.Code != "" {
		return "livechat: " + te.Code
	}
	return "livechat: " + string(livechat.ClassReauthorization)
}

// save stores the new token under the lease.
func (r *Refresher) save(ctx context.Context, j *job, c called) result {
	cur := j.cur
	updated, err := r.complete(j.saveCtx, j.lease, cur, c.tok)
	switch {
	case err != nil && isConflict(err):
		// The installation moved on under us (a reinstall, or our lease lapsed and another holder
		// took it): its newer state wins and our token is discarded, as the version check intends.
		r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: refreshed token discarded, installation changed meanwhile",
			slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
			slog.String("error", err.Error()))
		if errors.Is(err, store.ErrNotFound) {
			return result{kind: outcomeGone, attempts: c.attempts, err: fmt.Errorf("refresh: installation %s: %w", cur.ID, err)}
		}
		return result{kind: outcomeLostRace, attempts: c.attempts}
	case err != nil:
		// LiveChat minted a token we could not save. The old refresh token usually stays valid
		// (LiveChat does not rotate them for server-side apps), so the next pass can try again.
		r.log.LogAttrs(ctx, slog.LevelError, "refresh: token refreshed at LiveChat but not saved",
			slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
			slog.String("error", err.Error()))
		return result{kind: outcomeFailed, class: classStore, attempts: c.attempts, storeFailed: true,
			err: fmt.Errorf("refresh: installation %s: save refreshed token: %w", cur.ID, err)}
	}
	r.log.LogAttrs(ctx, slog.LevelDebug, "refresh: token refreshed",
		slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
		slog.Time("expires_at", updated.ExpiresAt), slog.Int("attempts", c.attempts))
	return result{kind: outcomeRefreshed, inst: updated, attempts: c.attempts, probe: j.probe}
}

// mark records under the lease that the installation needs re-authorization, with reason.
func (r *Refresher) mark(ctx context.Context, j *job, c called, reason string, p *pass) result {
	cur := j.cur
	callCtx, cancel := r.storeCall(j.saveCtx)
	marked, err := r.st.MarkReauthorizationRequired(callCtx, j.lease, reason)
	cancel()
	if err != nil {
		return result{kind: outcomeFailed, class: classStore, attempts: c.attempts, storeFailed: !isConflict(err),
			err: fmt.Errorf("refresh: installation %s: mark reauthorization required: %w", cur.ID, err)}
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: installation needs re-authorization",
		slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
		slog.String("reason", reason))
	if p == nil {
		// A pass counts these in its summary; an on-demand mark is counted here.
		r.emitReauthorization()
	}
	return result{kind: outcomeReauthorization, inst: marked, attempts: c.attempts, probe: j.probe,
		err: fmt.Errorf("refresh: installation %s: %w: %w", cur.ID, ErrReauthorizationRequired, c.err)}
}

// fail gives the lease back after a failed call, tokens kept and the error recorded for operators
// (with a strike against the refresh token when strike is set). A cancelled caller is not the
// installation's problem, so that is not recorded.
func (r *Refresher) fail(ctx context.Context, j *job, c called, class livechat.ErrorClass, strike bool) result {
	cur := j.cur
	var rerr *store.RefreshError
	if ctx.Err() == nil || class != livechat.ClassTransient {
		rerr = &store.RefreshError{Class: string(class), Message: c.err.Error(), At: r.opts.Now(), Strike: strike}
	}
	r.release(j, rerr)
	r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: refresh failed",
		slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
		slog.String("class", string(class)), slog.Int("attempts", c.attempts), slog.Bool("strike", strike),
		slog.String("error", c.err.Error()))
	return result{kind: outcomeFailed, class: string(class), attempts: c.attempts, probe: j.probe,
		err: fmt.Errorf("refresh: installation %s: %w", cur.ID, c.err)}
}

// release gives the job's lease back, recording rerr when not nil. A failure is only logged: the
// lease lapses by itself.
func (r *Refresher) release(j *job, rerr *store.RefreshError) {
	callCtx, cancel := r.storeCall(j.saveCtx)
	defer cancel()
	if err := r.st.ReleaseLease(callCtx, j.lease, rerr); err != nil && !isConflict(err) {
		r.log.LogAttrs(callCtx, slog.LevelWarn, "refresh: release lease",
			slog.String("installation_id", j.cur.ID), slog.String("error", err.Error()))
	}
}

// storeCall bounds one store write by StoreTimeout.
func (r *Refresher) storeCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.StoreTimeout)
}

// isConflict reports whether err is the store refusing a write because the lease or version moved on,
// or refusing its arguments: not a sign that the store is unavailable, and not worth retrying.
func isConflict(err error) bool {
	return errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrLeaseHeld) ||
		errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid)
}

// complete saves tok under the lease, in at most saveAttempts attempts with saveBackoffs between them
// (budget.go). Store errors other than a conflict are retried: the token is already minted and losing
// it costs one of LiveChat's 25 tokens per user.
func (r *Refresher) complete(ctx context.Context, lease *store.Lease, inst *store.Installation, tok *livechat.Token) (*store.Installation, error) {
	g := grantOf(inst, tok)
	for attempt := 1; ; attempt++ {
		callCtx, cancel := r.storeCall(ctx)
		updated, err := r.st.CompleteRefresh(callCtx, lease, g)
		cancel()
		if err != nil && attempt > 1 && isConflict(err) {
			// An earlier attempt that timed out may have been applied after all: then the stored token
			// is ours.
			getCtx, cancelGet := r.storeCall(ctx)
			got, gerr := r.st.Get(getCtx, inst.ID)
			cancelGet()
			if gerr == nil && got.AccessToken == g.AccessToken {
				return got, nil
			}
		}
		if err == nil || isConflict(err) || attempt >= saveAttempts || ctx.Err() != nil {
			return updated, err
		}
		if sleep(ctx, jitter(saveBackoffs[attempt-1])) != nil {
			return nil, err
		}
	}
}

// grantOf is the grant to store for tok, keeping inst's fields LiveChat's answer left out.
func grantOf(inst *store.Installation, tok *livechat.Token) store.Grant {
	g := store.Grant{
		AccessToken:    tok.AccessToken,
		RefreshToken:   tok.RefreshToken,
		TokenType:      tok.TokenType,
		Scope:          tok.Scope,
		ExpiresAt:      tok.Expiry,
		OrganizationID: inst.OrganizationID,
		AccountID:      inst.AccountID,
		Region:         tok.Region,
	}
	if g.RefreshToken == "" {
		g.RefreshToken = inst.RefreshToken
	}
	if g.TokenType == "" {
		g.TokenType = inst.TokenType
	}
	if g.Scope == "" {
		g.Scope = inst.Scope
	}
	if g.Region == "" {
		g.Region = inst.Region
	}
	return g
}

// callWithRetry calls LiveChat's refresh for inst. In a pass (p != nil) it retries rate-limited and
// transient errors with exponential backoff and jitter while the budget allows, honouring Retry-After
// and the pass's global backoff; on demand (p == nil) it makes one call.
func (r *Refresher) callWithRetry(ctx context.Context, inst *store.Installation, budget time.Time, p *pass) (*livechat.Token, int, error) {
	var lastErr error
	attempts := 0
	for {
		if err := r.mayCall(ctx, budget, p); err != nil {
			if lastErr == nil {
				lastErr = err
			}
			return nil, attempts, lastErr
		}
		// Once sent, a call is not cancelled with the caller: LiveChat may mint the token even if we
		// hang up, and an answer we never read is a token lost (with rotating refresh tokens, the
		// installation's only valid one). The budget bounds it instead.
		callCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), budget)
		attempts++
		tok, err := r.lc.Refresh(callCtx, inst.RefreshToken)
		cancel()
		if err == nil {
			if p != nil {
				p.noteSuccess()
			}
			return tok, attempts, nil
		}
		lastErr = err
		class := livechat.Classify(err)
		if p == nil || (class != livechat.ClassTransient && class != livechat.ClassRateLimited) || ctx.Err() != nil {
			return nil, attempts, err
		}
		wait := backoff(r.opts.BaseBackoff, r.opts.MaxBackoff, attempts)
		if ra := livechat.RetryAfter(err); ra > wait {
			wait = ra
		}
		if class == livechat.ClassRateLimited {
			p.noteRateLimited(err)
		}
		if attempts >= r.opts.MaxAttempts || time.Now().Add(wait+r.opts.MinCallTime).After(budget) || p.stopped() {
			return nil, attempts, err
		}
		p.noteRetry()
		if sleep(ctx, wait) != nil {
			return nil, attempts, err
		}
	}
}

// mayCall waits for the pass's turn (global backoff, rate limit) and says whether a LiveChat call may
// start now: the caller is still there and the call can end within the budget.
func (r *Refresher) mayCall(ctx context.Context, budget time.Time, p *pass) error {
	if p != nil {
		if err := p.waitTurn(ctx, budget.Add(-r.opts.MinCallTime)); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up before this call: start nothing new.
		return err
	}
	left := time.Until(budget)
	if left <= 0 || (p != nil && left < r.opts.MinCallTime) {
		return errNoTime
	}
	return nil
}
