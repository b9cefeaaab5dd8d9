// Command callback is the Lambda function behind GET /callback (and its page script): verifies the state, exchanges the code, saves the installation and shows its API key once.
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
	a, err := app.ForLambda(context.Background(), config.FunctionCallback, os.Getenv)
	if err != nil {
		os.Exit(1) // ForLambda logged why.
	}
	algnhsa.ListenAndServe(a.CallbackHandler(), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
