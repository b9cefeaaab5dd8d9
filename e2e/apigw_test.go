//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestNewRequestEvent_ShapesTheEventLikeAPIGatewayHTTPAPI(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "https://api.example.com/chats?limit=5&group=1&group=2", strings.NewReader(`{"limit":5}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Add("Cookie", "a=1; b=2")
	req.Header.Add("Cookie", "c=3")
	now := time.Unix(1_800_000_000, 0)
	ev, err := NewRequestEvent(req, "POST /chats", nil, "198.51.100.1", now)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"route key", ev.RouteKey, "POST /chats"},
		{"raw path", ev.RawPath, "/chats"},
		{"raw query", ev.RawQueryString, "limit=5&group=1&group=2"},
		{"joined query", ev.QueryStringParameters, map[string]string{"limit": "5", "group": "1,2"}},
		{"cookies", ev.Cookies, []string{"a=1", "b=2", "c=3"}},
		{"cookie header removed", ev.Headers["cookie"], ""},
		{"lower-case joined header", ev.Headers["x-multi"], "a,b"},
		{"host", ev.Headers["host"], "api.example.com"},
		{"forwarded proto", ev.Headers["x-forwarded-proto"], "https"},
		{"forwarded port", ev.Headers["x-forwarded-port"], "443"},
		{"forwarded for", ev.Headers["x-forwarded-for"], "198.51.100.1"},
		{"text body as is", ev.Body, `{"limit":5}`},
		{"not base64", ev.IsBase64Encoded, false},
		{"method", ev.RequestContext.HTTP.Method, "POST"},
		{"source ip", ev.RequestContext.HTTP.SourceIP, "198.51.100.1"},
		{"domain", ev.RequestContext.DomainName, "api.example.com"},
		{"stage", ev.RequestContext.Stage, "$default"},
		{"time epoch", ev.RequestContext.TimeEpoch, now.UnixMilli()},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if ev.RequestContext.RequestID == "" {
		t.Error("no request id")
	}
}

func TestNewRequestEvent_Base64EncodesBinaryBodies(t *testing.T) {
	tests := []struct {
		name, contentType string
		body              []byte
		encoded           bool
	}{
		{"json", "application/json", []byte(`{}`), false},
		{"form", "application/x-www-form-urlencoded", []byte("a=b"), false},
		{"octet stream", "application/octet-stream", []byte("abc"), true},
		{"invalid utf-8 text", "text/plain", []byte{0xff, 0xfe}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "https://x.example/chats", strings.NewReader(string(tt.body)))
			req.Header.Set("Content-Type", tt.contentType)
			ev, err := NewRequestEvent(req, "POST /chats", nil, "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if ev.IsBase64Encoded != tt.encoded {
				t.Fatalf("isBase64Encoded %v, want %v", ev.IsBase64Encoded, tt.encoded)
			}
			got := []byte(ev.Body)
			if tt.encoded {
				if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != string(tt.body) {
				t.Fatalf("body %q, want %q", got, tt.body)
			}
		})
	}
}

func TestMatchPath_FollowsAPIGatewayPatterns(t *testing.T) {
	tests := []struct {
		pattern, path string
		ok            bool
		params        map[string]string
	}{
		{"/chats", "/chats", true, nil},
		{"/chats", "/chat", false, nil},
		{"/chats", "/chats/x", false, nil},
		{"/assets/{file}", "/assets/copy.js", true, map[string]string{"file": "copy.js"}},
		{"/assets/{file}", "/assets/", false, nil},
		{"/assets/{file}", "/assets/a/b", false, nil},
		{"/files/{proxy+}", "/files/a/b%20c", true, map[string]string{"proxy": "a/b c"}},
		{"/files/{proxy+}", "/files", false, nil},
	}
	for _, tt := range tests {
		params, ok := matchPath(tt.pattern, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(params, tt.params) {
			t.Errorf("matchPath(%q, %q) = %v, %v; want %v, %v", tt.pattern, tt.path, params, ok, tt.params, tt.ok)
		}
	}
}

// invokerFunc is an Invoker backed by a func, for the gateway's own tests.
type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

func TestGateway_RoutesAndConvertsTheResponse(t *testing.T) {
	var seen events.APIGatewayV2HTTPRequest
	gw := &Gateway{
		Routes: []Route{{Method: http.MethodGet, Path: "/assets/{file}", Function: "callback"}},
		Functions: map[string]Invoker{"callback": invokerFunc(func(_ context.Context, p []byte) ([]byte, error) {
			if err := json.Unmarshal(p, &seen); err != nil {
				return nil, err
			}
			return json.Marshal(events.APIGatewayV2HTTPResponse{
				StatusCode:      200,
				Headers:         map[string]string{"Content-Type": "image/png"},
				Cookies:         []string{"a=1; Path=/", "b=2; Path=/"},
				Body:            base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G'}),
				IsBase64Encoded: true,
			})
		})},
	}
	client := &http.Client{Transport: gw}
	resp, err := client.Get("https://x.example/assets/logo.png")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "\x89PNG" || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 {
		t.Fatalf("Set-Cookie %v, want one per cookie", got)
	}
	if seen.RouteKey != "GET /assets/{file}" || seen.PathParameters["file"] != "logo.png" {
		t.Fatalf("event route %q, params %v", seen.RouteKey, seen.PathParameters)
	}

	resp, err = client.Get("https://x.example/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown route: status %d, want API Gateway's 404", resp.StatusCode)
	}
}

func TestGateway_ReturnsFunctionErrors(t *testing.T) {
	boom := &FunctionError{Type: "Runtime.ExitError", Message: "exit status 1"}
	gw := &Gateway{
		Routes:    []Route{{Method: http.MethodGet, Path: "/install", Function: "install"}},
		Functions: map[string]Invoker{"install": invokerFunc(func(context.Context, []byte) ([]byte, error) { return nil, boom })},
	}
	_, err := (&http.Client{Transport: gw}).Get("https://x.example/install")
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the function error", err)
	}
}
