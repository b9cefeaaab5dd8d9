package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"lcauth/internal/lifecycle"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

const (
	fzWebhookSecret = "fuzz-webhook-secret-0c9a7e51"
	fzClientID      = "fuzz-client-id"
	// fzSecretPlaceholder in a fuzzed query is replaced by the real webhook secret.
	fzSecretPlaceholder = "SECRET"
)

// fzUninstaller records which organizations the webhook asked to uninstall.
type fzUninstaller struct {
	mu   sync.Mutex
	orgs []string
}

func (u *fzUninstaller) UninstallOrganization(_ context.Context, org string, _ store.UninstallReason) ([]lifecycle.Outcome, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.orgs = append(u.orgs, org)
	return []lifecycle.Outcome{{InstallationID: "i1", Result: lifecycle.Uninstalled}}, nil
}

// FuzzWebhook: whatever the query and body, the webhook answers JSON without a 5xx, uninstalls only
// for a request with exactly the right secret carrying application_uninstalled for our client id, and
// never reflects or logs the secret.
func FuzzWebhook(f *testing.F) {
	valid := `{"applicationID":"a","clientID":"` + fzClientID + `","event":"application_uninstalled","licenseID":1,"organizationID":"org-1","payload":{},"userID":"u"}`
	for _, seed := range []struct{ query, body string }{
		{"secret=SECRET", valid},
		{"secret=SECRET", strings.Replace(valid, fzClientID, "other", 1)},
		{"secret=SECRET", strings.Replace(valid, "application_uninstalled", "application_installed", 1)},
		{"secret=SECRET&secret=SECRET", valid},
		{"secret=wrong", valid},
		{"", valid},
		{"secret=SECRET", `{"event":`},
		{"secret=SECRET", `[]`},
		{"secret=SECRET", `null`},
		{"secret=SECRET", `{"event":"application_uninstalled","clientID":"` + fzClientID + `","organizationID":""}`},
		{"secret=SECRET", `{"event":"application_uninstalled","clientID":"` + fzClientID + `","organizationID":"x","licenseID":"not a number"}`},
		{"secret=SECRET;x=1", valid},
		{"secret=%zz", valid},
		{"secret=SECRET", strings.Repeat(`{"a":`, 2000)},
	} {
		f.Add(seed.query, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		query = strings.ReplaceAll(query, fzSecretPlaceholder, fzWebhookSecret)
		logs := &bytes.Buffer{}
		u := &fzUninstaller{}
		srv, err := New(Options{
			Store: &fzStore{}, LiveChat: &fzLiveChat{}, Refresher: fzRefresher{}, Secret: fzSecretSource{},
			RedirectURL: fzRedirectURL, InstallURL: fzInstallURL, Now: func() time.Time { return fzNow },
			Logger:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Uninstaller: u, WebhookSecret: secrets.Static(fzWebhookSecret), ClientID: fzClientID,
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/livechat", bytes.NewReader(body))
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		srv.WebhookHandler().ServeHTTP(rec, req)
		checkCommon(t, rec, true)

		q, qerr := parseQuery(query)
		authentic := qerr == nil && len(q["secret"]) == 1 && q["secret"][0] == fzWebhookSecret && len(query) <= DefaultMaxQueryBytes
		if !authentic && rec.Code != http.StatusUnauthorized {
			t.Fatalf("query %q without exactly the secret: status %d, want 401", query, rec.Code)
		}
		var ev appWebhook
		acted := authentic && json.Unmarshal(body, &ev) == nil && ev.ClientID == fzClientID && ev.Event == EventApplicationUninstalled && ev.OrganizationID != ""
		if n := len(u.orgs); (n > 0) != (acted && rec.Code == http.StatusOK) || n > 1 {
			t.Fatalf("uninstalled %v for status %d, query %q, body %q", u.orgs, rec.Code, query, body)
		}
		if n := len(u.orgs); n == 1 && u.orgs[0] != ev.OrganizationID {
			t.Fatalf("uninstalled %q, want %q", u.orgs[0], ev.OrganizationID)
		}
		for _, out := range []string{rec.Body.String(), logs.String()} {
			if strings.Contains(out, fzWebhookSecret) || strings.Contains(out, url.QueryEscape(fzWebhookSecret)) {
				t.Fatal("the webhook secret appears in the answer or the log")
			}
		}
	})
}
