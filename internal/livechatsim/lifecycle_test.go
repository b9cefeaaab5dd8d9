package livechatsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/simtest"
)

func refreshParams(sim *livechatsim.Simulator, refreshToken, secret string) map[string]string {
	return map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": sim.ClientID(), "client_secret": secret}
}

func TestTokenEndpoint_WrongSecretAndUnknownRefreshTokenReadTheSame(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	tok := sim.GrantTokens("acct-1")
	_, wrongSecret := postToken(t, srv, false, refreshParams(sim, tok.RefreshToken, "not-the-secret"))
	_, unknownToken := postToken(t, srv, false, refreshParams(sim, "no-such-refresh-token", sim.ClientSecret()))
	for name, out := range map[string]map[string]any{"wrong secret": wrongSecret, "unknown refresh token": unknownToken} {
		if out["error"] != "unauthorized_client" || out["error_description"] != "refresh token not found" {
			t.Errorf("%s: %v, want unauthorized_client \"refresh token not found\"", name, out)
		}
	}
}

func TestTokenEndpoint_DeniedScopesAreAccessDeniedUntilANewAuthorization(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	tok := sim.GrantTokens("acct-1")
	sim.DenyScopes("acct-1")
	status, out := postToken(t, srv, false, refreshParams(sim, tok.RefreshToken, sim.ClientSecret()))
	if status != http.StatusForbidden || out["error"] != "access_denied" || !strings.Contains(out["error_description"].(string), "scope") {
		t.Fatalf("refresh after DenyScopes = %d %v, want 403 access_denied about scopes", status, out)
	}
	fresh := sim.GrantTokens("acct-1")
	if status, out := postToken(t, srv, false, refreshParams(sim, fresh.RefreshToken, sim.ClientSecret())); status != http.StatusOK {
		t.Errorf("refresh after a new authorization = %d %v, want 200", status, out)
	}
}

func TestInfo_UnknownTokenIsUnauthorized(t *testing.T) {
	_, srv := simtest.NewServer(t, livechatsim.Options{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+livechatsim.PathInfo, nil)
	req.Header.Set("Authorization", "Bearer dal:nope")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusUnauthorized || out["error"] != "unauthorized" {
		t.Errorf("/v2/info = %d %v, want 401 unauthorized", resp.StatusCode, out)
	}
}

// hook records the App Webhooks it receives.
type hook struct {
	mu     sync.Mutex
	bodies []map[string]any
	query  []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b map[string]any
	_ = json.NewDecoder(r.Body).Decode(&b)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.query = append(h.query, r.URL.RawQuery)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"result":"uninstalled","installations":1}`)
}

func TestUninstall_RevokesTheOrganizationsTokensAndSendsTheDocumentedWebhook(t *testing.T) {
	h := &hook{}
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)
	sim, srv := simtest.NewServer(t, livechatsim.Options{WebhookURL: app.URL + "/webhooks/livechat?secret=s3cret"})
	a := sim.AddAccount(livechatsim.Account{Chats: 3})
	b := sim.AddAccount(livechatsim.Account{OrganizationID: a.OrganizationID, Chats: 3})
	other := sim.AddAccount(livechatsim.Account{Chats: 3})
	ta, tb, to := sim.GrantTokens(a.AccountID), sim.GrantTokens(b.AccountID), sim.GrantTokens(other.AccountID)

	res, err := sim.Uninstall(context.Background(), a.OrganizationID)
	if err != nil || !res.Sent || res.Status != http.StatusOK {
		t.Fatalf("Uninstall = %+v, %v", res, err)
	}
	if sim.TokenValid(ta.AccessToken) || sim.TokenValid(tb.AccessToken) || !sim.TokenValid(to.AccessToken) {
		t.Error("the organization's access tokens still work, or another organization's stopped")
	}
	if _, out := postToken(t, srv, false, refreshParams(sim, ta.RefreshToken, sim.ClientSecret())); out["error"] != "unauthorized_client" {
		t.Errorf("refresh after uninstall: %v, want unauthorized_client (refresh token not found)", out)
	}
	if len(h.bodies) != 1 || h.query[0] != "secret=s3cret" {
		t.Fatalf("webhooks received %d (queries %v), want 1 to the configured URL", len(h.bodies), h.query)
	}
	got := h.bodies[0]
	for _, k := range []string{"applicationID", "applicationName", "clientID", "date", "event", "licenseID", "organizationID", "payload", "userID"} {
		if _, ok := got[k]; !ok {
			t.Errorf("webhook body lacks %s: %v", k, got)
		}
	}
	if got["event"] != "application_uninstalled" || got["organizationID"] != a.OrganizationID || got["clientID"] != sim.ClientID() {
		t.Errorf("webhook body %v", got)
	}
	if _, err := sim.Uninstall(context.Background(), "no-such-org"); !errors.Is(err, livechatsim.ErrUnknownOrganization) {
		t.Errorf("unknown organization: %v", err)
	}
}

func TestUninstallButton_UninstallsAndShowsTheAppsAnswer(t *testing.T) {
	h := &hook{}
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	sim.SetWebhookURL(app.URL + "/webhooks/livechat?secret=x")
	a := sim.AddAccount(livechatsim.Account{Email: "owner@example.com", Chats: 3})
	tok := sim.GrantTokens(a.AccountID)

	page := get(t, srv.Client(), srv.URL+livechatsim.PathApps)
	if !strings.Contains(page, "Uninstall app") || !strings.Contains(page, a.OrganizationID) {
		t.Fatalf("apps page lacks the button for %s:\n%s", a.OrganizationID, page)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(srv.URL+livechatsim.PathUninstall, url.Values{"organization_id": {a.OrganizationID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("button POST = %d, want 303", resp.StatusCode)
	}
	page = get(t, srv.Client(), srv.URL+resp.Header.Get("Location"))
	if !strings.Contains(page, "answered 200") || !strings.Contains(page, "The app is not installed") {
		t.Errorf("result page does not show the delivery and the new state:\n%s", page)
	}
	if sim.TokenValid(tok.AccessToken) || len(h.bodies) != 1 {
		t.Error("the button did not uninstall")
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+livechatsim.PathUninstall, strings.NewReader("organization_id="+a.OrganizationID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %v %v, want 403", resp, err)
	}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
