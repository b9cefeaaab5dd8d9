package livechatsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The Uninstall control: an organization removes the app. LiveChat then sends the
// application_uninstalled App Webhook to the URL the app maker configured (Developer Console, App
// Webhooks block). Whether LiveChat also revokes the app's tokens at once is unverified; the
// simulator does (its tokens of that organization stop working and its refresh tokens are
// forgotten: a refresh answers unauthorized_client "refresh token not found"), which is the harder
// case for the app.

// Paths of the simulator's own pages (not LiveChat's).
const (
	// PathApps lists the organizations that authorized the app, each with an "Uninstall app" button.
	PathApps = "/simulator/apps"
	// PathUninstall is the button's form action (POST organization_id).
	PathUninstall = "/simulator/uninstall"
)

// SimApplicationID is the applicationID of the simulated app in App Webhooks.
const SimApplicationID = "simApp0001"

// SetWebhookURL sets where Uninstall sends the App Webhook (see Options.WebhookURL).
func (s *Simulator) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.WebhookURL = u
}

// WebhookResult is what the app answered to an App Webhook.
type WebhookResult struct {
	// Sent is false when no webhook URL is configured.
	Sent   bool
	Status int
	Body   string // at most 4 KiB
}

// ErrUnknownOrganization: no account of the simulator belongs to the organization.
var ErrUnknownOrganization = errors.New("livechatsim: unknown organization")

// Uninstall removes the app from an organization: every token of its accounts is revoked at once
// (access tokens stop working, refresh tokens are forgotten), and then the documented
// application_uninstalled App Webhook is POSTed to the webhook URL, if one is set. The error is
// about sending the webhook (the tokens are revoked whatever it says), or ErrUnknownOrganization.
func (s *Simulator) Uninstall(ctx context.Context, organizationID string) (WebhookResult, error) {
	s.mu.Lock()
	var userID string
	for _, id := range s.order {
		a := s.accounts[id]
		if a.OrganizationID != organizationID {
			continue
		}
		if userID == "" {
			userID = a.AccountID
		}
		s.revokeAccountLocked(a.AccountID)
	}
	target, client := s.opts.WebhookURL, s.opts.WebhookClient
	clientID, now := s.opts.ClientID, s.nowLocked()
	s.mu.Unlock()
	if userID == "" {
		return WebhookResult{}, ErrUnknownOrganization
	}
	if target == "" {
		return WebhookResult{}, nil
	}
	body, _ := json.Marshal(AppWebhook(clientID, EventApplicationUninstalled, organizationID, userID, now))
	return postWebhook(ctx, client, target, body)
}

// EventApplicationUninstalled is the App Webhook event of an uninstall.
const EventApplicationUninstalled = "application_uninstalled"

// AppWebhook is an App Webhook body in the documented shape.
func AppWebhook(clientID, event, organizationID, userID string, at time.Time) map[string]any {
	return map[string]any{
		"applicationID":   SimApplicationID,
		"applicationName": "LiveChat simulator app",
		"clientID":        clientID,
		"date":            at.Format("2006-01-02T15:04:05-07:00"),
		"event":           event,
		"licenseID":       licenseID(organizationID),
		"organizationID":  organizationID,
		"payload":         map[string]any{"applicationID": SimApplicationID},
		"userID":          userID,
	}
}

// licenseID is a stable 9-digit license number for an organization.
func licenseID(organizationID string) int64 {
	sum := sha256.Sum256([]byte(organizationID))
	return 100000000 + int64(binary.BigEndian.Uint32(sum[:4])%900000000)
}

// revokeAccountLocked forgets every token of an account and ends its grant: a new authorization
// starts afresh.
func (s *Simulator) revokeAccountLocked(accountID string) {
	for tok, at := range s.access {
		if at.accountID == accountID {
			delete(s.access, tok)
		}
	}
	for tok, rt := range s.refresh {
		if rt.accountID == accountID {
			delete(s.refresh, tok)
		}
	}
	if g, ok := s.grants[accountID]; ok {
		g.revoked = true
		g.accessOrder, g.refreshOrder = nil, nil
	}
}

