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

// pass is the state shared by the stages of one RunPass.
type pass struct {
	r *Refresher
	// stopAt is when no new refresh may start (see RunShards); zero without a deadline.
	stopAt  time.Time
	limiter *rate.Limiter
	stopCh  chan struct{}
	// suspectCh is closed when the circuit breaker starts drawing probes (breaker.go).
	suspectCh chan struct{}

	mu             sync.Mutex
	sum            Summary
	stopReason     string
	stopErr        error
	gateUntil      time.Time
	burst429       int
	brk            breaker
	storeFailures  int
	lastStoreError error
}

// task is one listed installation on its way to a lease.
type task struct {
	inst  *store.Installation
	probe bool
}

// answered is a job whose LiveChat call ended, on its way to the save stage.
type answered struct {
	j *job
	c called
}

// RunPass refreshes every installation whose access token expires within Options.Window, each at most
// once, with Options.Concurrency LiveChat calls in flight, and returns the pass's summary. It returns an
// error only when the pass counts as failed: the circuit breaker tripped (ErrCircuitOpen) or the store
// was unavailable (ErrStoreUnavailable). Running out of time is not a failure: what is left is reported
// and the next pass picks it up.
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
//
// The pass is a pipeline, so that a LiveChat call slot never waits for the store:
//
//	list (due index) -> lease (StoreConcurrency writers) -> call (Concurrency slots) -> save (StoreConcurrency writers)
//
// Each stage hands over through a bounded channel (pipelineDepth x Concurrency places after the lease
// and call stages); a stage that cannot hand over waits,
// so a saturated store slows the pass down but never adds LiveChat calls. With a deadline, no lease is
// taken and no call starts later than SaveBudget + max(SafetyMargin/2, MinCallTime) before it, and every
// call ends early enough for its whole save budget (callEnd).
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
		r:         r,
		limiter:   newLimiter(r.opts.Rate),
		stopCh:    make(chan struct{}),
		suspectCh: make(chan struct{}),
		sum:       Summary{Failed: map[string]int{}},
	}
	if d, ok := ctx.Deadline(); ok {
		p.stopAt = d.Add(-r.opts.passReserve())
	}
	before := r.opts.Now().Add(r.opts.Window)

	tasks := make(chan task, r.opts.Concurrency)
	leased := make(chan *job, pipelineDepth*r.opts.Concurrency)
	done := make(chan answered, pipelineDepth*r.opts.Concurrency)
	var leasers, callers, savers sync.WaitGroup
	for range r.opts.StoreConcurrency {
		leasers.Go(func() { p.leaseStage(ctx, tasks, leased) })
		savers.Go(func() {
			for a := range done {
				p.record(r.finish(ctx, a.j, a.c, p))
			}
		})
	}
	for range r.opts.Concurrency {
		callers.Go(func() {
			for j := range leased {
				if j = p.relet(ctx, j); j != nil {
					done <- answered{j, r.call(ctx, j, p)}
				}
			}
		})
	}
	listedAll := p.list(ctx, before, shards, tasks)
	close(tasks)
	leasers.Wait()
	close(leased)
	callers.Wait()
	close(done)
	savers.Wait()

	p.mu.Lock()
	sum := p.sum
	sum.ListedAll = listedAll
	sum.StoppedReason = p.stopReason
	failErr := p.stopErr
	if failErr == nil {
		if err := p.brk.atEnd(r.opts, sum); err != nil {
			// Every installation this small pass tried failed as if our credentials were wrong.
			sum.StoppedReason = StopCircuitBreaker
			failErr = err
		}
	}
	p.mu.Unlock()
	sum.PassFailed = failErr != nil
	sum.DurationMS = time.Since(start).Milliseconds()
	r.report(ctx, sum, failErr)
	return sum, failErr
}

// leaseStage takes the lease of each listed installation, ahead of the call slots.
func (p *pass) leaseStage(ctx context.Context, tasks <-chan task, leased chan<- *job) {
	for t := range tasks {
		if !p.mayStart(ctx) {
			p.addLeft(1)
			continue
		}
		// No lease is taken while the pass is paused by a burst of 429s.
		if err := p.waitGate(ctx, p.stopAt); err != nil {
			p.timeUp(ctx)
			p.addLeft(1)
			continue
		}
		j, res := p.r.acquire(ctx, t.inst)
		if j == nil {
			res.probe = t.probe
			p.record(res)
			continue
		}
		j.probe = t.probe
		leased <- j
	}
}

