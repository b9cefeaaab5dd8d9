package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

const webhookSecret = "whs-3b0f6a2c9e71d4587a1e0c2b"

func newWebhookEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, harness.Options{Env: map[string]string{config.EnvWebhookSecret: webhookSecret}})
}

// event is a documented App Webhook body.
func event(name, clientID, organizationID string) string {
	b, _ := json.Marshal(map[string]any{
		"applicationID": "aPbNnrwZg", "applicationName": "lcauth test", "clientID": clientID,
		"date": "2020-09-14T15:29:49+02:00", "event": name, "licenseID": 104130623,
		"organizationID": organizationID, "payload": map[string]any{"applicationID": "aPbNnrwZg"},
		"userID": "40c66719-0000-4000-8000-000000000000",
	})
	return string(b)
}

func postWebhook(t *testing.T, e *env, rawQuery, body string) harness.Response {
	t.Helper()
	u := e.URL + "/webhooks/livechat"
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return harness.Do(t, http.DefaultClient, req)
}

func secretQuery(s string) string { return "secret=" + url.QueryEscape(s) }

func TestWebhook_UninstallUninstallsTheOrganizationOnce(t *testing.T) {
	e := newWebhookEnv(t)
	res := e.Install(e.Account.AccountID)
	before := e.Get(res.InstallationID)

	r := postWebhook(t, e, secretQuery(webhookSecret), event("application_uninstalled", e.Sim.ClientID(), e.Account.OrganizationID))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
	}
	if got := r.JSON(t); got["result"] != "uninstalled" || got["installations"] != float64(1) {
		t.Errorf("answer %v, want uninstalled, 1 installation", got)
	}
	after := e.Get(res.InstallationID)
	if after.Status != store.StatusUninstalled || after.AccessToken != "" || after.RefreshToken != "" {
		t.Errorf("after the webhook: status %s, tokens present %v; want uninstalled, erased", after.Status, after.AccessToken+after.RefreshToken != "")
	}
	if e.Sim.TokenValid(before.AccessToken) {
		t.Error("the access token still works at LiveChat: not revoked")
	}

	revokes := e.Sim.Calls(livechatsim.EndpointRevoke)
	r = postWebhook(t, e, secretQuery(webhookSecret), event("application_uninstalled", e.Sim.ClientID(), e.Account.OrganizationID))
	if r.Status != http.StatusOK || r.JSON(t)["installations"] != float64(0) {
		t.Errorf("repeated event: %d %s; want 200 with 0 installations", r.Status, r.Body)
	}
	if e.Sim.Calls(livechatsim.EndpointRevoke) != revokes || e.Get(res.InstallationID).Version != after.Version {
		t.Error("the repeated event called LiveChat or changed the installation")
	}

	// The installation's key is refused with 401 uninstalled and where to install again.
	chats := e.Chats(res.APIKey, "")
	chats.JSONError(t, http.StatusUnauthorized, "uninstalled")
	if got := chats.JSON(t)["error"].(map[string]any)["install_url"]; got != e.URL+"/install" {
		t.Errorf("install_url %v, want %s", got, e.URL+"/install")
	}
	// A refresh pass does not touch it, however soon its old token would have expired.
	e.Sim.Advance(9 * time.Hour)
	sum, err := e.App.Refresher().RunPass(context.Background())
	if err != nil || sum.Due != 0 || e.Get(res.InstallationID).Version != after.Version {
		t.Errorf("refresh pass after uninstall: %+v, %v; want nothing due and the installation unchanged", sum, err)
	}
	// Installing again is a fresh start: a new key that works.
	again := e.Install(e.Account.AccountID)
	if again.APIKey == "" || again.APIKey == res.APIKey || again.InstallationID != res.InstallationID {
		t.Fatalf("reinstall: key issued %v, same as the old %v, id %s; want a new key for the same installation", again.APIKey != "", again.APIKey == res.APIKey, again.InstallationID)
	}
	if r := e.Chats(again.APIKey, "limit=2"); r.Status != http.StatusOK {
		t.Errorf("/chats with the new key: %d %s", r.Status, r.Body)
	}
	if r := e.Chats(res.APIKey, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("/chats with the old key after reinstall: %d, want 401", r.Status)
	}
}

