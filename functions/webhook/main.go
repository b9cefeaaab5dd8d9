// Command webhook is the Lambda function behind POST /webhooks/livechat: LiveChat's App Webhooks,
// authenticated by the secret in the URL. application_uninstalled for our client revokes the
// organization's tokens at LiveChat, erases them and marks its installations uninstalled.
// Wiring only: configuration, composition and the API Gateway HTTP API (payload v2) adapter (internal/app/lambdamain).
package main

import (
	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

func main() {
	lambdamain.ServeHTTP(config.FunctionWebhook, (*app.App).WebhookHandler)
}
