package refresh

import "time"

// The lease arithmetic. Everything that can happen under a lease must happen before it lapses, or
// another process may take the installation over and the late save would be refused, discarding a
// token LiveChat has already minted (one of the 25 a user may hold):
//
//	LeaseTTL >= CallBudget + SaveBudget + leaseSlack
//	SaveBudget = saveAttempts x StoreTimeout + the backoff before each retry
//
// complete() makes exactly saveAttempts attempts with saveBackoffs between them, and withDefaults
// derives LeaseTTL (or, when only LeaseTTL is given, CallBudget) from these, so neither side can change
// alone. TestLease_SlowSaveLandsUnderTheLease checks the sum against a store whose every write takes
// nearly its whole timeout.

const (
	// saveAttempts is how many times the save of a minted token is tried.
	saveAttempts = 3
	// saveBackoff1 and saveBackoff2 are the longest pauses before the second and third save attempts
	// (jitter only shortens them).
	saveBackoff1     = 50 * time.Millisecond
	saveBackoff2     = 200 * time.Millisecond
	saveBackoffTotal = saveBackoff1 + saveBackoff2
	// leaseSlack covers the time between reading our clock before the lease write and the store
	// stamping the lease, and small clock differences between the two.
	leaseSlack = time.Second
	// saveReserve is kept before a short caller deadline (one that cannot hold a whole SaveBudget) for
	// the common case of a save that succeeds at once; the save itself is bounded by the lease, not by
	// that deadline.
	saveReserve = time.Second
)

// saveBackoffs lists the pause before each save retry, in order.
var saveBackoffs = [saveAttempts - 1]time.Duration{saveBackoff1, saveBackoff2}

// SaveBudget is the longest the writes after a LiveChat answer may take: every save attempt at its
// StoreTimeout, plus the backoff between them.
func (o Options) SaveBudget() time.Duration {
	return saveAttempts*o.StoreTimeout + saveBackoffTotal
}

// deriveLease fills in CallBudget and LeaseTTL so that LeaseTTL = CallBudget + SaveBudget + leaseSlack:
// LeaseTTL from CallBudget, or, when only LeaseTTL is given, CallBudget from it (at least MinCallTime,
// the lease growing if needed).
func (o *Options) deriveLease() {
	save := o.SaveBudget()
	switch {
	case o.CallBudget <= 0 && o.LeaseTTL <= 0:
		o.CallBudget = DefaultCallBudget
	case o.CallBudget <= 0:
		o.CallBudget = max(o.LeaseTTL-save-leaseSlack, o.MinCallTime)
	}
	o.LeaseTTL = max(o.LeaseTTL, o.CallBudget+save+leaseSlack)
	o.CallBudget = o.LeaseTTL - save - leaseSlack
}

// passReserve is how long before its deadline a pass starts nothing new: the save budget, plus at
// least half the SafetyMargin (and MinCallTime) for the last calls.
func (o Options) passReserve() time.Duration {
	return o.SaveBudget() + max(o.SafetyMargin/2, o.MinCallTime)
}

// pipelineDepth: the lease-ahead and the answered-but-unsaved queues of a pass hold this many times
// Concurrency jobs, so that a store that stalls for a moment (DynamoDB tail latency, a dynalite GC)
// does not idle the call slots.
const pipelineDepth = 2
