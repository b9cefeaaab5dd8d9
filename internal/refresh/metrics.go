package refresh

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"lcauth/internal/livechat"
)

// MetricsNamespace is the CloudWatch namespace of every metric the refresher emits. The stack's alarms
// name it; keep the two in step.
const MetricsNamespace = "lcauth"

// Every metric carries one dimension, MetricDimension=Options.MetricsService (default MetricService); the
// stack sets it to its own name and its alarms look for exactly that (infra/stack.go).
const (
	MetricDimension = "Service"
	MetricService   = "lcauth"
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

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emit writes one EMF document: values are the metrics (all Count unless units says otherwise) and
// props are extra, non-metric members that make the line useful to read in CloudWatch Logs.
func (r *Refresher) emit(values map[string]float64, units map[string]string, props map[string]any) {
	if r.opts.Metrics == nil {
		return
	}
	doc := make(map[string]any, len(values)+len(props)+2)
	for k, v := range props {
		doc[k] = v
	}
	doc[MetricDimension] = cmp.Or(r.opts.MetricsService, MetricService)
	metrics := make([]emfMetric, 0, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		unit := units[name]
		if unit == "" {
			unit = "Count"
		}
		metrics = append(metrics, emfMetric{Name: name, Unit: unit})
		doc[name] = values[name]
	}
	doc["_aws"] = emfMeta{
		// The real clock, not Options.Now: CloudWatch drops metrics stamped far from the present.
		Timestamp: time.Now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  MetricsNamespace,
			Dimensions: [][]string{{MetricDimension}},
			Metrics:    metrics,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		r.log.Error("refresh: encode metrics", "error", err.Error())
		return
	}
	line = append(line, '\n')
	// One Write per line, serialised, so concurrent /chats and pass lines never interleave.
	r.emfMu.Lock()
	defer r.emfMu.Unlock()
	if _, err := r.opts.Metrics.Write(line); err != nil {
		r.log.Error("refresh: write metrics", "error", err.Error())
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
