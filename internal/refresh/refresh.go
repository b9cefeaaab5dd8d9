package refresh

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

// Store is the part of the installation store the refresher uses. *store.Store implements it; tests may
// wrap it to force interleavings.
type Store interface {
	Get(ctx context.Context, id string) (*store.Installation, error)
	ListDue(ctx context.Context, before time.Time, shard int, pageToken string, limit int) (store.DuePage, error)
	AcquireLease(ctx context.Context, id string, version int64, owner string, ttl time.Duration) (*store.Installation, *store.Lease, error)
	CompleteRefresh(ctx context.Context, l *store.Lease, g store.Grant) (*store.Installation, error)
	ReleaseLease(ctx context.Context, l *store.Lease, refreshErr *store.RefreshError) error
	MarkReauthorizationRequired(ctx context.Context, l *store.Lease, reason string) (*store.Installation, error)
}

// TokenClient is the LiveChat call the refresher makes. *livechat.Client implements it; its errors must
// be classifiable by livechat.Classify.
type TokenClient interface {
	Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error)
}

var (
	_ Store       = (*store.Store)(nil)
	_ TokenClient = (*livechat.Client)(nil)
)

// ErrReauthorizationRequired means the installation's grant is gone (LiveChat answered invalid_grant or
// missing_grant, now or earlier): the user must install the app again. Errors returned with it also wrap
// the LiveChat error when there was one, so livechat.Classify still works on them.
var ErrReauthorizationRequired = errors.New("refresh: installation needs re-authorization")

// ErrRefreshInProgress means another process held the installation's lease for longer than
// RefreshInstallation was willing to wait for its result. Retrying a little later is safe.
var ErrRefreshInProgress = errors.New("refresh: another refresh of this installation is still in progress")

// ErrCircuitOpen is returned by RunPass when several installations failed with errors that point at our
// own configuration (wrong client secret or id): the pass stopped without marking anything.
var ErrCircuitOpen = errors.New("refresh: pass stopped: LiveChat rejected our client credentials (circuit breaker)")

// ErrStoreUnavailable is returned by RunPass when the store could not be read or written reliably.
var ErrStoreUnavailable = errors.New("refresh: pass stopped: store unavailable")

// Defaults for the zero fields of Options.
const (
	DefaultWindow             = 60 * time.Minute
	DefaultConcurrency        = 16
	DefaultLeaseTTL           = 30 * time.Second
	DefaultWaitForOther       = 3 * time.Second
	DefaultSafetyMargin       = 10 * time.Second
	DefaultMaxAttempts        = 4
	DefaultBaseBackoff        = 200 * time.Millisecond
	DefaultMaxBackoff         = 5 * time.Second
	DefaultMaxGlobalBackoff   = 30 * time.Second
	DefaultMisconfigThreshold = 3
	DefaultStoreFailureLimit  = 5
	DefaultPageSize           = 100
	DefaultStoreTimeout       = 5 * time.Second
	DefaultMinCallTime        = 2 * time.Second
)

