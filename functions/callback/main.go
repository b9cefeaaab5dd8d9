// Command callback is the Lambda function behind GET /callback (and its page script): verifies the state, exchanges the code, saves the installation and shows its API key once.
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
	cfg, err := config.LoadFor(os.Getenv, config.FunctionCallback)
	if err != nil {
		app.LambdaLogger(slog.LevelInfo).Error("configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	logger := app.LambdaLogger(cfg.LogLevel)
	a, err := app.New(context.Background(), cfg, app.WithLogger(logger), app.WithOwnerPrefix(config.FunctionCallback))
	if err != nil {
		logger.Error("startup", slog.String("error", err.Error()))
		os.Exit(1)
	}
	algnhsa.ListenAndServe(a.CallbackHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
