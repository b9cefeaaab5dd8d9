package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/httpapi"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

// reinstall runs the browser flow again for an installed account in browser b (JSON answers).
func reinstall(e *env, b *harness.Browser, accountID string) map[string]any {
	e.T.Helper()
	b.Accept = "application/json"
	r := b.Get(e.Consent(e.StartInstall(b), accountID))
	if r.Status != http.StatusOK {
		e.T.Fatalf("callback status = %d, want 200; body %s", r.Status, r.Body)
	}
	return r.JSON(e.T)
}

// postNewKey POSTs the new-key form from browser b with extra headers.
func postNewKey(b *harness.Browser, rawURL, csrf string, revokeOld bool, headers map[string]string) harness.Response {
	b.T.Helper()
	form := url.Values{"csrf_token": {csrf}}
	if revokeOld {
		form.Set("revoke_old", "1")
	}
	req, _ := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return harness.Do(b.T, b.Client, req)
}

func TestCallback_ReinstallKeepsTheOldKeyAndIssuesNone(t *testing.T) {
	e := newEnv(t)
	first := e.Install(e.Account.AccountID).APIKey
	res := reinstall(e, e.Browser(), e.Account.AccountID)
	if res["reinstalled"] != true || res["existing_keys_kept"] != true || res["api_key"] != nil {
		t.Fatalf("reinstall answered %v; want reinstalled, existing_keys_kept and no api_key", res)
	}
	if u, _ := res["new_key_url"].(string); u != e.URL+"/callback/keys" {
		t.Errorf("new_key_url = %q", u)
	}
	if tok, _ := res["csrf_token"].(string); len(tok) < 40 {
		t.Errorf("csrf_token = %q", tok)
	}
	if r := e.Chats(first, ""); r.Status != http.StatusOK {
		t.Fatalf("old key after reinstall: %d %s", r.Status, r.Body)
	}
}

func TestCallback_ReinstallPageOffersANewKeyForm(t *testing.T) {
	e := newEnv(t)
	e.Install(e.Account.AccountID)
	b := e.Browser()
	r := b.Get(e.Consent(e.StartInstall(b), e.Account.AccountID))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "existing API keys keep working") ||
		!strings.Contains(r.Body, `<form method="post" action="`+e.URL+`/callback/keys">`) || strings.Contains(r.Body, "lca_") {
		t.Fatalf("reinstall page (%d):\n%s", r.Status, r.Body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q does not allow the form", csp)
	}
}

