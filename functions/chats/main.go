// Command chats is the Lambda function behind GET and POST /chats: authenticates the API key and returns LiveChat's List Chats answer, refreshing the token first when needed.
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
	a, err := app.ForLambda(context.Background(), config.FunctionChats, os.Getenv,
		// Stdout: CloudWatch Logs extracts the EMF metric lines (ReauthorizationRequired) from it.
		app.WithRefreshMetrics(os.Stdout))
	if err != nil {
		os.Exit(1) // ForLambda logged why.
	}
	algnhsa.ListenAndServe(a.ChatsHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
