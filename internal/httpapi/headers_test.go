package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestSecurityHeaders_OnEveryResponse(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	key := e.install(e.account.AccountID)["api_key"].(string)
	cases := map[string]func() response{
		"install redirect": func() response { return b.get(e.ts.URL + "/install") },
		"callback error":   func() response { return b.get(e.ts.URL + "/callback") },
		"chats 200":        func() response { return e.chats(key, "") },
		"chats 401":        func() response { return e.chats("", "") },
		"asset":            func() response { return b.get(e.ts.URL + "/callback?asset=copy.js") },
		"unknown asset":    func() response { return b.get(e.ts.URL + "/callback?asset=evil.js") },
		"not found":        func() response { return b.get(e.ts.URL + "/nope") },
		"method not allowed": func() response {
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/install", nil)
			return do(t, b.client, req)
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
				if got := r.header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			csp := r.header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
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
	b := e.browser()
	pages := []response{
		b.get(e.consent(e.startInstall(b), e.account.AccountID)), // success page
		e.browser().get(e.ts.URL + "/callback"),                  // error page
	}
	for i, r := range pages {
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("page %d is %q", i, r.header.Get("Content-Type"))
		}
		style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(r.body)
		if style == nil {
			t.Fatalf("page %d has no <style>", i)
		}
		sum := sha256.Sum256([]byte(style[1]))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src "+hash) {
			t.Fatalf("page %d: CSP %q does not allow its style %s", i, csp, hash)
		}
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(r.body, -1) {
			if !strings.Contains(m, "src=") {
				t.Fatalf("page %d has an inline script: %s", i, m)
			}
		}
		if regexp.MustCompile(`\son[a-z]+=`).MatchString(r.body) {
			t.Fatalf("page %d has an inline event handler", i)
		}
	}
}

func TestAssets_CopyScriptServedFromTheCallbackRoute(t *testing.T) {
	e := newEnv(t)
	r := e.browser().get(e.ts.URL + "/callback?asset=copy.js")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(r.body, "clipboard") {
		t.Fatalf("got %d %q", r.status, r.header.Get("Content-Type"))
	}
	for _, q := range []string{"asset=../state.go", "asset=copy.js&asset=x", "asset=copy.js&code=x", "asset="} {
		if r := e.browser().get(e.ts.URL + "/callback?" + q); r.status != http.StatusNotFound {
			t.Errorf("?%s: %d, want 404", q, r.status)
		}
	}
	// The callback Lambda serves it whatever the path (a stage prefix, for example).
	rec := newRecorder()
	req, _ := http.NewRequest(http.MethodGet, "/prod/callback?asset=copy.js", nil)
	e.srv.CallbackHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("CallbackHandler /prod/callback?asset=copy.js: %d", rec.Code)
	}
}

func TestInstall_SetsBoundStateCookie(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/install", nil)
	r := do(t, e.browser().client, req)
	var found bool
	for _, line := range r.header.Values("Set-Cookie") {
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
		t.Fatalf("no state cookie in %v", r.header.Values("Set-Cookie"))
	}
	if q := query(r.header.Get("Location"), "redirect_uri"); q != e.ts.URL+"/callback" {
		t.Fatalf("redirect_uri = %q", q)
	}
}

func TestInstall_RejectsOtherMethodsAndHugeQueries(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/install", nil)
	if r := do(t, http.DefaultClient, req); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /install: %d, want 405", r.status)
	}
	if r := e.browser().get(e.ts.URL + "/install?x=" + strings.Repeat("a", 5000)); r.status != http.StatusRequestURITooLong {
		t.Fatalf("huge query: %d, want 414", r.status)
	}
}