func TestNewKey_IssuedToTheBrowserThatReinstalledOnce(t *testing.T) {
	e := newEnv(t)
	first := e.Install(e.Account.AccountID).APIKey
	b := e.Browser()
	res := reinstall(e, b, e.Account.AccountID)
	u, csrf := res["new_key_url"].(string), res["csrf_token"].(string)
	// What Chromium sends from our page (Referrer-Policy: no-referrer makes its Origin opaque).
	r := postNewKey(b, u, csrf, false, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"})
	if r.Status != http.StatusOK {
		t.Fatalf("new key: %d %s", r.Status, r.Body)
	}
	key, _ := r.JSON(t)["api_key"].(string)
	if !strings.HasPrefix(key, "lca_") || key == first {
		t.Fatalf("api_key = %q", key)
	}
	for _, k := range []string{first, key} {
		if r := e.Chats(k, ""); r.Status != http.StatusOK {
			t.Fatalf("key %s...: %d", k[:10], r.Status)
		}
	}
	// Single use.
	if r := postNewKey(b, u, csrf, false, nil); r.Status != http.StatusForbidden || r.ErrorCode(t) != httpapi.CodeNewKeyRefused {
		t.Fatalf("second POST: %d %s", r.Status, r.Body)
	}
}

func TestNewKey_RevokeOldKeys(t *testing.T) {
	e := newEnv(t)
	first := e.Install(e.Account.AccountID).APIKey
	b := e.Browser()
	res := reinstall(e, b, e.Account.AccountID)
	r := postNewKey(b, res["new_key_url"].(string), res["csrf_token"].(string), true, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("new key: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["revoked_keys"] != float64(1) {
		t.Errorf("revoked_keys = %v, want 1", m["revoked_keys"])
	}
	if r := e.Chats(first, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("old key after revoke: %d", r.Status)
	}
	if r := e.Chats(m["api_key"].(string), ""); r.Status != http.StatusOK {
		t.Errorf("new key: %d", r.Status)
	}
}

func TestNewKey_RefusedCrossSiteWithoutTheCookieAndAfterTheWindow(t *testing.T) {
	e := newEnv(t)
	first := e.Install(e.Account.AccountID).APIKey
	tests := []struct {
		name     string
		headers  map[string]string
		browser  func(own *harness.Browser) *harness.Browser
		advance  time.Duration
		wantCode string
	}{
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site"}, nil, 0, httpapi.CodeCrossSiteRequest},
		{"same-site but other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, nil, 0, httpapi.CodeCrossSiteRequest},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, nil, 0, httpapi.CodeCrossSiteRequest},
		{"opaque origin without fetch metadata", map[string]string{"Origin": "null"}, nil, 0, httpapi.CodeCrossSiteRequest},
		{"cross-site with our origin claimed", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "OURS"}, nil, 0, httpapi.CodeCrossSiteRequest},
		{"another browser (no grant cookie)", nil, func(*harness.Browser) *harness.Browser { return e.Browser() }, 0, httpapi.CodeNewKeyRefused},
		{"after 10 minutes", nil, nil, httpapi.NewKeyWindow + time.Second, httpapi.CodeNewKeyRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.Browser()
			res := reinstall(e, b, e.Account.AccountID)
			e.Sim.Advance(tt.advance)
			from := b
			if tt.browser != nil {
				from = tt.browser(b)
			}
			keysBefore := len(keyIDs(e, t, res["installation_id"].(string)))
			headers := map[string]string{}
			for k, v := range tt.headers {
				headers[k] = strings.ReplaceAll(v, "OURS", e.URL)
			}
			r := postNewKey(from, res["new_key_url"].(string), res["csrf_token"].(string), true, headers)
			if r.Status != http.StatusForbidden || r.ErrorCode(t) != tt.wantCode {
				t.Fatalf("got %d %s, want 403 %s", r.Status, r.Body, tt.wantCode)
			}
			if n := len(keyIDs(e, t, res["installation_id"].(string))); n != keysBefore {
				t.Fatalf("keys went from %d to %d", keysBefore, n)
			}
			if r := e.Chats(first, ""); r.Status != http.StatusOK {
				t.Fatalf("old key after a refused POST: %d", r.Status)
			}
		})
	}
	t.Run("wrong csrf token", func(t *testing.T) {
		b := e.Browser()
		res := reinstall(e, b, e.Account.AccountID)
		r := postNewKey(b, res["new_key_url"].(string), strings.Repeat("A", 43), false, nil)
		r.JSONError(t, http.StatusForbidden, httpapi.CodeNewKeyRefused)
	})
}

func keyIDs(e *env, t *testing.T, id string) []string {
	t.Helper()
	ks, err := e.Store.ListKeys(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestNewKey_TooManyKeysUnlessTheOldOnesGo(t *testing.T) {
	e := newEnv(t)
	inst := e.Install(e.Account.AccountID)
	for i := 1; i < store.MaxKeysPerHolder; i++ {
		if _, _, err := e.Store.CreateInstallationKey(context.Background(), inst.InstallationID, "extra"); err != nil {
			t.Fatal(err)
		}
	}
	b := e.Browser()
	res := reinstall(e, b, e.Account.AccountID)
	r := postNewKey(b, res["new_key_url"].(string), res["csrf_token"].(string), false, nil)
	r.JSONError(t, http.StatusConflict, httpapi.CodeTooManyKeys)
	if r := e.Chats(inst.APIKey, ""); r.Status != http.StatusOK {
		t.Fatalf("the first key after a refused new key: %d", r.Status)
	}

	// Asking again with "revoke the old keys" makes room: every old key goes, the new one works.
	b = e.Browser()
	res = reinstall(e, b, e.Account.AccountID)
	r = postNewKey(b, res["new_key_url"].(string), res["csrf_token"].(string), true, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("new key with revoke_old at the limit: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["revoked_keys"] != float64(store.MaxKeysPerHolder) {
		t.Errorf("revoked_keys = %v, want %d", m["revoked_keys"], store.MaxKeysPerHolder)
	}
	if ids := keyIDs(e, t, inst.InstallationID); len(ids) != 1 || ids[0] != m["key_id"] {
		t.Fatalf("keys after revoke_old: %v, want only %v", ids, m["key_id"])
	}
	if r := e.Chats(m["api_key"].(string), ""); r.Status != http.StatusOK {
		t.Fatalf("the new key: %d", r.Status)
	}
	if r := e.Chats(inst.APIKey, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("the first key after revoke_old: %d", r.Status)
	}
}
