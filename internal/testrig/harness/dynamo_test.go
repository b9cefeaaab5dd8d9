package harness

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

func call(t *testing.T, d *DynamoFaults, op string) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://dynamodb.test/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	resp, err := d.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDynamoFaults_RulesSkipThenFailThenExpire: a rule lets After matching requests through, fails the
// next Times ones with its kind, then goes away; other operations are untouched; every request counts.
func TestDynamoFaults_RulesSkipThenFailThenExpire(t *testing.T) {
	d := &DynamoFaults{next: okTransport{}, calls: map[string]int{}, hits: map[FaultKind]int{}}
	d.Add(Rule{Op: "UpdateItem", Kind: Throttle, After: 1, Times: 2})
	want := []int{200, 400, 400, 200}
	for i, w := range want {
		if got, err := call(t, d, "UpdateItem"); err != nil || got != w {
			t.Fatalf("UpdateItem #%d: %d %v, want %d", i+1, got, err, w)
		}
	}
	if got, _ := call(t, d, "GetItem"); got != 200 {
		t.Fatalf("GetItem: %d, want 200", got)
	}
	if d.Count("UpdateItem") != 4 || d.Total() != 5 || d.Injected(Throttle) != 2 {
		t.Fatalf("counts %v total %d injected %d", d.Counts(), d.Total(), d.Injected(Throttle))
	}
	d.Add(Rule{Kind: Down})
	var opErr *net.OpError
	if _, err := call(t, d, "Query"); !errors.As(err, &opErr) {
		t.Fatalf("Down: err = %v, want a refused connection", err)
	}
	d.Clear()
	d.Reset()
	if got, _ := call(t, d, "Query"); got != 200 || d.Total() != 1 {
		t.Fatalf("after Clear and Reset: %d, total %d", got, d.Total())
	}
}
