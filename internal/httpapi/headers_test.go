package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"lcauth/internal/testrig/harness"
)

func TestSecurityHeaders_OnEveryResponse(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	key := e.Install(e.Account.AccountID).APIKey
	cases := map[string]func() harness.Response{
		"install redirect": func() harness.Response { return b.Get(e.URL + "/install") },
		"callback error":   func() harness.Response { return b.Get(e.URL + "/callback") },
		"chats 200":        func() harness.Response { return e.Chats(key, "") },
		"chats 401":        func() harness.Response { return e.Chats("", "") },
		"asset":            func() harness.Response { return b.Get(e.URL + "/callback?asset=copy.js") },
		"unknown asset":    func() harness.Response { return b.Get(e.URL + "/callback?asset=evil.js") },
		"not found":        func() harness.Response { return b.Get(e.URL + "/nope") },
		"method not allowed": func() harness.Response {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/install", nil)
			return harness.Do(t, b.Client, req)
		},
	}
	for name, get := range cases {
		t.Run(name, func(t *testing.T) {
			r := get()
			want := map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-store",
				"X-Frame-Options":        "DENY",
			}
			for h, v := range want {
				if got := r.Header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe sources: %q", csp)
			}
		})
	}
}

func TestPages_InlineStyleMatchesCSPHashAndNoInlineScript(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	pages := []harness.Response{
		b.Get(e.Consent(e.StartInstall(b), e.Account.AccountID)), // success page
		e.Browser().Get(e.URL + "/callback"),                     // error page
	}
	for i, r := range pages {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("page %d is %q", i, r.Header.Get("Content-Type"))
		}
		style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(r.Body)
		if style == nil {
			t.Fatalf("page %d has no <style>", i)
		}
		sum := sha256.Sum256([]byte(style[1]))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src "+hash) {
			t.Fatalf("page %d: CSP %q does not allow its style %s", i, csp, hash)
		}
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(r.Body, -1) {
			if !strings.Contains(m, "src=") {
				t.Fatalf("page %d has an inline script: %s", i, m)
			}
		}
		if regexp.MustCompile(`\son[a-z]+=`).MatchString(r.Body) {
			t.Fatalf("page %d has an inline event handler", i)
		}
	}
}

func TestAssets_CopyScriptServedFromTheCallbackRoute(t *testing.T) {
	e := newEnv(t)
	r := e.Browser().Get(e.URL + "/callback?asset=copy.js")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(r.Body, "clipboard") {
		t.Fatalf("got %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	for _, q := range []string{"asset=../state.go", "asset=copy.js&asset=x", "asset=copy.js&code=x", "asset="} {
		if r := e.Browser().Get(e.URL + "/callback?" + q); r.Status != http.StatusNotFound {
			t.Errorf("?%s: %d, want 404", q, r.Status)
		}
	}
	// The callback Lambda serves it whatever the path (a stage prefix, for example).
	rec := newRecorder()
	req, _ := http.NewRequest(http.MethodGet, "/prod/callback?asset=copy.js", nil)
	e.App.CallbackHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("CallbackHandler /prod/callback?asset=copy.js: %d", rec.Code)
	}
}

func TestInstall_SetsBoundStateCookie(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/install", nil)
	r := harness.Do(t, e.Browser().Client, req)
	var found bool
	for _, line := range r.Header.Values("Set-Cookie") {
		if !strings.HasPrefix(line, "lcauth_state=") {
			continue
		}
		found = true
		for _, want := range []string{"Path=/callback", "Max-Age=600", "HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(line, want) {
				t.Errorf("Set-Cookie %q lacks %s", line, want)
			}
		}
	}
	if !found {
		t.Fatalf("no state cookie in %v", r.Header.Values("Set-Cookie"))
	}
	if q := query(r.Header.Get("Location"), "redirect_uri"); q != e.URL+"/callback" {
		t.Fatalf("redirect_uri = %q", q)
	}
}

func TestInstall_RejectsOtherMethodsAndHugeQueries(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/install", nil)
	if r := harness.Do(t, http.DefaultClient, req); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /install: %d, want 405", r.Status)
	}
	if r := e.Browser().Get(e.URL + "/install?x=" + strings.Repeat("a", 5000)); r.Status != http.StatusRequestURITooLong {
		t.Fatalf("huge query: %d, want 414", r.Status)
	}
}