func TestWebhook_AWrongSecretChangesNothing(t *testing.T) {
	e := newWebhookEnv(t)
	res := e.Install(e.Account.AccountID)
	before := e.Get(res.InstallationID)
	body := event("application_uninstalled", e.Sim.ClientID(), e.Account.OrganizationID)
	for name, q := range map[string]string{
		"missing":        "",
		"empty":          "secret=",
		"wrong":          secretQuery(webhookSecret[:len(webhookSecret)-1] + "x"),
		"prefix":         secretQuery(webhookSecret[:8]),
		"longer":         secretQuery(webhookSecret + "0"),
		"twice":          secretQuery(webhookSecret) + "&" + secretQuery(webhookSecret),
		"other param":    "token=" + url.QueryEscape(webhookSecret),
		"case changed":   secretQuery(strings.ToUpper(webhookSecret)),
		"with semicolon": secretQuery(webhookSecret) + ";x=1",
	} {
		r := postWebhook(t, e, q, body)
		if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
			t.Errorf("%s: %d %s; want 401 unauthorized", name, r.Status, r.Body)
		}
		if strings.Contains(r.Body, webhookSecret) {
			t.Errorf("%s: the answer holds the secret", name)
		}
	}
	after := e.Get(res.InstallationID)
	if after.Status != store.StatusActive || after.Version != before.Version || after.AccessToken != before.AccessToken {
		t.Errorf("installation changed: status %s version %d->%d", after.Status, before.Version, after.Version)
	}
	if n := e.Sim.Calls(livechatsim.EndpointRevoke); n != 0 {
		t.Errorf("LiveChat was asked to revoke %d times", n)
	}
	if r := e.Chats(res.APIKey, ""); r.Status != http.StatusOK {
		t.Errorf("/chats after the refused webhooks: %d %s", r.Status, r.Body)
	}
	e.NoSecretsLogged(webhookSecret)
}

func TestWebhook_EventsNotOursOrNotActedOnAreAcknowledged(t *testing.T) {
	e := newWebhookEnv(t)
	res := e.Install(e.Account.AccountID)
	before := e.Get(res.InstallationID)
	for name, body := range map[string]string{
		"other client":         event("application_uninstalled", "someone-elses-client", e.Account.OrganizationID),
		"installed":            event("application_installed", e.Sim.ClientID(), e.Account.OrganizationID),
		"payment":              event("payment_collected", e.Sim.ClientID(), e.Account.OrganizationID),
		"unknown organization": event("application_uninstalled", e.Sim.ClientID(), "00000000-0000-4000-8000-000000000000"),
	} {
		r := postWebhook(t, e, secretQuery(webhookSecret), body)
		if r.Status != http.StatusOK || r.JSON(t)["result"] != "ignored" {
			t.Errorf("%s: %d %s; want 200 ignored", name, r.Status, r.Body)
		}
	}
	if after := e.Get(res.InstallationID); after.Version != before.Version || after.Status != store.StatusActive {
		t.Errorf("installation changed: %s v%d", after.Status, after.Version)
	}
	if !e.HasLog("webhook ignored", map[string]any{"reason": "other_client"}) {
		t.Error("an ignored event was not logged")
	}
}

func TestWebhook_BadRequests(t *testing.T) {
	e := newWebhookEnv(t)
	q := secretQuery(webhookSecret)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed", `{"event":`, http.StatusBadRequest, "invalid_request"},
		{"not an object", `[1,2]`, http.StatusBadRequest, "invalid_request"},
		{"two objects", `{"event":"x"}{"event":"y"}`, http.StatusBadRequest, "invalid_request"},
		{"no event", `{}`, http.StatusBadRequest, "invalid_request"},
		{"uninstall without organization", event("application_uninstalled", e.Sim.ClientID(), ""), http.StatusBadRequest, "invalid_request"},
		{"over 64 KiB", `{"event":"application_installed","pad":"` + strings.Repeat("a", 64<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large"},
	} {
		r := postWebhook(t, e, q, tc.body)
		if r.Status != tc.status || r.ErrorCode(t) != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, e.URL+"/webhooks/livechat?"+q, nil)
		r := harness.Do(t, http.DefaultClient, req)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: %d (Allow %q), want 405 with Allow: POST", m, r.Status, r.Header.Get("Allow"))
		}
	}
}

func TestWebhook_WithoutASecretIsNotConfigured(t *testing.T) {
	e := newEnv(t) // no LCAUTH_WEBHOOK_SECRET
	r := postWebhook(t, e, secretQuery(""), event("application_uninstalled", e.Sim.ClientID(), e.Account.OrganizationID))
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode(t) != "not_configured" {
		t.Errorf("%d %s, want 503 not_configured", r.Status, r.Body)
	}
}
