package lifecycle

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"lcauth/internal/refresh"
)

// Metric names (unit Count), in the namespace and with the dimension the refresher uses
// (refresh.MetricsNamespace, refresh.MetricDimension), so the stack's dashboards and alarms find them
// next to the refresh metrics.
const (
	// MetricUninstalled counts installations uninstalled (webhook or operator).
	MetricUninstalled = "Uninstalled"
	// MetricRevokeFailed counts uninstalls whose tokens LiveChat could not be asked to revoke.
	MetricRevokeFailed = "RevokeFailed"
)

// emitter writes EMF lines, one Write per line.
type emitter struct {
	mu      sync.Mutex
	w       io.Writer
	service string
}

func newEmitter(w io.Writer, service string) *emitter {
	return &emitter{w: w, service: cmp.Or(service, refresh.MetricService)}
}

func (e *emitter) emit(values map[string]float64, props map[string]any) {
	if e.w == nil {
		return
	}
	doc := make(map[string]any, len(values)+len(props)+2)
	for k, v := range props {
		doc[k] = v
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	var metrics []metric
	for _, name := range slices.Sorted(maps.Keys(values)) {
		metrics = append(metrics, metric{Name: name, Unit: "Count"})
		doc[name] = values[name]
	}
	doc[refresh.MetricDimension] = e.service
	doc["_aws"] = map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  refresh.MetricsNamespace,
			"Dimensions": [][]string{{refresh.MetricDimension}},
			"Metrics":    metrics,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(line, '\n'))
}
