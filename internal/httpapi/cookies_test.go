package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// On https the state cookie is __Host-lcauth_state: Secure, Path=/, no Domain (the browser enforces
// the prefix), and the callback reads it under that name.
func TestStateCookie_IsHostPrefixedOnHTTPS(t *testing.T) {
	f := newFzServer(t)
	if !strings.HasPrefix(fzRedirectURL, "https://") {
		t.Fatalf("the fuzz server's redirect URL %q is not https", fzRedirectURL)
	}
	w := httptest.NewRecorder()
	f.srv.InstallHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/install", nil))
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want one", cookies)
	}
	c := cookies[0]
	if c.Name != SecureStateCookieName || c.Path != "/" || !c.Secure || !c.HttpOnly || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie %+v, want __Host-lcauth_state; Path=/; Secure; HttpOnly; SameSite=Lax; no Domain", c)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	state := loc.Query().Get("state")

	r := httptest.NewRequest(http.MethodGet, "/callback?code=dal%3Acode&state="+url.QueryEscape(state), nil)
	r.Header.Set("Accept", "application/json")
	r.AddCookie(&http.Cookie{Name: StateCookieName, Value: c.Value}) // the plain name is not ours on https
	w = httptest.NewRecorder()
	f.srv.CallbackHandler().ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || f.lc.exchanges != 0 {
		t.Fatalf("callback with the cookie under the plain name: %d, %d exchanges", w.Code, f.lc.exchanges)
	}
	r = httptest.NewRequest(http.MethodGet, "/callback?code=dal%3Acode&state="+url.QueryEscape(state), nil)
	r.Header.Set("Accept", "application/json")
	r.AddCookie(&http.Cookie{Name: SecureStateCookieName, Value: c.Value})
	w = httptest.NewRecorder()
	f.srv.CallbackHandler().ServeHTTP(w, r)
	if w.Code != http.StatusOK || f.lc.exchanges != 1 {
		t.Fatalf("callback: %d %s, %d exchanges", w.Code, w.Body, f.lc.exchanges)
	}
	for _, sc := range w.Result().Cookies() {
		if sc.Name == SecureStateCookieName && (sc.MaxAge >= 0 || sc.Path != "/") {
			t.Errorf("the state cookie is not cleared at Path=/: %+v", sc)
		}
	}
}

// The new-key grant cookie is __Host-lcauth_keys on https, SameSite=Strict.
func TestKeysCookie_IsHostPrefixedAndStrictOnHTTPS(t *testing.T) {
	f := newFzServer(t)
	keys, e := f.srv.stateKeys(context.Background())
	if e != nil {
		t.Fatal(e)
	}
	cookie, _, err := keys.issueGrant(fzNow, "abc")
	if err != nil {
		t.Fatal(err)
	}
	c := f.srv.keysCookie(cookie, 600)
	if c.Name != "__Host-"+KeysCookieName || c.Path != "/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("grant cookie %+v", c)
	}
}
