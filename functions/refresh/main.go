// Command refresh is the scheduled refresh Lambda: on every EventBridge event it runs one refresh pass
// over the installations whose tokens are due. Wiring only; the logic is in internal/refresh.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
	"lcauth/internal/refresh"
)

func main() {
	// EMF lines on stdout: CloudWatch Logs turns them into the metrics the stack alarms on.
	r := lambdamain.App(config.FunctionRefresh).PassRefresher(os.Stdout)
	// The invocation fails (and the function's Errors alarm fires) only when the pass counts as failed:
	// circuit breaker or store unavailable. Running out of time is reported in the summary instead.
	lambda.Start(func(ctx context.Context, ev event) (refresh.Summary, error) {
		return r.RunShards(ctx, ev.Shards)
	})
}

// event is the invocation's input. The schedule's own event has no "shards", which means every shard;
// a target with the constant input {"shards": [0, 1, 2, 3]} runs a pass over those only (fan-out).
type event struct {
	Shards []int `json:"shards"`
}
