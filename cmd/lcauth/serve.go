package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/httpapi"
)

// runServe serves every route (the very handlers of the Lambda functions) on
// LCAUTH_ADDR until ctx is cancelled, against the configured table and LiveChat. Logs are JSON on
// stderr; the URLs to open are printed on stdout.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("lcauth serve", stderr, "usage: lcauth serve",
		"Serves every route (/install, /callback, /chats, /installations, /webhooks/livechat) on LCAUTH_ADDR (default 127.0.0.1:8080). Configuration: see docs/configuration.md.")
	if help, err := parseArgs(fs, args); help || err != nil {
		return err
	}
	a, err := newCommandApp(ctx, getenv, stderr, "serve", config.FunctionInstall, config.FunctionCallback, config.FunctionChats)
	if err != nil {
		return err
	}
	cfg := a.Config()
	return app.Serve(ctx, cfg.Addr, a.Handler(), a.Logger(), func(addr net.Addr) {
		fmt.Fprintf(stdout, "lcauth serving on http://%s\n  install: %s\n  callback: %s\n", addr, cfg.InstallURL, cfg.RedirectURL)
		if cfg.WebhookSecret == "" && cfg.WebhookSecretARN == "" {
			fmt.Fprintf(stdout, "  webhook: %s answers 503 until %s is set\n", httpapi.WebhookPath, config.EnvWebhookSecret)
		}
	})
}
