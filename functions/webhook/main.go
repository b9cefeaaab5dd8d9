// Command webhook is the Lambda function behind POST /webhooks/livechat: LiveChat's App Webhooks,
// authenticated by the secret in the URL. application_uninstalled for our client revokes the
// organization's tokens at LiveChat, erases them and marks its installations uninstalled.
// Wiring only: configuration, composition (internal/app) and the API Gateway HTTP API (payload v2) adapter.
package main

import (
	"context"
	"os"

	"github.com/akrylysov/algnhsa"

	"lcauth/internal/app"
	"lcauth/internal/config"
)

func main() {
	a, err := app.ForLambda(context.Background(), config.FunctionWebhook, os.Getenv,
		// Stdout: CloudWatch Logs extracts the EMF metric lines (Uninstalled, RevokeFailed) from it.
		app.WithRefreshMetrics(os.Stdout))
	if err != nil {
		os.Exit(1) // ForLambda logged why.
	}
	algnhsa.ListenAndServe(a.WebhookHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
