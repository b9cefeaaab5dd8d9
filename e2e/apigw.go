//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxPayloadBytes is Lambda's limit on a synchronous invocation's request and response payloads.
const MaxPayloadBytes = 6 << 20

// Invoker invokes one Lambda function with a raw event (an *Emulator).
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Route is one API Gateway route: a method, a path pattern as API Gateway writes it ("/chats",
// "/assets/{file}", "/files/{proxy+}") and the function behind it.
type Route struct {
	Method, Path, Function string
}

// Gateway is an http.RoundTripper that plays API Gateway (HTTP API, payload format 2.0) in front of
// Lambda functions: it matches the request to a route, turns it into an APIGatewayV2HTTPRequest
// event, invokes the route's function and turns the function's APIGatewayV2HTTPResponse back into
// an http.Response. Requests that match no route get API Gateway's 404 {"message":"Not Found"}. A
// function error (an unhandled error or a crash, where API Gateway would answer 500) is returned as
// the RoundTrip error, so tests see its message. Use it as an http.Client's Transport, with a cookie
// jar for the browser-like flows; the URL's host becomes the event's domain name.
type Gateway struct {
	// Routes are matched in order.
	Routes []Route
	// Functions invokes each route's function, by Route.Function.
	Functions map[string]Invoker
	// SourceIP is requestContext.http.sourceIp; default 203.0.113.10.
	SourceIP string
	// Now is the clock of requestContext.time; default time.Now.
	Now func() time.Time
}

// RoundTrip implements http.RoundTripper.
func (g *Gateway) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	route, params, ok := g.match(req.Method, req.URL.EscapedPath())
	if !ok {
		return textResponse(req, http.StatusNotFound, `{"message":"Not Found"}`), nil
	}
	fn := g.Functions[route.Function]
	if fn == nil {
		return nil, fmt.Errorf("e2e: gateway: no function %q for route %s %s", route.Function, route.Method, route.Path)
	}
	ev, err := NewRequestEvent(req, route.Method+" "+route.Path, params, g.SourceIP, g.now())
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("e2e: gateway: encode event: %w", err)
	}
	if len(payload) > MaxPayloadBytes {
		return textResponse(req, http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`), nil
	}
	out, err := fn.Invoke(req.Context(), payload)
	if err != nil {
		return nil, fmt.Errorf("e2e: gateway: %s %s: %w", req.Method, req.URL.Path, err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("e2e: gateway: %s %s: function response is not an API Gateway v2 response: %w", req.Method, req.URL.Path, err)
	}
	return NewHTTPResponse(req, resp)
}

func (g *Gateway) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// anyMethod is API Gateway's catch-all route method: such a route takes every method.
const anyMethod = "ANY"

// match finds the first route for method and path and returns its path parameters.
func (g *Gateway) match(method, path string) (Route, map[string]string, bool) {
	for _, r := range g.Routes {
		if r.Method != method && r.Method != anyMethod && !(method == http.MethodHead && r.Method == http.MethodGet) {
			continue
		}
		if params, ok := matchPath(r.Path, path); ok {
			return r, params, true
		}
	}
	return Route{}, nil, false
}

// matchPath matches an API Gateway path pattern: "{name}" matches one segment, a final "{name+}"
// the rest of the path.
func matchPath(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, p := range ps {
		name, isParam := strings.CutPrefix(p, "{")
		name, _ = strings.CutSuffix(name, "}")
		if isParam && strings.HasSuffix(name, "+") && i == len(ps)-1 {
			if i >= len(xs) || xs[i] == "" {
				return nil, false
			}
			params[strings.TrimSuffix(name, "+")] = unescape(strings.Join(xs[i:], "/"))
			return params, true
		}
		if i >= len(xs) {
			return nil, false
		}
		switch {
		case isParam:
			if xs[i] == "" {
				return nil, false
			}
			params[name] = unescape(xs[i])
		case p != xs[i]:
			return nil, false
		}
	}
	if len(xs) != len(ps) {
		return nil, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, true
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// NewRequestEvent turns an HTTP request into the event API Gateway (HTTP API, payload format 2.0)
// sends for routeKey ("GET /chats"): lower-case header names with repeated headers joined by commas,
// cookies moved from the Cookie header into the cookies list, repeated query parameters joined by
// commas next to the raw query string, X-Forwarded-* headers, and a body that is base64-encoded
// unless it is text. It reads and closes nothing: the caller owns req.Body.
func NewRequestEvent(req *http.Request, routeKey string, pathParams map[string]string, sourceIP string, now time.Time) (events.APIGatewayV2HTTPRequest, error) {
	if sourceIP == "" {
		sourceIP = "203.0.113.10"
	}
	headers, cookies := eventHeaders(req)
	hostname := forwardedHeaders(req, headers, sourceIP)
	body, encoded, err := eventBody(req, headers)
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	return events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               path,
		RawQueryString:        req.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: eventQuery(req.URL.RawQuery),
		PathParameters:        pathParams,
		Body:                  body,
		IsBase64Encoded:       encoded,
		RequestContext:        requestContext(req, routeKey, hostname, method, path, sourceIP, now),
	}, nil
}

// eventHeaders returns req's headers as API Gateway passes them (lower-case names, repeated values
// joined with commas) and its cookies split into the event's cookies array.
func eventHeaders(req *http.Request) (map[string]string, []string) {
	headers := map[string]string{}
	var cookies []string
	for name, values := range req.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(values, ",")
	}
	return headers, cookies
}

// forwardedHeaders sets host and the x-forwarded-* headers API Gateway adds, and returns the host
// name (without port) the request was sent to.
func forwardedHeaders(req *http.Request, headers map[string]string, sourceIP string) string {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	headers["host"] = hostname
	scheme := req.URL.Scheme
	if scheme == "" {
		scheme = "https"
	}
	port := req.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	headers["x-forwarded-for"] = sourceIP
	headers["x-forwarded-proto"] = scheme
	headers["x-forwarded-port"] = port
	return hostname
}

// eventBody reads req's body (up to MaxPayloadBytes+1), sets content-length, and returns it as the
// event carries it: as is when it is text, base64 otherwise.
func eventBody(req *http.Request, headers map[string]string) (string, bool, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, MaxPayloadBytes+1))
		if err != nil {
			return "", false, fmt.Errorf("e2e: read request body: %w", err)
		}
		if len(body) > 0 {
			headers["content-length"] = strconv.Itoa(len(body))
		}
	}
	if len(body) > 0 && !isText(req.Header.Get("Content-Type"), body) {
		return base64.StdEncoding.EncodeToString(body), true, nil
	}
	return string(body), false, nil
}

// eventQuery returns the query parameters as the event's map (repeated values joined with commas),
// nil when there are none.
func eventQuery(rawQuery string) map[string]string {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil || len(vals) == 0 {
		return nil
	}
	query := make(map[string]string, len(vals))
	for k, v := range vals {
		query[k] = strings.Join(v, ",")
	}
	return query
}

// requestContext is the event's requestContext for a request to hostname at now.
func requestContext(req *http.Request, routeKey, hostname, method, path, sourceIP string, now time.Time) events.APIGatewayV2HTTPRequestContext {
	domainPrefix, _, _ := strings.Cut(hostname, ".")
	return events.APIGatewayV2HTTPRequestContext{
		RouteKey:     routeKey,
		AccountID:    "111122223333",
		Stage:        "$default",
		RequestID:    randomID(),
		APIID:        domainPrefix,
		DomainName:   hostname,
		DomainPrefix: domainPrefix,
		Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		TimeEpoch:    now.UnixMilli(),
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method:    method,
			Path:      path,
			Protocol:  "HTTP/1.1",
			SourceIP:  sourceIP,
			UserAgent: req.Header.Get("User-Agent"),
		},
	}
}

// isText reports whether API Gateway would pass a body as text: a textual content type and UTF-8.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
		strings.HasSuffix(mt, "+json") || mt == "application/xml" || mt == "application/javascript"
}

// NewHTTPResponse turns a function's API Gateway v2 response into the HTTP response API Gateway
// sends: headers (single- and multi-value), one Set-Cookie per entry of cookies, and the body,
// base64-decoded when isBase64Encoded says so.
func NewHTTPResponse(req *http.Request, ev events.APIGatewayV2HTTPResponse) (*http.Response, error) {
	if ev.StatusCode < 100 || ev.StatusCode > 599 {
		return nil, fmt.Errorf("e2e: function answered status code %d", ev.StatusCode)
	}
	h := http.Header{}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range ev.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("e2e: function response body is not valid base64: %w", err)
		}
	}
	if len(body) > MaxPayloadBytes {
		return nil, errors.New("e2e: function response exceeds Lambda's 6 MB payload limit")
	}
	h.Del("Content-Length")
	return &http.Response{
		Status:        strconv.Itoa(ev.StatusCode) + " " + http.StatusText(ev.StatusCode),
		StatusCode:    ev.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

func textResponse(req *http.Request, status int, body string) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
