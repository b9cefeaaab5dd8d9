package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"lcauth/internal/lifecycle"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// WebhookPath is where LiveChat's App Webhooks are received (POST, ?secret=<webhook secret>).
const WebhookPath = "/webhooks/livechat"

// WebhookSecretParam is the query parameter that carries the webhook secret: App Webhooks are not
// signed, so the URL configured in LiveChat's Developer Console holds a secret of ours.
const WebhookSecretParam = "secret"

// MaxWebhookBodyBytes bounds a webhook body; LiveChat's events are a few hundred bytes.
const MaxWebhookBodyBytes = 64 << 10

// EventApplicationUninstalled is the one App Webhook event lcauth acts on.
const EventApplicationUninstalled = "application_uninstalled"

// Uninstaller uninstalls every installation of a LiveChat organization (internal/lifecycle).
type Uninstaller interface {
	UninstallOrganization(ctx context.Context, organizationID string, reason store.UninstallReason) ([]lifecycle.Outcome, error)
}

var _ Uninstaller = (*lifecycle.Uninstaller)(nil)

// appWebhook is an App Webhook as LiveChat documents it. Unknown fields are ignored: LiveChat may add
// some, and payment events carry more.
type appWebhook struct {
	ApplicationID  string          `json:"applicationID"`
	ClientID       string          `json:"clientID"`
	Date           string          `json:"date"`
	Event          string          `json:"event"`
	LicenseID      json.Number     `json:"licenseID"`
	OrganizationID string          `json:"organizationID"`
	UserID         string          `json:"userID"`
	Payload        json.RawMessage `json:"payload"`
}

// webhookAnswer is the 200 body: what was done, without installation ids.
type webhookAnswer struct {
	Result        string `json:"result"`           // "uninstalled" or "ignored"
	Reason        string `json:"reason,omitempty"` // why ignored
	Installations int    `json:"installations"`    // installations uninstalled now
}

// WebhookHandler serves POST /webhooks/livechat whatever the path.
func (s *Server) WebhookHandler() http.Handler { return s.wrap("webhook", true, s.webhook) }

// webhook receives an App Webhook: checks the URL secret (constant time) before reading anything
// else, then acts on application_uninstalled for our client id. Everything else is answered 200 and
// logged, so LiveChat does not retry what we chose to ignore.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, http.MethodPost)
	}
	if s.webhookSecret == nil || s.uninstaller == nil {
		return webhookNotConfigured()
	}
	if e := s.checkWebhookSecret(r); e != nil {
		return e
	}
	ev, e := readWebhook(w, r)
	if e != nil {
		return e
	}
	log := s.log.With(slog.String("event", clip(ev.Event, 64)), slog.String("organization_id", clip(ev.OrganizationID, 64)),
		slog.String("license_id", clip(ev.LicenseID.String(), 32)))
	ignore := func(reason string) *apiError {
		log.InfoContext(r.Context(), "webhook ignored", slog.String("reason", reason))
		writeJSON(w, http.StatusOK, webhookAnswer{Result: "ignored", Reason: reason})
		return nil
	}
	switch {
	case ev.ClientID != s.clientID:
		return ignore("other_client")
	case ev.Event != EventApplicationUninstalled:
		return ignore("event_not_handled")
	case ev.OrganizationID == "" || len(ev.OrganizationID) > 256:
		return badRequest("application_uninstalled needs an organizationID.")
	}
	ctx, cancel := s.withTimeout(r)
	defer cancel()
	outs, err := s.uninstaller.UninstallOrganization(ctx, ev.OrganizationID, store.UninstalledByWebhook)
	if err != nil {
		// LiveChat may deliver again; uninstalling is idempotent, so a retry finishes the job.
		return s.unavailable(r, "uninstall", err)
	}
	n := 0
	for _, o := range outs {
		if o.Result == lifecycle.Uninstalled {
			n++
		}
	}
	if len(outs) == 0 {
		return ignore("unknown_organization")
	}
	log.InfoContext(r.Context(), "webhook handled", slog.Int("uninstalled", n), slog.Int("installations", len(outs)))
	writeJSON(w, http.StatusOK, webhookAnswer{Result: "uninstalled", Installations: n})
	return nil
}

// checkWebhookSecret compares ?secret= with the configured secret in constant time (over SHA-256
// digests, so not even the length leaks). Nothing else of the request has been read yet.
func (s *Server) checkWebhookSecret(r *http.Request) *apiError {
	want, err := s.webhookSecret.ClientSecret(r.Context())
	switch {
	case errors.Is(err, secrets.ErrNotConfigured):
		return webhookNotConfigured()
	case err != nil:
		return s.unavailable(r, "webhook_secret", err)
	}
	var got string
	if len(r.URL.RawQuery) <= s.maxQuery {
		if q, err := parseQuery(r.URL.RawQuery); err == nil && len(q[WebhookSecretParam]) == 1 {
			got = q[WebhookSecretParam][0]
		}
	}
	g, wt := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if got == "" || subtle.ConstantTimeCompare(g[:], wt[:]) != 1 {
		return &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Class: "webhook_secret",
			Message: "The webhook URL's secret is missing or wrong."}
	}
	return nil
}

// readWebhook reads and decodes a bounded JSON body.
func readWebhook(w http.ResponseWriter, r *http.Request) (*appWebhook, *apiError) {
	limit := "The body is larger than " + strconv.Itoa(MaxWebhookBodyBytes) + " bytes."
	if r.ContentLength > MaxWebhookBodyBytes {
		return nil, tooLarge(http.StatusRequestEntityTooLarge, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(http.StatusRequestEntityTooLarge, limit)
		}
		return nil, badRequest("The body could not be read.")
	}
	var ev appWebhook
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return nil, badRequest("The body is not an App Webhook: " + jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("The body must hold one JSON object.")
	}
	if ev.Event == "" {
		return nil, badRequest("The body is not an App Webhook: no event.")
	}
	return &ev, nil
}

func webhookNotConfigured() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: CodeNotConfigured, Class: "webhook_not_configured",
		Message: "The webhook secret is not configured.",
		Hint: "Operator: set LCAUTH_WEBHOOK_SECRET_ARN (the stack does) or LCAUTH_WEBHOOK_SECRET for local runs, " +
			"and paste the URL from `make webhook-url` (or the `lcauth dev` banner) into LiveChat's Developer Console."}
}
