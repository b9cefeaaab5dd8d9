// Command callback is the Lambda function behind GET /callback (and its page script): verifies the state, exchanges the code, saves the installation and shows its API key once.
// Wiring only: configuration, composition and the API Gateway HTTP API (payload v2) adapter (internal/app/lambdamain).
package main

import (
	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

func main() {
	lambdamain.ServeHTTP(config.FunctionCallback, (*app.App).CallbackHandler)
}
