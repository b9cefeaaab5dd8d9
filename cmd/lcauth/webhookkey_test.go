package main

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
)

func TestWebhookSecret_GeneratedOnceIntoTheStateFolderAndGivenToTheSimulator(t *testing.T) {
	dir := t.TempDir()
	first := &devRun{getenv: func(string) string { return "" }, env: map[string]string{}, publicURL: "http://localhost:8080", sim: livechatsim.New(livechatsim.Options{})}
	if err := first.webhookSecret(dir); err != nil {
		t.Fatal(err)
	}
	secret := first.env[config.EnvWebhookSecret]
	if !config.WebhookSecretPattern.MatchString(secret) || len(secret) < 40 {
		t.Fatalf("generated secret %q is not a URL-safe secret of 43 characters", secret)
	}
	if _, err := os.Stat(filepath.Join(dir, webhookKeyFile)); err != nil {
		t.Fatalf("no %s: %v", webhookKeyFile, err)
	}
	u, err := url.Parse(first.webhookURL)
	if err != nil || u.Path != "/webhooks/livechat" || u.Query().Get("secret") != secret || u.Host != "localhost:8080" {
		t.Fatalf("webhook URL %q, want http://localhost:8080/webhooks/livechat?secret=<secret>", first.webhookURL)
	}
	again := &devRun{getenv: func(string) string { return "" }, env: map[string]string{}, publicURL: "http://localhost:8080"}
	if err := again.webhookSecret(dir); err != nil || again.env[config.EnvWebhookSecret] != secret {
		t.Fatalf("a second start got another secret (%v)", err)
	}
	set := &devRun{getenv: lookup(map[string]string{config.EnvWebhookSecret: "mine-0123456789abcdef"}), env: map[string]string{}, publicURL: "http://localhost:1"}
	if err := set.webhookSecret(t.TempDir()); err != nil || set.env[config.EnvWebhookSecret] != "" || set.webhookURL != "http://localhost:1/webhooks/livechat?secret=mine-0123456789abcdef" {
		t.Fatalf("LCAUTH_WEBHOOK_SECRET not used as is: %q %v", set.webhookURL, err)
	}
}
