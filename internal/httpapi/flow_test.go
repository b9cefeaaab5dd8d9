package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"lcauth/internal/livechatsim"
)

func TestFlow_InstallAllowCallbackThenChats(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	authURL := e.StartInstall(b)
	if !strings.HasPrefix(authURL, e.Sim.ClientID()) && !strings.Contains(authURL, "client_id="+e.Sim.ClientID()) {
		t.Fatalf("authorize URL %q lacks the client id", authURL)
	}
	r := b.Get(e.Consent(authURL, e.Account.AccountID))
	if r.Status != http.StatusOK {
		t.Fatalf("callback status %d: %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("callback Content-Type = %q, want HTML for a browser", ct)
	}
	for _, want := range []string{e.Account.OrganizationID, "lca_", "curl -H", "/chats?limit=10", `data-copy="api-key"`, `src="/callback?asset=copy.js"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("success page lacks %q", want)
		}
	}
	key := between(r.Body, `id="api-key" type="text" readonly value="`, `"`)
	if !strings.HasPrefix(key, "lca_") {
		t.Fatalf("no API key on the page: %q", key)
	}

	e.ListChats(key, 5)
	if e.Sim.Calls(livechatsim.EndpointTokenExchange) != 1 {
		t.Fatalf("token exchanges = %d, want 1", e.Sim.Calls(livechatsim.EndpointTokenExchange))
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	j := strings.Index(s, end)
	if j < 0 {
		return ""
	}
	return s[:j]
}
