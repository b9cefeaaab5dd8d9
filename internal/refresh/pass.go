package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

// Reasons a pass stopped before it had refreshed everything that was due (Summary.StoppedReason).
const (
	// StopDeadline: too little time was left before the context's deadline (Options.SafetyMargin).
	StopDeadline = "deadline"
	// StopCanceled: the context was cancelled.
	StopCanceled = "canceled"
	// StopCircuitBreaker: several installations failed with misconfiguration; nothing was marked.
	StopCircuitBreaker = "circuit_breaker"
	// StopStoreUnavailable: the store failed repeatedly.
	StopStoreUnavailable = "store_unavailable"
)

// Summary is the outcome of one pass. It is logged, printed by `lcauth refresh` and turned into metrics.
type Summary struct {
	// Due counts the distinct installations the due index listed (expiring within the window).
	Due int `json:"due"`
	// Refreshed counts installations refreshed and saved by this pass.
	Refreshed int `json:"refreshed"`
	// Skipped counts installations another process was refreshing or had refreshed (lost races), or
	// that were deleted meanwhile. They were not touched.
	Skipped int `json:"skipped"`
	// ReauthorizationRequired counts installations marked reauthorization_required by this pass.
	ReauthorizationRequired int `json:"reauthorization_required"`
	// Failed counts installations whose refresh failed, by class (livechat.ErrorClass values, plus
	// "store"). They keep their tokens and are due again next pass.
	Failed map[string]int `json:"failed"`
	// Left counts installations listed as due on which LiveChat was not called: the pass stopped early
	// (deadline, cancellation, circuit breaker), or a pause after 429s outlasted the time left.
	Left int `json:"left"`
	// ListedAll is false when the pass stopped before reading the whole due index; then more than Left
	// installations may be waiting for the next pass.
	ListedAll bool `json:"listed_all"`
	// Retries counts LiveChat calls repeated after a rate-limited or transient error.
	Retries int `json:"retries"`
	// RateLimited counts 429-class answers from LiveChat.
	RateLimited int `json:"rate_limited"`
	// DurationMS is the pass's wall-clock duration in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// StoppedReason is empty when the pass went through everything, else one of the Stop* constants.
	StoppedReason string `json:"stopped_reason"`
	// PassFailed is true when the pass counts as failed (circuit breaker, store unavailable): RunPass
	// then also returns an error, and the Lambda invocation fails.
	PassFailed bool `json:"pass_failed"`
}

// FailedTotal sums Failed over every class.
func (s Summary) FailedTotal() int {
	n := 0
	for _, v := range s.Failed {
		n += v
	}
	return n
}

// pass is the state shared by the workers of one RunPass.
type pass struct {
	r *Refresher
	// stopAt is when no new refresh may start (deadline - SafetyMargin); zero without a deadline.
	stopAt time.Time
	// callDeadline is when every LiveChat call must have ended, leaving time to save its result; zero
	// without a deadline.
	callDeadline time.Time
	limiter      *rate.Limiter
	stopCh       chan struct{}

	mu             sync.Mutex
	sum            Summary
	stopReason     string
	stopErr        error
	gateUntil      time.Time
	burst429       int
	misconfig      int
	lastMisconfig  error
	storeFailures  int
	lastStoreError error
}

// RunPass refreshes every installation whose access token expires within Options.Window, each at most
// once, with bounded concurrency, and returns the pass's summary. It returns an error only when the pass
// counts as failed: the circuit breaker tripped (ErrCircuitOpen) or the store was unavailable
// (ErrStoreUnavailable). Running out of time is not a failure: what is left is reported and the next
// pass picks it up.
func (r *Refresher) RunPass(ctx context.Context) (Summary, error) {
	return r.RunShards(ctx, nil)
}

// AllShards lists every shard of the due index, for RunShards.
func AllShards() []int {
	out := make([]int, store.DueShards)
	for i := range out {
		out[i] = i
	}
	return out
}

