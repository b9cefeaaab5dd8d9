// Package lambdamain is the body of every Lambda main: build the App for one function from the
// environment (app.ForLambda), exit if that fails, and serve. It is apart from internal/app so that
// cmd/lcauth does not link the Lambda runtime.
package lambdamain

import (
	"context"
	"net/http"
	"os"

	"github.com/akrylysov/algnhsa"

	"lcauth/internal/app"
)

// App builds the App of function fn from the process environment with opts; when that fails it
// exits with status 1 (app.ForLambda has logged why, in Lambda's format). Metric lines (Embedded
// Metric Format: ReauthorizationRequired, Uninstalled, ...) go to stdout, where CloudWatch Logs
// extracts them.
func App(fn string, opts ...app.Option) *app.App {
	opts = append([]app.Option{app.WithRefreshMetrics(os.Stdout)}, opts...)
	a, err := app.ForLambda(context.Background(), fn, os.Getenv, opts...)
	if err != nil {
		os.Exit(1)
	}
	return a
}

// ServeHTTP runs an HTTP function: the handler picks from the App of fn, served for API Gateway
// HTTP API (payload format 2.0) events. It does not return.
func ServeHTTP(fn string, handler func(*app.App) http.Handler, opts ...app.Option) {
	algnhsa.ListenAndServe(handler(App(fn, opts...)), &algnhsa.Options{RequestType: algnhsa.RequestTypeAPIGatewayV2})
}