// relet renews the lease of a job that waited for its call slot, or must wait for the end of a pause
// after 429s, until too little of its call budget is left: it gives the lease back, waits out the pause,
// and takes a new one (two more writes, on this rare path only). It returns the job to call, or nil
// when the installation's outcome was recorded instead (lost race, pass stopped, ...).
func (p *pass) relet(ctx context.Context, j *job) *job {
	p.mu.Lock()
	ready := maxTime(time.Now(), p.gateUntil)
	p.mu.Unlock()
	if j.callEnd.Sub(ready) >= p.r.opts.MinCallTime {
		return j
	}
	p.r.release(j, nil)
	j.cancel()
	probe := j.probe
	if err := p.waitGate(ctx, p.stopAt); err != nil {
		p.timeUp(ctx)
	}
	if !p.mayStart(ctx) {
		p.record(result{kind: outcomeNotStarted, probe: probe})
		return nil
	}
	nj, res := p.r.acquire(ctx, j.cur)
	if nj == nil {
		res.probe = probe
		p.record(res)
		return nil
	}
	nj.probe = probe
	return nj
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// list streams the due installations of every shard into tasks, one page per shard in turn so that the
// earliest expiries of all shards come first. When the circuit breaker starts probing, it reads the
// rest of the index, shuffles it and sends it on as probes. It reports whether it read the whole index.
func (p *pass) list(ctx context.Context, before time.Time, shards []int, tasks chan<- task) bool {
	l := newLister(p, before, shards)
	for {
		select {
		case <-p.suspectCh:
			return p.probe(ctx, l, tasks)
		default:
		}
		inst, ok := l.next(ctx)
		if !ok {
			return l.all
		}
		p.send(tasks, task{inst: inst})
	}
}

// send hands t to the lease stage, or counts it as left when the pass stops first.
func (p *pass) send(tasks chan<- task, t task) {
	select {
	case tasks <- t:
	case <-p.stopCh:
		p.addLeft(1)
	}
}

// lister walks the due index of some shards, page by page, skipping duplicates and inactive items.
type lister struct {
	p       *pass
	before  time.Time
	shards  []int
	seen    map[string]struct{}
	tokens  map[int]string
	done    map[int]bool
	left    int
	page    []*store.Installation
	shard   int // index into shards of the next page to read
	all     bool
	stopped bool
}

func newLister(p *pass, before time.Time, shards []int) *lister {
	l := &lister{p: p, before: before, shards: shards, seen: map[string]struct{}{},
		tokens: make(map[int]string, len(shards)), done: make(map[int]bool, len(shards))}
	for _, shard := range shards {
		if _, dup := l.tokens[shard]; !dup {
			l.tokens[shard] = ""
			l.left++
		}
	}
	return l
}

// next returns the next active due installation, reading pages as needed; false at the end of the
// index (l.all is then true) or when the pass stops.
func (l *lister) next(ctx context.Context) (*store.Installation, bool) {
	for {
		for len(l.page) > 0 {
			inst := l.page[0]
			l.page = l.page[1:]
			if _, dup := l.seen[inst.ID]; dup {
				continue
			}
			l.seen[inst.ID] = struct{}{}
			l.p.addDue()
			if inst.Status != store.StatusActive {
				l.p.addSkipped()
				continue
			}
			return inst, true
		}
		if l.left == 0 {
			l.all = true
			return nil, false
		}
		if l.stopped || !l.readPage(ctx) {
			l.stopped = true
			return nil, false
		}
	}
}

// readPage reads the next page of the next shard that has one, in turn.
func (l *lister) readPage(ctx context.Context) bool {
	for l.done[l.shards[l.shard]] {
		l.shard = (l.shard + 1) % len(l.shards)
	}
	shard := l.shards[l.shard]
	l.shard = (l.shard + 1) % len(l.shards)
	if !l.p.mayStart(ctx) {
		return false
	}
	page, err := l.p.listPage(ctx, l.before, shard, l.tokens[shard])
	if err != nil {
		if ctx.Err() != nil {
			l.p.timeUp(ctx)
		} else {
			l.p.stop(StopStoreUnavailable, fmt.Errorf("%w: list due installations: %w", ErrStoreUnavailable, err))
		}
		return false
	}
	l.page = page.Installations
	l.tokens[shard] = page.Next
	if page.Next == "" {
		l.done[shard] = true
		l.left--
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

// waitGate waits until the pass's global backoff (after a burst of 429s) has passed. It fails without
// waiting when that would be after latest (zero: no limit).
func (p *pass) waitGate(ctx context.Context, latest time.Time) error {
	p.mu.Lock()
	until := p.gateUntil
	p.mu.Unlock()
	if wait := time.Until(until); wait > 0 {
		if !latest.IsZero() && until.After(latest) {
			return errNoTime
		}
		return sleep(ctx, wait)
	}
	return nil
}

// waitTurn waits until the pass's global backoff has passed and the rate limiter allows a call. It fails
// without waiting when that would be after latest (zero: no limit).
func (p *pass) waitTurn(ctx context.Context, latest time.Time) error {
	if err := p.waitGate(ctx, latest); err != nil {
		return err
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

// noteSuccess ends a burst of 429s, and proves our client credentials right for this pass.
func (p *pass) noteSuccess() {
	p.mu.Lock()
	p.burst429 = 0
	p.brk.proven = true
	p.mu.Unlock()
}

// proven reports whether a LiveChat refresh succeeded in this pass (our credentials work).
func (p *pass) proven() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.brk.proven
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
	}
	suspect := false
	if res.kind == outcomeFailed && res.class == string(livechat.ClassMisconfiguration) {
		var err error
		suspect, err = p.brk.misconfigured(o, res)
		if err != nil {
			stopReason, stopErr = StopCircuitBreaker, err
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
	if suspect {
		close(p.suspectCh)
	}
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
