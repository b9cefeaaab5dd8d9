package refresh

// The misconfiguration circuit breaker. LiveChat answers unauthorized_client both for one
// installation's lost refresh token (uninstalled app, revoked grant, evicted by the 25-token limit) and
// for a wrong client secret (every installation at once), so one such answer, or many, says nothing
// alone. The pass stops for misconfiguration only on evidence that the credentials are wrong:
//
//  1. No LiveChat refresh has succeeded in the pass: a single success proves the credentials, and the
//     breaker stays closed for the rest of the pass (the failing installations are then dead refresh
//     tokens, see Options.DeadTokenStrikes).
//  2. At least MisconfigThreshold (20) installations failed with misconfiguration. The breaker does not
//     open yet: it suspects. The rest of the due index is read, shuffled, and fed to the pass as probes.
//  3. MisconfigProbes (20) probes fail with misconfiguration, still with no success: the breaker opens,
//     the pass stops with circuit_breaker and fails. Nothing was marked (strikes need a success).
//
// Whatever order the due index lists dead refresh tokens in, when they are a minority of the pass the
// probes are drawn from a remainder in which they are a minority too, so 20 probes all hit dead tokens
// with probability below 2^-20: the healthy installations are refreshed by the same pass. With a wrong
// secret the pass makes at most MisconfigThreshold + MisconfigProbes failing calls plus those already
// in the pipeline (9 x Concurrency + StoreConcurrency + 1) before it stops. A pass too small to
// reach the threshold fails at its end when every installation it tried failed with misconfiguration
// (atEnd).

import (
	"context"
	"fmt"
	"math/rand/v2"

	"lcauth/internal/store"
)

// breaker is the circuit breaker's state in one pass; pass.mu guards it.
type breaker struct {
	proven        bool // a LiveChat refresh succeeded in this pass
	suspect       bool // MisconfigThreshold reached: probes are being drawn
	misconfig     int  // misconfiguration-class failures
	probeFailures int  // of which on probes
	last          error
}

// misconfigured counts one misconfiguration-class failure. It reports whether the breaker starts
// suspecting now (the caller closes pass.suspectCh) and, when it opens, the pass's error.
func (b *breaker) misconfigured(o Options, res result) (suspectNow bool, open error) {
	if b.proven {
		return false, nil
	}
	b.misconfig++
	b.last = res.err
	if res.probe {
		b.probeFailures++
	}
	if !b.suspect && b.misconfig >= o.MisconfigThreshold {
		b.suspect, suspectNow = true, true
	}
	if b.probeFailures >= o.MisconfigProbes {
		return suspectNow, fmt.Errorf("%w: %d installations, %d of them drawn at random, and no successful refresh: %w",
			ErrCircuitOpen, b.misconfig, b.probeFailures, res.err)
	}
	return suspectNow, nil
}

// atEnd is the verdict on a pass that ended without opening the breaker: with no successful refresh, it
// fails when MisconfigThreshold installations failed with misconfiguration (the probes could not be
// drawn: the index ran out), or when every installation it tried did (a pass too small to reach it).
func (b *breaker) atEnd(o Options, sum Summary) error {
	if b.proven || b.misconfig == 0 {
		return nil
	}
	attempted := sum.Refreshed + sum.ReauthorizationRequired + sum.FailedTotal()
	if b.misconfig < o.MisconfigThreshold && b.misconfig < attempted {
		return nil
	}
	return fmt.Errorf("%w: %d of %d installations and no successful refresh: %w", ErrCircuitOpen, b.misconfig, attempted, b.last)
}

// probe reads the rest of the due index, shuffles it and sends it on as probes (see the breaker). It
// reports whether the whole index was read.
func (p *pass) probe(ctx context.Context, l *lister, tasks chan<- task) bool {
	var rest []*store.Installation
	for {
		inst, ok := l.next(ctx)
		if !ok {
			break
		}
		rest = append(rest, inst)
	}
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, inst := range rest {
		p.send(tasks, task{inst: inst, probe: true})
	}
	return l.all
}
