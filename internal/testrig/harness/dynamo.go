package harness

import (
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// FaultKind is what the DynamoDB transport does to a request a rule matches.
type FaultKind int

const (
	// Throttle answers ProvisionedThroughputExceededException (HTTP 400), as DynamoDB does.
	Throttle FaultKind = iota + 1
	// Down fails the request as a refused connection: the endpoint went away.
	Down
	// ServerError answers HTTP 500 InternalServerError.
	ServerError
)

// Rule applies Kind to requests of Op ("" = any operation), after letting the first After matching
// requests through, for Times requests (0 = until cleared).
type Rule struct {
	Op    string
	Kind  FaultKind
	After int
	Times int
}

// DynamoFaults is the DynamoDB SDK client's http.RoundTripper: it counts operations (X-Amz-Target)
// and injects faults by rule, so that the real SDK client, with its real retryer and error decoding,
// sees what an unhealthy DynamoDB would send.
type DynamoFaults struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []*Rule
	calls map[string]int
	total int
	hits  map[FaultKind]int
}

// NewDynamoFaults returns a DynamoFaults with no rules, passing requests on to http.DefaultTransport.
// A Stack makes its own (Stack.DB); tests below the harness use one to count a store's requests.
func NewDynamoFaults() *DynamoFaults {
	return &DynamoFaults{next: http.DefaultTransport, calls: map[string]int{}, hits: map[FaultKind]int{}}
}

// Client returns a DynamoDB client for endpoint whose requests go through d, with FastRetryer.
func (d *DynamoFaults) Client(endpoint string) *dynamodb.Client { return newDynamoDB(endpoint, d) }

// locked runs f with the lock held.
func (d *DynamoFaults) locked(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f()
}

// Add appends a rule; the first rule that matches a request decides.
func (d *DynamoFaults) Add(r Rule) { d.locked(func() { d.rules = append(d.rules, &r) }) }

// Clear removes every rule.
func (d *DynamoFaults) Clear() { d.locked(func() { d.rules = nil }) }

// Count is how many requests of op were made (faulted ones included).
func (d *DynamoFaults) Count(op string) (n int) {
	d.locked(func() { n = d.calls[op] })
	return n
}

// Total is how many requests were made since the start or the last Reset.
func (d *DynamoFaults) Total() (n int) {
	d.locked(func() { n = d.total })
	return n
}

// Counts returns the requests per operation since the start or the last Reset.
func (d *DynamoFaults) Counts() (out map[string]int) {
	d.locked(func() { out = maps.Clone(d.calls) })
	return out
}

// Reset zeroes the counts (not the rules).
func (d *DynamoFaults) Reset() { d.locked(func() { d.calls, d.total = map[string]int{}, 0 }) }

// Injected is how many faults of kind were injected.
func (d *DynamoFaults) Injected(kind FaultKind) (n int) {
	d.locked(func() { n = d.hits[kind] })
	return n
}

// match counts a request of op and returns the fault to inject (0 for none).
func (d *DynamoFaults) match(op string) FaultKind {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[op]++
	d.total++
	var kind FaultKind
	for i, rule := range d.rules {
		if rule.Op != "" && rule.Op != op {
			continue
		}
		if rule.After > 0 {
			rule.After--
			break
		}
		kind = rule.Kind
		if rule.Times > 0 {
			rule.Times--
			if rule.Times == 0 {
				d.rules = append(d.rules[:i:i], d.rules[i+1:]...)
			}
		}
		break
	}
	if kind != 0 {
		d.hits[kind]++
	}
	return kind
}

// RoundTrip implements http.RoundTripper.
func (d *DynamoFaults) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndex(op, "."); i >= 0 {
		op = op[i+1:]
	}
	kind := d.match(op)
	if kind != 0 && r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	switch kind {
	case Throttle:
		return awsError(r, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded."), nil
	case ServerError:
		return awsError(r, http.StatusInternalServerError, "InternalServerError", "Internal server error"), nil
	case Down:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return d.next.RoundTrip(r)
}

func awsError(r *http.Request, status int, typ, msg string) *http.Response {
	body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + typ + `","message":"` + msg + `"}`
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: r, ContentLength: int64(len(body)),
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"FAULT"}},
		Body:   io.NopCloser(strings.NewReader(body))}
}

// FastRetryer is the SDK's standard retryer (same attempts and error classification as production)
// with millisecond backoff and no retry quota, so fault tests stay fast and independent.
func FastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 20 * time.Millisecond
		o.RateLimiter = ratelimit.None
	})
}

// SlowTransport delays every request by Delay before passing it to Next.
type SlowTransport struct {
	Next  http.RoundTripper
	Delay time.Duration
}

// RoundTrip implements http.RoundTripper.
func (s SlowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return s.Next.RoundTrip(r)
}
