// Command installations is the Lambda function behind GET /installations: lists installations (no tokens) for a service key, one bounded page per request. It reads no client secret and no state key and opens no token.
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
	a, err := app.ForLambda(context.Background(), config.FunctionInstallations, os.Getenv)
	if err != nil {
		os.Exit(1) // ForLambda logged why.
	}
	algnhsa.ListenAndServe(a.InstallationsHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
