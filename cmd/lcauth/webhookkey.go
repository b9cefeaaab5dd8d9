package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
)

// webhookKeyFile is the generated webhook secret's file under the state folder.
const webhookKeyFile = "webhook.key"

// webhookSecret uses LCAUTH_WEBHOOK_SECRET (or LCAUTH_WEBHOOK_SECRET_ARN) when set; otherwise the key
// kept in stateDir, generated once like the sealing key: 32 random bytes, whose unpadded base64url
// (43 characters, URL-safe) is the secret. The simulator's Uninstall control posts to the resulting
// URL.
func (d *devRun) webhookSecret(stateDir string) error {
	if d.getenv(config.EnvWebhookSecretARN) != "" {
		return nil
	}
	secret := d.getenv(config.EnvWebhookSecret)
	if secret == "" {
		key, _, err := loadOrCreateKey(filepath.Join(stateDir, webhookKeyFile))
		if err != nil {
			return fmt.Errorf("webhook secret (%s): %w", webhookKeyFile, err)
		}
		secret = base64.RawURLEncoding.EncodeToString(key)
		d.env[config.EnvWebhookSecret] = secret
	}
	d.webhookURL = d.publicURL + httpapi.WebhookPath + "?" + url.Values{httpapi.WebhookSecretParam: {secret}}.Encode()
	if d.sim != nil {
		d.sim.SetWebhookURL(d.webhookURL)
	}
	return nil
}
