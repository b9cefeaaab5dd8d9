package livechat

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseErrors: any body LiveChat (or a proxy in front of it) sends is parsed
// without panicking, and what we sent never reaches an error string.
func FuzzParseErrors(f *testing.F) {
	for _, seed := range []string{
		`{"error":"invalid_grant","error_description":"expired","request_id":"r"}`,
		`{"oauth_exception":"unauthorized_client","exception_description":"bad secret"}`,
		`{"error":{"type":"misdirected_request","message":"m","data":{"region":"fra"}}}`,
		`{"error":{"type":"authentication","message":"token dal:SECRETSECRET invalid"}}`,
		`{"error":"x","error_description":"SECRETSECRET"}`,
		`{"error":null}`, `{"error":[1,2]}`, `[]`, `null`, ``, `<html>`, `{"error":{"data":"x"}}`,
	} {
		f.Add(seed, 400)
	}
	const sent = "dal:SECRETSECRET"
	f.Fuzz(func(t *testing.T, body string, status int) {
		r := &response{status: status, header: http.Header{"Retry-After": {"5"}}, body: []byte(body)}
		now := time.Unix(0, 0)
		te := parseTokenError(opRefresh, r, now, sent, "SECRETSECRET")
		ae := parseAPIError(opList, r, now, sent, "SECRETSECRET")
		for _, s := range []string{te.Error(), ae.Error(), string(ae.Body)} {
			if strings.Contains(s, "SECRETSECRET") {
				t.Fatalf("leaked: %q", s)
			}
		}
		_ = Classify(te)
		_ = Classify(ae)
		_ = ae.Region()
	})
}
