// Package emf writes CloudWatch Embedded Metric Format lines: every metric lcauth emits (refresh
// passes, on-demand refreshes, uninstalls) in one namespace with one dimension, so the stack's alarms
// and dashboard find them all in one place.
package emf

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every lcauth metric. The stack's alarms name it.
const Namespace = "lcauth"

// Every metric carries one dimension, Dimension=<service>; the stack sets the service to its own name
// (LCAUTH_METRICS_SERVICE) and its alarms look for exactly that, so two stacks never page each other.
const (
	Dimension      = "Service"
	DefaultService = "lcauth"
)

// Writer writes EMF documents to an io.Writer, one Write per line, serialised, so lines from
// concurrent callers never interleave. A Writer over a nil io.Writer writes nothing.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	service string
}

// New returns a Writer to w whose metrics carry Dimension=service (DefaultService when empty).
func New(w io.Writer, service string) *Writer {
	return &Writer{w: w, service: cmp.Or(service, DefaultService)}
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes one document: values are the metrics (unit Count unless units names another) and props
// are extra, non-metric members that make the line useful to read in CloudWatch Logs.
func (e *Writer) Emit(values map[string]float64, units map[string]string, props map[string]any) error {
	if e == nil || e.w == nil {
		return nil
	}
	doc := make(map[string]any, len(values)+len(props)+2)
	for k, v := range props {
		doc[k] = v
	}
	doc[Dimension] = e.service
	metrics := make([]metric, 0, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		metrics = append(metrics, metric{Name: name, Unit: cmp.Or(units[name], "Count")})
		doc[name] = values[name]
	}
	doc["_aws"] = meta{
		// The real clock, not a test clock: CloudWatch drops metrics stamped far from the present.
		Timestamp:         time.Now().UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: [][]string{{Dimension}}, Metrics: metrics}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: encode: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}