func postWebhook(ctx context.Context, client *http.Client, target string, body []byte) (WebhookResult, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return WebhookResult{}, fmt.Errorf("livechatsim: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "LiveChat-Webhooks (simulator)")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries the app's webhook secret: keep it out of the error
		}
		return WebhookResult{}, fmt.Errorf("livechatsim: send webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return WebhookResult{Sent: true, Status: resp.StatusCode, Body: string(b)}, nil
}

// organizations lists the organizations with at least one account that authorized the app, in
// account order.
func (s *Simulator) organizations() []appOrganization {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []appOrganization
	for _, id := range s.order {
		a := s.accounts[id]
		g, ok := s.grants[id]
		installed := ok && !g.revoked
		i := slices.IndexFunc(out, func(o appOrganization) bool { return o.ID == a.OrganizationID })
		if i < 0 {
			out = append(out, appOrganization{ID: a.OrganizationID})
			i = len(out) - 1
		}
		out[i].Emails = append(out[i].Emails, a.Email)
		out[i].Installed = out[i].Installed || installed
	}
	return out
}

type appOrganization struct {
	ID        string
	Emails    []string
	Installed bool
}

var appsTmpl = template.Must(template.New("apps").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Installed apps - LiveChat simulator</title><style>{{.CSS}}</style></head>
<body><main>
<h1>Installed apps</h1>
<p class="note">LiveChat simulator. Uninstalling revokes the organization's tokens and sends the
<code>application_uninstalled</code> App Webhook to {{if .WebhookSet}}the app's webhook URL{{else}}nobody (no webhook URL is set){{end}}.</p>
{{if .Result}}<p id="result"><strong>{{.Result}}</strong></p>{{end}}
{{range .Orgs}}<fieldset><legend>Organization <code>{{.ID}}</code></legend>
<p>{{range .Emails}}{{.}} {{end}}</p>
{{if .Installed}}<form method="post" action="{{$.Action}}"><input type="hidden" name="organization_id" value="{{.ID}}">
<div class="buttons"><button type="submit" class="allow">Uninstall app</button></div></form>
{{else}}<p class="note">The app is not installed.</p>{{end}}
</fieldset>
{{else}}<p>No organization has installed the app yet.</p>{{end}}
</main></body></html>
`))

// handleApps is GET /simulator/apps: the organizations and their "Uninstall app" buttons.
func (s *Simulator) handleApps(w http.ResponseWriter, r *http.Request) {
	s.renderApps(w, r.URL.Query().Get("result"))
}

func (s *Simulator) renderApps(w http.ResponseWriter, result string) {
	s.mu.Lock()
	webhookSet := s.opts.WebhookURL != ""
	s.mu.Unlock()
	data := struct {
		Orgs       []appOrganization
		Action     string
		Result     string
		WebhookSet bool
		CSS        template.CSS
	}{s.organizations(), PathUninstall, result, webhookSet, template.CSS(pageCSS)}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = appsTmpl.Execute(w, data)
}

// handleUninstall is POST /simulator/uninstall: the "Uninstall app" button. Only a form posted
// from the simulator's own page is accepted (Sec-Fetch-Site / Origin), so another site cannot
// uninstall by posting here.
func (s *Simulator) handleUninstall(w http.ResponseWriter, r *http.Request) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("organization_id") == "" {
		http.Error(w, "organization_id is required", http.StatusBadRequest)
		return
	}
	org := r.PostForm.Get("organization_id")
	res, err := s.Uninstall(r.Context(), org)
	var msg string
	switch {
	case errors.Is(err, ErrUnknownOrganization):
		http.Error(w, "unknown organization", http.StatusNotFound)
		return
	case err != nil:
		msg = "Uninstalled; the tokens are revoked, but the App Webhook could not be delivered: " + err.Error()
	case !res.Sent:
		msg = "Uninstalled; the tokens are revoked. No webhook URL is set, so no App Webhook was sent."
	default:
		msg = fmt.Sprintf("Uninstalled; the tokens are revoked and the App Webhook was delivered: the app answered %d %s", res.Status, res.Body)
	}
	http.Redirect(w, r, PathApps+"?"+url.Values{"result": {msg}}.Encode(), http.StatusSeeOther)
}
