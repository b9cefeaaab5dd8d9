// Command chats is the Lambda function behind GET and POST /chats: authenticates the API key and returns LiveChat's List Chats answer, refreshing the token first when needed.
// Wiring only: configuration, composition (internal/app) and the API Gateway HTTP API (payload v2) adapter.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/akrylysov/algnhsa"

	"lcauth/internal/app"
	"lcauth/internal/config"
)

func main() {
	cfg, err := config.LoadFor(os.Getenv, config.FunctionChats)
	if err != nil {
		app.LambdaLogger(slog.LevelInfo).Error("configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	logger := app.LambdaLogger(cfg.LogLevel)
	a, err := app.New(context.Background(), cfg, app.WithLogger(logger), app.WithOwnerPrefix(config.FunctionChats),
		// Stdout: CloudWatch Logs extracts the EMF metric lines (ReauthorizationRequired) from it.
		app.WithRefreshMetrics(os.Stdout))
	if err != nil {
		logger.Error("startup", slog.String("error", err.Error()))
		os.Exit(1)
	}
	algnhsa.ListenAndServe(a.ChatsHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
