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
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"lcauth/internal/emf"
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

// ErrCircuitOpen is returned by RunPass when the pass found evidence that our own client credentials are
// wrong (no successful refresh among many misconfiguration-class answers, see the breaker in
// breaker.go): the pass stopped without marking anything.
var ErrCircuitOpen = errors.New("refresh: pass stopped: LiveChat rejected our client credentials (circuit breaker)")

// ErrStoreUnavailable is returned by RunPass when the store could not be read or written reliably.
var ErrStoreUnavailable = errors.New("refresh: pass stopped: store unavailable")

// Defaults for the zero fields of Options.
const (
	DefaultWindow      = 60 * time.Minute
	DefaultConcurrency = 16
	DefaultCallBudget  = 15 * time.Second
	// DefaultLeaseTTL is the lease of the default options: DefaultCallBudget plus the save budget of
	// DefaultStoreTimeout plus slack (see Options.LeaseTTL).
	DefaultLeaseTTL           = DefaultCallBudget + saveAttempts*DefaultStoreTimeout + saveBackoffTotal + leaseSlack
	DefaultWaitForOther       = 3 * time.Second
	DefaultSafetyMargin       = 10 * time.Second
	DefaultMaxAttempts        = 4
	DefaultBaseBackoff        = 200 * time.Millisecond
	DefaultMaxBackoff         = 5 * time.Second
	DefaultMaxGlobalBackoff   = 30 * time.Second
	DefaultMisconfigThreshold = 20
	DefaultMisconfigProbes    = 20
	DefaultDeadTokenStrikes   = 3
	DefaultDeadTokenMinSpan   = 30 * time.Minute
	DefaultStoreFailureLimit  = 5
	DefaultPageSize           = 100
	DefaultStoreTimeout       = 5 * time.Second
	DefaultMinCallTime        = 2 * time.Second
)

// Options tune a Refresher. The zero value of every field means its default.
type Options struct {
	// Window: a pass refreshes the installations whose access token expires within it (default 60m).
	Window time.Duration
	// Concurrency is the number of LiveChat token calls a pass keeps in flight while work remains
	// (default 16; LCAUTH_REFRESH_CONCURRENCY). Leases are taken ahead of the call slots and results
	// saved after a slot is freed, so a slot never waits for the store.
	Concurrency int
	// StoreConcurrency bounds the store writes in flight in each of a pass's two store stages: lease
	// writes ahead of the calls, and saves (or releases) after them (default: Concurrency). At most
	// StoreConcurrency + 2 x Concurrency leases wait for a call slot.
	StoreConcurrency int
	// Rate limits LiveChat token calls per second in one pass, retries included; 0 means no limit.
	Rate float64
	// CallBudget bounds the LiveChat calls (retries included) made under one lease, from the moment the
	// lease is taken (default 15s).
	CallBudget time.Duration
	// LeaseTTL is how long a lease is held at most. It is derived, never chosen alone: at least
	// CallBudget + SaveBudget (every save attempt at its StoreTimeout, with the backoff between them) +
	// a second of clock slack, so everything that can happen under a lease happens before it lapses. A
	// larger value is kept (and then lengthens the call budget). A crashed holder blocks an installation
	// for at most this long.
	LeaseTTL time.Duration
	// WaitForOther bounds how long RefreshInstallation waits for another holder's result (default 3s).
	WaitForOther time.Duration
	// SafetyMargin: a pass takes no lease and starts no LiveChat call later than SaveBudget +
	// max(SafetyMargin/2, MinCallTime) before its context's deadline, so that its last calls have at
	// least half of it and their saves their whole budget (default 10s).
	SafetyMargin time.Duration
	// MaxAttempts bounds LiveChat calls per installation per pass on transient errors (default 4).
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff, with jitter, between attempts (defaults
	// 200ms and 5s). A Retry-After from LiveChat is honoured when it is longer.
	BaseBackoff, MaxBackoff time.Duration
	// MaxGlobalBackoff caps the pause of the whole pass after a burst of 429s (default 30s).
	MaxGlobalBackoff time.Duration
	// MisconfigThreshold and MisconfigProbes shape the circuit breaker (breaker.go): after
	// MisconfigThreshold misconfiguration-class failures (unauthorized_client, invalid_client) with no
	// successful refresh in the pass (default 20), the rest of the due index is read and shuffled, and
	// the pass stops only if MisconfigProbes more of those, drawn at random, fail alike (default 20).
	// A successful refresh closes the breaker for the rest of the pass.
	MisconfigThreshold, MisconfigProbes int
	// DeadTokenStrikes and DeadTokenMinSpan: an installation whose refresh LiveChat refused with
	// unauthorized_client / invalid_client in DeadTokenStrikes passes (default 3) that each also
	// refreshed another installation before it, the first and the last at least DeadTokenMinSpan apart
	// (default 30m), is marked reauthorization_required with reason refresh_token_not_found.
	DeadTokenStrikes int
	DeadTokenMinSpan time.Duration
	// StoreFailureLimit: a pass stops when this many store calls in a row failed (default 5).
	StoreFailureLimit int
	// PageSize is the ListDue page size (default 100).
	PageSize int
	// StoreTimeout bounds each store write (default 5s; saving a minted token is tried up to
	// saveAttempts times). The writes after a LiveChat answer run even if the caller's context is
	// cancelled: a token LiveChat has minted must be saved.
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
	// MetricsService is the value of the metrics' one dimension, emf.Dimension (default emf.DefaultService).
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
	def(&o.DeadTokenMinSpan, DefaultDeadTokenMinSpan)
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
	if o.StoreConcurrency <= 0 {
		o.StoreConcurrency = o.Concurrency
	}
	if o.MisconfigThreshold <= 0 {
		o.MisconfigThreshold = DefaultMisconfigThreshold
	}
	if o.MisconfigProbes <= 0 {
		o.MisconfigProbes = DefaultMisconfigProbes
	}
	if o.DeadTokenStrikes <= 0 {
		o.DeadTokenStrikes = DefaultDeadTokenStrikes
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
	o.deriveLease()
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
	emf   *emf.Writer
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
		emf:   emf.New(opts.Metrics, opts.MetricsService),
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
