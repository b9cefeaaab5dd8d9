// Command install is the Lambda function behind GET /install: a new OAuth state bound to the browser, then a redirect to LiveChat's consent page. It needs no table.
// Wiring only: configuration, composition and the API Gateway HTTP API (payload v2) adapter (internal/app/lambdamain).
package main

import (
	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

func main() {
	lambdamain.ServeHTTP(config.FunctionInstall, (*app.App).InstallHandler)
}
