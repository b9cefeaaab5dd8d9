// Command install is the Lambda function behind GET /install: a new OAuth state bound to the browser, then a redirect to LiveChat's consent page. It needs no table.
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
	cfg, err := config.LoadFor(os.Getenv, config.FunctionInstall)
	if err != nil {
		app.LambdaLogger(slog.LevelInfo).Error("configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	logger := app.LambdaLogger(cfg.LogLevel)
	a, err := app.New(context.Background(), cfg, app.WithLogger(logger), app.WithOwnerPrefix(config.FunctionInstall))
	if err != nil {
		logger.Error("startup", slog.String("error", err.Error()))
		os.Exit(1)
	}
	algnhsa.ListenAndServe(a.InstallHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