// Options tune a Refresher. The zero value of every field means its default.
type Options struct {
	// Window: a pass refreshes the installations whose access token expires within it (default 60m).
	Window time.Duration
	// Concurrency bounds the refreshes in flight in one pass (default 16).
	Concurrency int
	// Rate limits LiveChat token calls per second in one pass, retries included; 0 means no limit.
	Rate float64
	// LeaseTTL is how long a lease is held at most (default 30s). A refresher never starts a LiveChat
	// call that could outlive its lease, so a crashed holder blocks an installation for at most this long.
	LeaseTTL time.Duration
	// WaitForOther bounds how long RefreshInstallation waits for another holder's result (default 3s).
	WaitForOther time.Duration
	// SafetyMargin: a pass starts no new refresh when less than this remains before its context's
	// deadline (default 10s); in-flight refreshes finish inside that margin.
	SafetyMargin time.Duration
	// MaxAttempts bounds LiveChat calls per installation per pass on transient errors (default 4).
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff, with jitter, between attempts (defaults
	// 200ms and 5s). A Retry-After from LiveChat is honoured when it is longer.
	BaseBackoff, MaxBackoff time.Duration
	// MaxGlobalBackoff caps the pause of the whole pass after a burst of 429s (default 30s).
	MaxGlobalBackoff time.Duration
	// MisconfigThreshold: a pass stops when this many installations failed with misconfiguration
	// (default 3; a pass with fewer due installations fails when all of them did).
	MisconfigThreshold int
	// StoreFailureLimit: a pass stops when this many store calls in a row failed (default 5).
	StoreFailureLimit int
	// PageSize is the ListDue page size (default 100).
	PageSize int
	// StoreTimeout bounds each store write after LiveChat answered (default 5s; saving a minted token
	// is tried up to 3 times). Those writes run even if the caller's context is cancelled: a token
	// LiveChat has minted must be saved.
	StoreTimeout time.Duration
	// MinCallTime: no LiveChat call is started with less time than this left before the lease or pass
	// budget ends (default 2s).
	MinCallTime time.Duration
	// Now is the business clock (token expiry, due window, lease expiry); default time.Now. It must agree
	// with the store's clock. Deadlines and backoff always use the real clock.
	Now func() time.Time
	// Logger receives the per-installation and summary lines; default slog.Default().
	Logger *slog.Logger
	// Metrics receives CloudWatch Embedded Metric Format lines, one JSON object per line; nil disables
	// them. In Lambda this is stdout.
	Metrics io.Writer
	// MetricsService is the value of the metrics' one dimension, MetricDimension (default MetricService).
	// Each stack sets its own name (LCAUTH_METRICS_SERVICE), so two stacks never share an alarm.
	MetricsService string
	// OwnerPrefix prefixes lease owners (e.g. "refresh" or "chats") to tell holders apart in the table;
	// a random per-process suffix and a counter make every owner unique.
	OwnerPrefix string
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Window, DefaultWindow)
	def(&o.LeaseTTL, DefaultLeaseTTL)
	def(&o.WaitForOther, DefaultWaitForOther)
	def(&o.SafetyMargin, DefaultSafetyMargin)
	def(&o.BaseBackoff, DefaultBaseBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.MaxGlobalBackoff, DefaultMaxGlobalBackoff)
	def(&o.StoreTimeout, DefaultStoreTimeout)
	def(&o.MinCallTime, DefaultMinCallTime)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MisconfigThreshold <= 0 {
		o.MisconfigThreshold = DefaultMisconfigThreshold
	}
	if o.StoreFailureLimit <= 0 {
		o.StoreFailureLimit = DefaultStoreFailureLimit
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Rate < 0 {
		o.Rate = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OwnerPrefix == "" {
		o.OwnerPrefix = "lcauth"
	}
	return o
}

// Refresher refreshes installations' tokens through the store's lease protocol. It is safe for
// concurrent use: /chats requests and a pass may share one.
type Refresher struct {
	st    Store
	lc    TokenClient
	opts  Options
	log   *slog.Logger
	owner string
	seq   atomic.Uint64
	emfMu sync.Mutex
}

// New returns a Refresher over st and lc.
func New(st Store, lc TokenClient, opts Options) *Refresher {
	opts = opts.withDefaults()
	var b [6]byte
	_, _ = cryptorand.Read(b[:])
	return &Refresher{
		st:    st,
		lc:    lc,
		opts:  opts,
		log:   opts.Logger,
		owner: opts.OwnerPrefix + "-" + hex.EncodeToString(b[:]),
	}
}

// Options returns the effective options, defaults filled in.
func (r *Refresher) Options() Options { return r.opts }

// newOwner returns a lease owner unique to this process and call.
func (r *Refresher) newOwner() string {
	return fmt.Sprintf("%s-%d", r.owner, r.seq.Add(1))
}

// RefreshInstallation refreshes inst's tokens now, through the lease protocol, and returns the stored
// installation with the new token. The caller decides that a refresh is needed (token about to expire,
// or rejected by the Agent API); inst is the version it read.
//
// If another process holds the lease, or already refreshed since inst was read, it does not refresh
// again: it waits (at most Options.WaitForOther) for that result and returns the newer installation.
//
// Errors: ErrReauthorizationRequired (with the LiveChat error wrapped when there is one) when the
// installation is, or becomes, reauthorization_required; the LiveChat error wrapped (livechat.Classify
// works) for misconfiguration, rate limits and transient failures; ErrRefreshInProgress when the other
// holder did not finish in time; store errors (store.ErrNotFound, ...) wrapped.
func (r *Refresher) RefreshInstallation(ctx context.Context, inst *store.Installation) (*store.Installation, error) {
	if inst == nil {
		return nil, errors.New("refresh: nil installation")
	}
	if inst.Status == store.StatusReauthorizationRequired {
		return inst, fmt.Errorf("refresh: installation %s: %w", inst.ID, ErrReauthorizationRequired)
	}
	cur := inst
	// Two rounds at most: our own attempt, and, if the holder we waited for failed without refreshing,
	// one attempt on the version it left. Never a second successful refresh of the same token.
	for round := 0; ; round++ {
		res := r.refreshLeased(ctx, cur, nil)
		switch res.kind {
		case outcomeRefreshed:
			return res.inst, nil
		case outcomeReauthorization, outcomeFailed:
			return res.inst, res.err
		case outcomeGone, outcomeNotStarted:
			return nil, res.err
		}
		// Lost the race: wait for the winner's result.
		newer, err := r.awaitOther(ctx, cur)
		if err != nil {
			return nil, err
		}
		if newer.Status == store.StatusReauthorizationRequired {
			return newer, fmt.Errorf("refresh: installation %s: %w", newer.ID, ErrReauthorizationRequired)
		}
		if refreshedSince(newer, cur) {
			return newer, nil
		}
		if round >= 1 {
			return nil, fmt.Errorf("refresh: installation %s: %w", cur.ID, ErrRefreshInProgress)
		}
		cur = newer
	}
}

// refreshedSince reports whether newer carries a token obtained after old was read: a refresh or a
// reinstall moved the expiry forward.
func refreshedSince(newer, old *store.Installation) bool {
	return newer.ExpiresAt.After(old.ExpiresAt) || newer.LastRefreshedAt.After(old.LastRefreshedAt)
}

// leaseHeld reports whether someone holds inst's lease now.
func (r *Refresher) leaseHeld(inst *store.Installation) bool {
	return inst.LeaseOwner != "" && inst.LeaseExpiresAt.After(r.opts.Now())
}

// awaitOther polls the installation until no one holds its lease, with a short growing backoff, for at
// most WaitForOther.
func (r *Refresher) awaitOther(ctx context.Context, old *store.Installation) (*store.Installation, error) {
	deadline := time.Now().Add(r.opts.WaitForOther)
	delay := 25 * time.Millisecond
	for {
		got, err := r.st.Get(ctx, old.ID)
		if err != nil {
			return nil, fmt.Errorf("refresh: installation %s: wait for concurrent refresh: %w", old.ID, err)
		}
		if !r.leaseHeld(got) {
			return got, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, fmt.Errorf("refresh: installation %s: %w", old.ID, ErrRefreshInProgress)
		}
		if err := sleep(ctx, min(jitter(delay), remaining)); err != nil {
			return nil, fmt.Errorf("refresh: installation %s: wait for concurrent refresh: %w", old.ID, err)
		}
		delay = min(delay*2, 400*time.Millisecond)
	}
}

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
}

// refreshLeased takes inst's lease, calls LiveChat (retrying transient errors when p is a pass) and
// saves the outcome. p is nil for RefreshInstallation.
func (r *Refresher) refreshLeased(ctx context.Context, inst *store.Installation, p *pass) result {
	if err := ctx.Err(); err != nil {
		return result{kind: outcomeNotStarted, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
	}
	owner := r.newOwner()
	acquiredAt := time.Now()
	// Not cancelled with the caller either: a lease taken by a write whose answer we dropped would
	// block the installation until it lapses.
	saveCtx, cancelSave := r.saveContext(ctx)
	defer cancelSave()
	acquireCtx, cancelAcquire := r.storeCall(saveCtx)
	cur, lease, err := r.st.AcquireLease(acquireCtx, inst.ID, inst.Version, owner, r.opts.LeaseTTL)
	cancelAcquire()
	switch {
	case errors.Is(err, store.ErrLeaseHeld), errors.Is(err, store.ErrVersionConflict):
		return result{kind: outcomeLostRace}
	case errors.Is(err, store.ErrNotFound):
		return result{kind: outcomeGone, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
	case err != nil:
		return result{kind: outcomeFailed, class: classStore, storeFailed: true,
			err: fmt.Errorf("refresh: installation %s: acquire lease: %w", inst.ID, err)}
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up while we took the lease: give it back untouched.
		callCtx, cancelCall := r.storeCall(saveCtx)
		_ = r.st.ReleaseLease(callCtx, lease, nil)
		cancelCall()
		return result{kind: outcomeNotStarted, err: fmt.Errorf("refresh: installation %s: %w", inst.ID, err)}
	}
	// A LiveChat call must end early enough for the result to be saved under the lease.
	budget := acquiredAt.Add(r.opts.LeaseTTL - r.opts.StoreTimeout)
	switch d, ok := ctx.Deadline(); {
	case p != nil && !p.callDeadline.IsZero() && p.callDeadline.Before(budget):
		// A pass keeps half its SafetyMargin for the writes of the refreshes in flight.
		budget = p.callDeadline
	case p == nil && ok && d.Add(-saveReserve).Before(budget):
		// A caller with a deadline (a /chats request) must still be there to save what LiveChat minted.
		budget = d.Add(-saveReserve)
	}
	if cur.Status == store.StatusReauthorizationRequired {
		// Marked between our read and the lease: nothing to refresh.
		callCtx, cancelCall := r.storeCall(saveCtx)
		_ = r.st.ReleaseLease(callCtx, lease, nil)
		cancelCall()
		return result{kind: outcomeReauthorization, inst: cur,
			err: fmt.Errorf("refresh: installation %s: %w", cur.ID, ErrReauthorizationRequired)}
	}

	tok, attempts, callErr := r.callWithRetry(ctx, cur, budget, p)
	if attempts == 0 {
		// LiveChat was never called (the caller gave up, or the pass's backoff outlasts the budget):
		// give the lease back untouched; the next pass takes it from here.
		callCtx, cancelCall := r.storeCall(saveCtx)
		_ = r.st.ReleaseLease(callCtx, lease, nil)
		cancelCall()
		return result{kind: outcomeNotStarted, err: fmt.Errorf("refresh: installation %s: %w", cur.ID, callErr)}
	}
	if callErr == nil {
		updated, err := r.complete(saveCtx, lease, cur, tok)
		if err != nil && isConflict(err) {
			// The installation moved on under us (a reinstall, or our lease lapsed and another holder
			// took it): its newer state wins and our token is discarded, as the version check intends.
			r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: refreshed token discarded, installation changed meanwhile",
				slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
				slog.String("error", err.Error()))
			if errors.Is(err, store.ErrNotFound) {
				return result{kind: outcomeGone, attempts: attempts, err: fmt.Errorf("refresh: installation %s: %w", cur.ID, err)}
			}
			return result{kind: outcomeLostRace, attempts: attempts}
		}
		if err != nil {
			// LiveChat minted a token we could not save. The old refresh token usually stays valid
			// (LiveChat does not rotate them for server-side apps), so the next pass can try again.
			r.log.LogAttrs(ctx, slog.LevelError, "refresh: token refreshed at LiveChat but not saved",
				slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
				slog.String("error", err.Error()))
			return result{kind: outcomeFailed, class: classStore, attempts: attempts, storeFailed: true,
				err: fmt.Errorf("refresh: installation %s: save refreshed token: %w", cur.ID, err)}
		}
		r.log.LogAttrs(ctx, slog.LevelDebug, "refresh: token refreshed",
			slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
			slog.Time("expires_at", updated.ExpiresAt), slog.Int("attempts", attempts))
		return result{kind: outcomeRefreshed, inst: updated, attempts: attempts}
	}

	class := livechat.Classify(callErr)
	if class == livechat.ClassReauthorization {
		reason := "livechat: " + string(class)
		var te *livechat.TokenError
		if errors.As(callErr, &te) && te.Code != "" {
			reason = "livechat: " + te.Code
		}
		callCtx, cancelCall := r.storeCall(saveCtx)
		marked, err := r.st.MarkReauthorizationRequired(callCtx, lease, reason)
		cancelCall()
		if err != nil {
			return result{kind: outcomeFailed, class: classStore, attempts: attempts, storeFailed: !isConflict(err),
				err: fmt.Errorf("refresh: installation %s: mark reauthorization required: %w", cur.ID, err)}
		}
		r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: installation needs re-authorization",
			slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
			slog.String("reason", reason))
		if p == nil {
			// A pass counts these in its summary; an on-demand mark is counted here.
			r.emitReauthorization()
		}
		return result{kind: outcomeReauthorization, inst: marked, attempts: attempts,
			err: fmt.Errorf("refresh: installation %s: %w: %w", cur.ID, ErrReauthorizationRequired, callErr)}
	}

	// Misconfiguration, rate limit, transient or other: tokens kept, the error recorded for operators.
	// A cancelled caller is not the installation's problem, so that is not recorded.
	var rerr *store.RefreshError
	if ctx.Err() == nil || class != livechat.ClassTransient {
		rerr = &store.RefreshError{Class: string(class), Message: callErr.Error(), At: r.opts.Now()}
	}
	callCtx, cancelCall := r.storeCall(saveCtx)
	defer cancelCall()
	if err := r.st.ReleaseLease(callCtx, lease, rerr); err != nil && !isConflict(err) {
		// The lease expires by itself; the LiveChat error is what the caller needs to see.
		r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: release lease",
			slog.String("installation_id", cur.ID), slog.String("error", err.Error()))
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, "refresh: refresh failed",
		slog.String("installation_id", cur.ID), slog.String("organization_id", cur.OrganizationID),
		slog.String("class", string(class)), slog.Int("attempts", attempts), slog.String("error", callErr.Error()))
	return result{kind: outcomeFailed, class: string(class), attempts: attempts,
		err: fmt.Errorf("refresh: installation %s: %w", cur.ID, callErr)}
}

