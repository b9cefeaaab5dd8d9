// Command installations is the Lambda function behind GET /installations: lists installations (no tokens) for a service key, one bounded page per request. It reads no client secret and no state key and opens no token.
// Wiring only: configuration, composition and the API Gateway HTTP API (payload v2) adapter (internal/app/lambdamain).
package main

import (
	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

func main() {
	lambdamain.ServeHTTP(config.FunctionInstallations, (*app.App).InstallationsHandler)
}
