// Command chats is the Lambda function behind GET and POST /chats: authenticates the API key and returns LiveChat's List Chats answer, refreshing the token first when needed.
// Wiring only: configuration, composition and the API Gateway HTTP API (payload v2) adapter (internal/app/lambdamain).
package main

import (
	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

func main() {
	lambdamain.ServeHTTP(config.FunctionChats, (*app.App).ChatsHandler)
}