// saveReserve is the time kept, before a caller's deadline, for the store write that follows a LiveChat
// answer (one conditional UpdateItem: milliseconds, seconds at worst).
const saveReserve = time.Second

// saveContext is the context of the store writes that follow a LiveChat answer: not cancelled with the
// caller (a minted token must be saved) but bounded by the caller's deadline, past which nobody waits
// for the answer (a Lambda is frozen; a pass keeps half its SafetyMargin for these writes). Each write
// has its own StoreTimeout on top (storeCall).
func (r *Refresher) saveContext(ctx context.Context) (context.Context, context.CancelFunc) {
	c := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(c, d)
	}
	return context.WithCancel(c)
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

// complete saves tok under the lease. Store errors other than a conflict are retried briefly: the token
// is already minted and losing it costs one of LiveChat's 25 tokens per user.
func (r *Refresher) complete(ctx context.Context, lease *store.Lease, inst *store.Installation, tok *livechat.Token) (*store.Installation, error) {
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
	delay := 50 * time.Millisecond
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
		if err == nil || isConflict(err) || attempt >= 3 || ctx.Err() != nil {
			return updated, err
		}
		if sleep(ctx, jitter(delay)) != nil {
			return nil, err
		}
		delay *= 4
	}
}

// callWithRetry calls LiveChat's refresh for inst. In a pass (p != nil) it retries rate-limited and
// transient errors with exponential backoff and jitter while the budget allows, honouring Retry-After
// and the pass's global backoff; on demand (p == nil) it makes one call.
func (r *Refresher) callWithRetry(ctx context.Context, inst *store.Installation, budget time.Time, p *pass) (*livechat.Token, int, error) {
	var lastErr error
	attempts := 0
	for {
		if p != nil {
			if err := p.waitTurn(ctx, budget.Add(-r.opts.MinCallTime)); err != nil {
				if lastErr == nil {
					lastErr = err
				}
				return nil, attempts, lastErr
			}
		}
		if err := ctx.Err(); err != nil {
			// The caller gave up before this call: start nothing new.
			if lastErr == nil {
				lastErr = err
			}
			return nil, attempts, lastErr
		}
		if !time.Now().Before(budget) {
			if lastErr == nil {
				lastErr = errNoTime
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

// backoff is the exponential backoff before retry number attempt (1-based), with jitter.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return jitter(min(d, max))
}

// jitter returns a duration in [d/2, d], so that many waiters do not wake up together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newLimiter returns the pass's rate limiter, or nil when there is no limit.
func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}