// RunShards is RunPass over some shards of the due index only (nil: all of them): the unit of work when
// a pass is fanned out over several invocations, one or a few shards each. Passes over overlapping
// shards are safe (the lease protocol refreshes an installation once), just wasteful. It fails with an
// error wrapping store.ErrInvalid, before doing anything, when a shard is outside [0, store.DueShards).
func (r *Refresher) RunShards(ctx context.Context, shards []int) (Summary, error) {
	if shards == nil {
		shards = AllShards()
	}
	for _, sh := range shards {
		if sh < 0 || sh >= store.DueShards {
			return Summary{Failed: map[string]int{}}, fmt.Errorf("refresh: shard %d is outside [0, %d): %w", sh, store.DueShards, store.ErrInvalid)
		}
	}
	start := time.Now()
	p := &pass{
		r:       r,
		limiter: newLimiter(r.opts.Rate),
		stopCh:  make(chan struct{}),
		sum:     Summary{Failed: map[string]int{}},
	}
	if d, ok := ctx.Deadline(); ok {
		p.stopAt = d.Add(-r.opts.SafetyMargin)
		p.callDeadline = d.Add(-r.opts.SafetyMargin / 2)
	}
	before := r.opts.Now().Add(r.opts.Window)

	items := make(chan *store.Installation, r.opts.Concurrency)
	var wg sync.WaitGroup
	for range r.opts.Concurrency {
		wg.Go(func() {
			for inst := range items {
				if !p.mayStart(ctx) {
					p.addLeft(1)
					continue
				}
				// No lease is held while the pass is paused by a burst of 429s.
				if err := p.waitTurn(ctx, p.stopAt); err != nil {
					p.timeUp(ctx)
					p.addLeft(1)
					continue
				}
				p.record(r.refreshLeased(ctx, inst, p))
			}
		})
	}
	listedAll := p.list(ctx, before, shards, items)
	close(items)
	wg.Wait()

	p.mu.Lock()
	sum := p.sum
	sum.ListedAll = listedAll
	sum.StoppedReason = p.stopReason
	failErr := p.stopErr
	attempted := sum.Refreshed + sum.ReauthorizationRequired + sum.FailedTotal()
	if failErr == nil && p.misconfig > 0 && p.misconfig >= min(r.opts.MisconfigThreshold, attempted) {
		// Every installation this small pass tried failed as if our credentials were wrong.
		sum.StoppedReason = StopCircuitBreaker
		failErr = fmt.Errorf("%w: %d of %d installations: %w", ErrCircuitOpen, p.misconfig, attempted, p.lastMisconfig)
	}
	p.mu.Unlock()
	sum.PassFailed = failErr != nil
	sum.DurationMS = time.Since(start).Milliseconds()
	r.report(ctx, sum, failErr)
	return sum, failErr
}

// list streams the due installations of every shard into items, one page per shard in turn so that the
// earliest expiries of all shards come first. It reports whether it read the whole index.
func (p *pass) list(ctx context.Context, before time.Time, shards []int, items chan<- *store.Installation) bool {
	seen := make(map[string]struct{})
	tokens := make(map[int]string, len(shards))
	done := make(map[int]bool, len(shards))
	remaining := 0
	for _, shard := range shards {
		if _, dup := tokens[shard]; !dup {
			tokens[shard] = ""
			remaining++
		}
	}
	for remaining > 0 {
		for _, shard := range shards {
			if done[shard] {
				continue
			}
			if !p.mayStart(ctx) {
				return false
			}
			page, err := p.listPage(ctx, before, shard, tokens[shard])
			if err != nil {
				if ctx.Err() != nil {
					p.timeUp(ctx)
				} else {
					p.stop(StopStoreUnavailable, fmt.Errorf("%w: list due installations: %w", ErrStoreUnavailable, err))
				}
				return false
			}
			for _, inst := range page.Installations {
				if _, dup := seen[inst.ID]; dup {
					continue
				}
				seen[inst.ID] = struct{}{}
				p.addDue()
				if inst.Status != store.StatusActive {
					p.addSkipped()
					continue
				}
				select {
				case items <- inst:
				case <-p.stopCh:
					p.addLeft(1)
				}
			}
			tokens[shard] = page.Next
			if page.Next == "" {
				done[shard] = true
				remaining--
			}
		}
	}
	return true
}

// listPage reads one page of a shard, retrying store errors briefly.
func (p *pass) listPage(ctx context.Context, before time.Time, shard int, token string) (store.DuePage, error) {
	var err error
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var page store.DuePage
		page, err = p.r.st.ListDue(ctx, before, shard, token, p.r.opts.PageSize)
		if err == nil {
			return page, nil
		}
		if attempt >= 3 || ctx.Err() != nil {
			return store.DuePage{}, err
		}
		if sleep(ctx, jitter(delay)) != nil {
			return store.DuePage{}, err
		}
		delay *= 4
	}
}

// mayStart reports whether a new refresh may start, and records why not.
func (p *pass) mayStart(ctx context.Context) bool {
	if p.stopped() {
		return false
	}
	if ctx.Err() != nil || (!p.stopAt.IsZero() && !time.Now().Before(p.stopAt)) {
		p.timeUp(ctx)
		return false
	}
	return true
}

// stopped reports whether the pass has stopped starting new work.
func (p *pass) stopped() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

// timeUp stops the pass because its context is done or its deadline is near.
func (p *pass) timeUp(ctx context.Context) {
	if errors.Is(ctx.Err(), context.Canceled) {
		p.stop(StopCanceled, nil)
		return
	}
	p.stop(StopDeadline, nil)
}

// stop makes the pass start nothing new. The first reason wins; err non-nil makes the pass fail.
func (p *pass) stop(reason string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopReason != "" {
		return
	}
	p.stopReason, p.stopErr = reason, err
	close(p.stopCh)
}

