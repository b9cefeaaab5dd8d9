package livechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/secrets"
)

// Values the client sends; none may come back in an error string, whatever LiveChat answers.
const (
	fuzzAccessToken  = "dal:AcCeSs-token-0123456789"
	fuzzRefreshToken = "ReFrEsH-token-0123456789"
	fuzzClientSecret = "cl1ent-SeCrEt-0123456789"
	fuzzCode         = "dal:c0de-0123456789abcdef"
)

var fuzzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// cannedTransport answers every request with the same status, header and body, in memory.
type cannedTransport struct {
	status    int
	header    http.Header
	body      []byte
	calls     atomic.Int32
	badRegion atomic.Bool
}

func (c *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	// The retry of a misdirected_request names LiveChat's region in a header: it must be a plain
	// region name, whatever LiveChat's error data said.
	if h, ok := r.Header["X-Region"]; ok && (len(h) != 1 || livechat.RegionOf(h[0]+":") != h[0]) {
		c.badRegion.Store(true)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: c.status, Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

func fuzzClient(t *testing.T, status int, retryAfter string, body []byte) (*livechat.Client, *cannedTransport) {
	t.Helper()
	// Any status a server can send, 100..599.
	if status < 0 {
		status = -status
	}
	status = 100 + status%500
	h := http.Header{"Content-Type": {"application/json"}}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	rt := &cannedTransport{status: status, header: h, body: body}
	c, err := livechat.New(livechat.Config{
		AccountsURL: "https://accounts.example", APIURL: "https://api.example", ClientID: "fuzz-client",
		RedirectURL: "https://lcauth.example/callback", ClientSecret: secrets.Static(fuzzClientSecret),
		HTTPClient: &http.Client{Transport: rt}, Now: func() time.Time { return fuzzNow },
		MaxAccountsResponseBytes: 64 << 10, MaxListChatsResponseBytes: 256 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, rt
}

// checkErr asserts what holds for every error the client returns; sent are the secret values the call
// sent (the client can only scrub what it knows).
func checkErr(t *testing.T, err error, sent map[string]string) {
	t.Helper()
	if livechat.Classify(err) == livechat.ClassNone {
		t.Fatalf("error %v classifies as none", err)
	}
	msg := err.Error()
	for name, s := range sent {
		if strings.Contains(msg, s) {
			t.Fatalf("the error carries the %s: %s", name, msg)
		}
	}
	if d := livechat.RetryAfter(err); d < 0 || d > 24*time.Hour {
		t.Fatalf("RetryAfter = %v, outside 0..24h", d)
	}
}

// FuzzTokenResponse feeds arbitrary token endpoint answers (status, Retry-After, body) to Exchange and
// Refresh: success needs a 2xx with an access token and a positive expiry; every failure classifies,
// and no error echoes the code, the tokens or the client secret even when LiveChat's answer does.
func FuzzTokenResponse(f *testing.F) {
	seeds := []struct {
		status int
		ra     string
		body   string
	}{
		{200, "", `{"access_token":"dal:new","refresh_token":"r2","expires_in":28800,"token_type":"Bearer","scope":"chats--all:ro","account_id":"a","organization_id":"o"}`},
		{200, "", `{"access_token":"fra-a:new","expires_in":"28800"}`},
		{200, "", `{"access_token":"dal:new","expires_in":28800.0}`},
		{200, "", `{"access_token":"dal:new","expires_in":-5}`},
		{200, "", `{"access_token":"dal:new","expires_in":1e300}`},
		{200, "", `{"access_token":"","expires_in":28800}`},
		{200, "", `{"access_token":"dal:trunc`},
		{200, "", `[]`},
		{200, "", `null`},
		{200, "", ``},
		{201, "", `{"access_token":"dal:x","expires_in":1,"refresh_token":null}`},
		{400, "", `{"error":"invalid_grant","error_description":"Refresh token expired: ` + fuzzRefreshToken + `","request_id":"r-1"}`},
		{401, "", `{"error":"unauthorized_client","error_description":"bad secret ` + fuzzClientSecret + `"}`},
		{401, "", `{"oauth_exception":"invalid_client","exception_description":"code ` + fuzzCode + `"}`},
		{403, "", `{"error":"missing_grant"}`},
		{422, "", `{"error":"invalid_request","invalid_fields":["code"]}`},
		{429, "7", `{"error":"temporarily_unavailable"}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", `{}`},
		{429, "99999999999999999999", ``},
		{500, "", `{"error":"server_error"}`},
		{502, "", `<html>Bad gateway</html>`},
		{503, "-1", `{"error":{"type":"service_unavailable","message":"` + fuzzAccessToken + `"}}`},
		{302, "", ``},
		{100, "", ``},
		{200, "", `{"access_token":"dal:\u0000x","expires_in":28800,"account_id":"\ud800"}`},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ra, []byte(s.body), false)
		f.Add(s.status, s.ra, []byte(s.body), true)
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte, exchange bool) {
		c, rt := fuzzClient(t, status, retryAfter, body)
		var (
			tok *livechat.Token
			err error
		)
		sent := map[string]string{"client secret": fuzzClientSecret}
		if exchange {
			sent["code"] = fuzzCode
			tok, err = c.Exchange(context.Background(), fuzzCode, "")
		} else {
			sent["refresh token"] = fuzzRefreshToken
			tok, err = c.Refresh(context.Background(), fuzzRefreshToken)
		}
		if n := rt.calls.Load(); n != 1 {
			t.Fatalf("%d token requests, want 1", n)
		}
		if err != nil {
			if tok != nil {
				t.Fatal("a token and an error")
			}
			checkErr(t, err, sent)
			if rt.status >= 200 && rt.status <= 299 {
				var re *livechat.ResponseError
				if !errors.As(err, &re) || livechat.Classify(err) != livechat.ClassTransient {
					t.Fatalf("a 2xx the client cannot use must be a transient ResponseError, got %T %v", err, err)
				}
			}
			return
		}
		if rt.status < 200 || rt.status > 299 {
			t.Fatalf("HTTP %d accepted as a token", rt.status)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.Expiry.After(fuzzNow) {
			t.Fatalf("unusable token accepted: access %t refresh %t expiry %v", tok.AccessToken != "", tok.RefreshToken != "", tok.Expiry)
		}
		if tok.Region != livechat.RegionOf(tok.AccessToken) || strings.ContainsAny(tok.Region, ":\r\n ") {
			t.Fatalf("region %q", tok.Region)
		}
		// Redaction: what String shows must not depend on the tokens' values.
		other := *tok
		other.AccessToken, other.RefreshToken = "x", "y"
		if tok.String() != other.String() {
			t.Fatal("Token.String shows a token")
		}
	})
}

// FuzzListChatsResponse feeds arbitrary Agent API answers to ListChats: success means a 2xx JSON object
// passed through unchanged; failures classify, carry at most LiveChat's bounded error data, never the
// access token, and a misdirected_request is retried at most once.
func FuzzListChatsResponse(f *testing.F) {
	seeds := []struct {
		status int
		ra     string
		body   string
	}{
		{200, "", `{"chats_summary":[{"id":"PJ0MRSHTDG"}],"found_chats":1,"next_page_id":"MTU5","previous_page_id":"MTU4"}`},
		{200, "", ` {"chats_summary":[]} `},
		{200, "", `{"found_chats":"many"}`},
		{200, "", `{"chats_summary":[{"id":"PJ0MRSHTDG","users":[`},
		{200, "", `[1,2]`},
		{200, "", ``},
		{200, "", `{"a":1}{"b":2}`},
		{401, "", `{"error":{"type":"authentication","message":"Invalid access token ` + fuzzAccessToken + `"}}`},
		{403, "", `{"error":{"type":"authorization","message":"no"}}`},
		{400, "", `{"error":{"type":"validation","message":"limit","data":{"field":"limit"}}}`},
		{421, "", `{"error":{"type":"misdirected_request","message":"wrong region","data":{"region":"fra"}}}`},
		{421, "", `{"error":{"type":"misdirected_request","data":{"region":"fra\r\nX-Evil: 1"}}}`},
		{421, "", `{"error":{"type":"misdirected_request","data":{"region":"` + strings.Repeat("r", 40) + `"}}}`},
		{429, "3", `{"error":{"type":"too_many_requests","message":"slow down"}}`},
		{500, "", `{"error":{"type":"internal"}}`},
		{503, "", `upstream connect error`},
		{504, "", `{"error":"request_timeout"}`},
		{400, "", `{"error":{"type":"validation","data":` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `}}`},
		{404, "", `{"error":{"type":"not_found","message":"\u003cscript\u003e"}}`},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ra, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		c, rt := fuzzClient(t, status, retryAfter, body)
		limit := 10
		res, err := c.ListChats(context.Background(), fuzzAccessToken, livechat.ListChatsRequest{Limit: limit})
		if n := rt.calls.Load(); n < 1 || n > 2 {
			t.Fatalf("%d list_chats requests, want 1 or 2", n)
		}
		if rt.badRegion.Load() {
			t.Fatal("an X-Region header carried something other than a region name")
		}
		if err != nil {
			if res != nil {
				t.Fatal("a response and an error")
			}
			checkErr(t, err, map[string]string{"access token": fuzzAccessToken})
			var ae *livechat.APIError
			if errors.As(err, &ae) {
				if len(ae.Data) > 4096 {
					t.Fatalf("APIError.Data is %d bytes", len(ae.Data))
				}
				if ae.Body != nil && (!json.Valid(ae.Body) || bytes.Contains(ae.Body, []byte(fuzzAccessToken))) {
					t.Fatalf("APIError.Body is not clean JSON: %s", ae.Body)
				}
			}
			return
		}
		if rt.status < 200 || rt.status > 299 {
			t.Fatalf("HTTP %d accepted", rt.status)
		}
		if !json.Valid(res.Body) || res.Body[0] != '{' {
			t.Fatalf("body passed through is not a JSON object: %q", res.Body)
		}
		if !bytes.Equal(res.Body, bytes.TrimSpace(body)) {
			t.Fatal("the body was changed on its way through")
		}
	})
}
