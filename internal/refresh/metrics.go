package refresh

import (
	"lcauth/internal/livechat"
)

// Metric names (unit Count unless noted).
const (
	// MetricPassFailed is 1 for a pass that counts as failed (circuit breaker, store unavailable), else 0.
	MetricPassFailed = "PassFailed"
	// MetricReauthorizationRequired counts installations marked reauthorization_required, by a pass or
	// on demand (/chats).
	MetricReauthorizationRequired = "ReauthorizationRequired"
	// MetricDue counts installations a pass found due.
	MetricDue = "Due"
	// MetricRefreshed counts installations a pass refreshed.
	MetricRefreshed = "Refreshed"
	// MetricSkipped counts lost races in a pass.
	MetricSkipped = "Skipped"
	// MetricFailed counts installations whose refresh failed in a pass, all classes.
	MetricFailed = "Failed"
	// MetricFailedMisconfiguration, MetricFailedRateLimited, MetricFailedTransient and MetricFailedStore
	// split MetricFailed by the classes an operator acts on differently.
	MetricFailedMisconfiguration = "FailedMisconfiguration"
	MetricFailedRateLimited      = "FailedRateLimited"
	MetricFailedTransient        = "FailedTransient"
	MetricFailedStore            = "FailedStore"
	// MetricLeftForNextPass counts due installations a pass did not start (it stopped early).
	MetricLeftForNextPass = "LeftForNextPass"
	// MetricRetries counts LiveChat calls repeated after rate-limited or transient errors.
	MetricRetries = "Retries"
	// MetricDurationMs is a pass's duration in milliseconds.
	MetricDurationMs = "DurationMs"
)

// emit writes one EMF document (see emf.Writer.Emit); a failure is logged, never returned: metrics
// must not fail a refresh.
func (r *Refresher) emit(values map[string]float64, units map[string]string, props map[string]any) {
	if err := r.emf.Emit(values, units, props); err != nil {
		r.log.Error("refresh: metrics", "error", err.Error())
	}
}

// emitPass writes a pass's metrics.
func (r *Refresher) emitPass(sum Summary) {
	failed := 0.0
	if sum.PassFailed {
		failed = 1
	}
	values := map[string]float64{
		MetricPassFailed:              failed,
		MetricDue:                     float64(sum.Due),
		MetricRefreshed:               float64(sum.Refreshed),
		MetricSkipped:                 float64(sum.Skipped),
		MetricReauthorizationRequired: float64(sum.ReauthorizationRequired),
		MetricFailed:                  float64(sum.FailedTotal()),
		MetricFailedMisconfiguration:  float64(sum.Failed[string(livechat.ClassMisconfiguration)]),
		MetricFailedRateLimited:       float64(sum.Failed[string(livechat.ClassRateLimited)]),
		MetricFailedTransient:         float64(sum.Failed[string(livechat.ClassTransient)]),
		MetricFailedStore:             float64(sum.Failed[classStore]),
		MetricLeftForNextPass:         float64(sum.Left),
		MetricRetries:                 float64(sum.Retries),
		MetricDurationMs:              float64(sum.DurationMS),
	}
	props := map[string]any{"event": "refresh_pass", "stopped_reason": sum.StoppedReason, "listed_all": sum.ListedAll}
	r.emit(values, map[string]string{MetricDurationMs: "Milliseconds"}, props)
}

// emitReauthorization counts one installation marked reauthorization_required outside a pass.
func (r *Refresher) emitReauthorization() {
	r.emit(map[string]float64{MetricReauthorizationRequired: 1}, nil, map[string]any{"event": "reauthorization_required"})
}
