// Command hello is the smallest useful Go Lambda: it answers every API Gateway HTTP API event with
// "hello". BenchmarkColdStart builds it exactly like lcauth's functions and reports their cold
// starts as a ratio to its own, so the numbers say what lcauth adds on top of Go and the runtime.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			Body:       "hello\n",
		}, nil
	})
}
