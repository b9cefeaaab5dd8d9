package app

import (
	"net/http"

	"lcauth/internal/httpapi"
	"lcauth/internal/lifecycle"
	"lcauth/internal/secrets"
)

// webhookOptions wires POST /webhooks/livechat: the uninstaller (where a table is configured) and the
// webhook secret (Secrets Manager or LCAUTH_WEBHOOK_SECRET). Without a secret the route answers 503
// not_configured.
func (a *App) webhookOptions(h *httpapi.Options, sm secrets.GetSecretValueAPI, awsl *awsLoader) error {
	h.ClientID = a.cfg.ClientID
	if a.uninst != nil {
		h.Uninstaller = a.uninst
	}
	switch {
	case a.cfg.WebhookSecretARN != "":
		sm, err := awsl.secretsManager(sm)
		if err != nil {
			return err
		}
		h.WebhookSecret = secrets.NewSecretsManager(sm, a.cfg.WebhookSecretARN, a.cfg.SecretTTL)
	case a.cfg.WebhookSecret != "":
		h.WebhookSecret = secrets.Static(a.cfg.WebhookSecret)
	}
	return nil
}

// Uninstaller returns the uninstaller (webhook, operator CLI), or nil when no table is configured.
func (a *App) Uninstaller() *lifecycle.Uninstaller { return a.uninst }

// WebhookHandler serves POST /webhooks/livechat (the webhook function).
func (a *App) WebhookHandler() http.Handler { return a.httpHandler((*httpapi.Server).WebhookHandler) }