// waitTurn waits until the pass's global backoff has passed and the rate limiter allows a call. It fails
// without waiting when that would be after latest (zero: no limit) or when the pass stopped.
func (p *pass) waitTurn(ctx context.Context, latest time.Time) error {
	p.mu.Lock()
	until := p.gateUntil
	p.mu.Unlock()
	if wait := time.Until(until); wait > 0 {
		if !latest.IsZero() && until.After(latest) {
			return errNoTime
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	if p.limiter == nil {
		return nil
	}
	res := p.limiter.Reserve()
	delay := res.Delay()
	if !latest.IsZero() && time.Now().Add(delay).After(latest) {
		res.Cancel()
		return errNoTime
	}
	if err := sleep(ctx, delay); err != nil {
		res.Cancel()
		return err
	}
	return nil
}

// errNoTime: the wait for a turn would end after the budget.
var errNoTime = errors.New("refresh: no time left to call LiveChat within the budget")

// noteRateLimited records a 429 and pushes the pass's global backoff out: exponential in the number of
// 429s since the last success, at least LiveChat's Retry-After, at most MaxGlobalBackoff.
func (p *pass) noteRateLimited(err error) {
	o := p.r.opts
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sum.RateLimited++
	p.burst429++
	wait := backoff(o.BaseBackoff, o.MaxGlobalBackoff, p.burst429)
	if ra := livechat.RetryAfter(err); ra > wait {
		wait = min(ra, o.MaxGlobalBackoff)
	}
	if until := time.Now().Add(wait); until.After(p.gateUntil) {
		p.gateUntil = until
	}
}

// noteSuccess ends a burst of 429s.
func (p *pass) noteSuccess() {
	p.mu.Lock()
	p.burst429 = 0
	p.mu.Unlock()
}

func (p *pass) noteRetry() {
	p.mu.Lock()
	p.sum.Retries++
	p.mu.Unlock()
}

func (p *pass) addDue() {
	p.mu.Lock()
	p.sum.Due++
	p.mu.Unlock()
}

func (p *pass) addSkipped() {
	p.mu.Lock()
	p.sum.Skipped++
	p.mu.Unlock()
}

func (p *pass) addLeft(n int) {
	p.mu.Lock()
	p.sum.Left += n
	p.mu.Unlock()
}

// record counts one installation's outcome and trips the circuit breakers.
func (p *pass) record(res result) {
	o := p.r.opts
	var stopReason string
	var stopErr error
	p.mu.Lock()
	switch res.kind {
	case outcomeRefreshed:
		p.sum.Refreshed++
	case outcomeLostRace, outcomeGone:
		p.sum.Skipped++
	case outcomeReauthorization:
		p.sum.ReauthorizationRequired++
	case outcomeNotStarted:
		p.sum.Left++
	case outcomeFailed:
		p.sum.Failed[res.class]++
		if res.class == string(livechat.ClassMisconfiguration) {
			p.misconfig++
			p.lastMisconfig = res.err
			if p.misconfig >= o.MisconfigThreshold {
				stopReason = StopCircuitBreaker
				stopErr = fmt.Errorf("%w: %d installations: %w", ErrCircuitOpen, p.misconfig, res.err)
			}
		}
	}
	if res.storeFailed {
		p.storeFailures++
		p.lastStoreError = res.err
		if p.storeFailures >= o.StoreFailureLimit && stopReason == "" {
			stopReason = StopStoreUnavailable
			stopErr = fmt.Errorf("%w: %d store calls in a row failed: %w", ErrStoreUnavailable, p.storeFailures, res.err)
		}
	} else if res.kind != outcomeFailed || res.class != classStore {
		p.storeFailures = 0
	}
	p.mu.Unlock()
	if stopReason != "" {
		p.stop(stopReason, stopErr)
	}
}

// report logs the summary and writes its metrics.
func (r *Refresher) report(ctx context.Context, sum Summary, failErr error) {
	level := slog.LevelInfo
	switch {
	case failErr != nil:
		level = slog.LevelError
	case sum.FailedTotal() > 0 || sum.Left > 0 || !sum.ListedAll || sum.ReauthorizationRequired > 0:
		level = slog.LevelWarn
	}
	failed := make([]any, 0, len(sum.Failed))
	for _, c := range slices.Sorted(maps.Keys(sum.Failed)) {
		failed = append(failed, slog.Int(c, sum.Failed[c]))
	}
	attrs := []slog.Attr{
		slog.Int("due", sum.Due),
		slog.Int("refreshed", sum.Refreshed),
		slog.Int("skipped", sum.Skipped),
		slog.Int("reauthorization_required", sum.ReauthorizationRequired),
		slog.Group("failed", failed...),
		slog.Int("left", sum.Left),
		slog.Bool("listed_all", sum.ListedAll),
		slog.Int("retries", sum.Retries),
		slog.Int("rate_limited", sum.RateLimited),
		slog.Int64("duration_ms", sum.DurationMS),
		slog.String("stopped_reason", sum.StoppedReason),
		slog.Bool("pass_failed", sum.PassFailed),
	}
	if failErr != nil {
		attrs = append(attrs, slog.String("error", failErr.Error()))
	}
	r.log.LogAttrs(ctx, level, "refresh pass", attrs...)
	r.emitPass(sum)
}
