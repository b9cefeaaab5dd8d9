package app_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/emf"
	"lcauth/internal/testrig/syncbuf"
)

// TestPassRefresher_MetricsCarryTheStacksService: the stack sets LCAUTH_METRICS_SERVICE to its name;
// every metric line must carry it as the Service dimension, or two stacks' alarms would cross.
func TestPassRefresher_MetricsCarryTheStacksService(t *testing.T) {
	for _, tt := range []struct{ set, want string }{{"", emf.DefaultService}, {"LcauthDev", "LcauthDev"}} {
		s := newStack(t)
		if tt.set != "" {
			s.Env[config.EnvMetricsService] = tt.set
		}
		a, err := app.New(t.Context(), s.load(t, config.FunctionRefresh), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
		if err != nil {
			t.Fatal(err)
		}
		var metrics syncbuf.Buffer
		if _, err := a.PassRefresher(&metrics).RunPass(t.Context()); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Service string `json:"Service"`
			AWS     struct {
				CloudWatchMetrics []struct {
					Namespace  string     `json:"Namespace"`
					Dimensions [][]string `json:"Dimensions"`
				}
			} `json:"_aws"`
		}
		line, _, _ := strings.Cut(metrics.String(), "\n")
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		if doc.Service != tt.want {
			t.Errorf("%s=%q: Service dimension %q, want %q", config.EnvMetricsService, tt.set, doc.Service, tt.want)
		}
		if len(doc.AWS.CloudWatchMetrics) != 1 || doc.AWS.CloudWatchMetrics[0].Namespace != emf.Namespace {
			t.Errorf("metric line %s: want one directive in namespace %s", line, emf.Namespace)
		}
	}
}
