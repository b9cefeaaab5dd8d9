// Command install is the Lambda function behind GET /install: a new OAuth state bound to the browser, then a redirect to LiveChat's consent page. It needs no table.
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
	a, err := app.ForLambda(context.Background(), config.FunctionInstall, os.Getenv)
	if err != nil {
		os.Exit(1) // ForLambda logged why.
	}
	algnhsa.ListenAndServe(a.InstallHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
