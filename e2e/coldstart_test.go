//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
)

// coldStartCase is one function's cold start: its binary, its environment, and the first request
// (realistic and cheap: each makes the calls its function's first request makes in AWS).
type coldStartCase struct {
	name     string
	routeKey string
	req      *http.Request // nil: payload is the raw event
	payload  []byte
	// status is the HTTP status the first request must get (0: not an HTTP function), so the
	// benchmark cannot silently measure a broken start.
	status int
}

// BenchmarkColdStart measures, for the hello-world Lambda and each lcauth function built as `make
// build` builds them (host architecture), the binary size and the cold start under the Lambda
// Runtime Interface Emulator, one fresh process per iteration, in two parts: init (the emulator
// starting the function's process until the process asks for its first event, as the emulator logs
// it) and the first response (the whole first invocation, init included). Reported per sub-benchmark:
//
//	init-ms-median    median init in milliseconds
//	init-x-hello      that median divided by hello's, measured in the same run (run hello first, as
//	                  -bench ColdStart does; a filtered run without hello omits it)
//	ms-median         median first response (cold start) in milliseconds
//	x-hello           that median divided by hello's
//	binary-bytes      size of the bootstrap binary
//
// ns/op is the mean first response. The first requests: hello GET /; install GET /install (reads the client secret
// from Secrets Manager); callback GET /callback with a forged state and state cookie (reads the secret, refuses);
// chats GET /chats with a well-formed unknown API key (one DynamoDB read, refuses); refresh the
// scheduled event (queries the 16 due-index shards of an empty table).
func BenchmarkColdStart(b *testing.B) {
	w := newWorld(b, worldOptions{})
	rie, _ := tools(b)
	bins := lambdas(b)

	cases := []coldStartCase{
		{name: helloName, routeKey: "GET /", req: httptest.NewRequest(http.MethodGet, worldBaseURL+"/", nil), status: http.StatusOK},
		{name: config.FunctionInstall, routeKey: "GET /install", req: httptest.NewRequest(http.MethodGet, worldBaseURL+"/install", nil), status: http.StatusFound},
		{name: config.FunctionCallback, routeKey: "GET /callback", req: withHeader(httptest.NewRequest(http.MethodGet, worldBaseURL+"/callback?code=dal%3Abench&state=forged", nil), "Cookie", httpapi.SecureStateCookieName+"=forged; "+httpapi.StateCookieName+"=forged"), status: http.StatusBadRequest},
		{name: config.FunctionChats, routeKey: "GET /chats", req: withHeader(httptest.NewRequest(http.MethodGet, worldBaseURL+"/chats", nil), "Authorization", "Bearer "+unknownAPIKey), status: http.StatusUnauthorized},
		{name: config.FunctionRefresh, payload: []byte(scheduledEvent)},
	}
	var helloMedian, helloInit time.Duration
	for _, c := range cases {
		payload := c.payload
		if c.req != nil {
			ev, err := NewRequestEvent(c.req, c.routeKey, nil, "", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if payload, err = json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
		env := map[string]string{"AWS_REGION": worldRegion, "AWS_LAMBDA_FUNCTION_NAME": "hello"}
		if c.name != helloName {
			env = w.functionEnv(b, c.name, 256)
		}
		st, err := os.Stat(bins[c.name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var samples, inits []time.Duration
			for b.Loop() {
				b.StopTimer()
				e, err := StartEmulator(ctx, EmulatorOptions{RIE: rie, Binary: bins[c.name], Env: env, LogLevel: "info"})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				out, err := e.Invoke(ctx, payload)
				d := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatalf("%s: %v\n%s", c.name, err, e.Output())
				}
				if err := c.check(out); err != nil {
					b.Fatalf("%s: %v\n%s", c.name, err, e.Output())
				}
				samples = append(samples, d)
				in, ok := e.InitDuration()
				if !ok {
					b.Fatalf("%s: the emulator logged no init duration\n%s", c.name, e.Output())
				}
				inits = append(inits, in)
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			med, initMed := median(samples), median(inits)
			if c.name == helloName {
				helloMedian, helloInit = med, initMed
			}
			b.ReportMetric(float64(initMed.Microseconds())/1000, "init-ms-median")
			b.ReportMetric(float64(med.Microseconds())/1000, "ms-median")
			if helloMedian > 0 && helloInit > 0 {
				b.ReportMetric(float64(initMed)/float64(helloInit), "init-x-hello")
				b.ReportMetric(float64(med)/float64(helloMedian), "x-hello")
			}
			b.ReportMetric(float64(st.Size()), "binary-bytes")
		})
	}
}

// check verifies the first response: the expected HTTP status, or a refresh summary of a pass
// that did not fail.
func (c coldStartCase) check(out []byte) error {
	if c.status == 0 {
		var sum refresh.Summary
		if err := json.Unmarshal(out, &sum); err != nil || sum.PassFailed {
			return fmt.Errorf("refresh answered %q", out)
		}
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("answer %q: %w", out, err)
	}
	if resp.StatusCode != c.status {
		return fmt.Errorf("first response: status %d, want %d: %s", resp.StatusCode, c.status, resp.Body)
	}
	return nil
}

// unknownAPIKey is well-formed (store.APIKeyLength, [a-z2-7]) but names no installation, so /chats
// looks it up before refusing it.
var unknownAPIKey = store.APIKeyPrefix + strings.Repeat("b", store.IDLength) + "_" + strings.Repeat("a", store.APIKeyLength-len(store.APIKeyPrefix)-store.IDLength-1)

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}

func TestMedian_OfOddAndEvenSamples(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5 * ms}, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 100 * ms}, 3500 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
