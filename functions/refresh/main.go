// Command refresh is the scheduled refresh Lambda: on every EventBridge event it runs one refresh pass
// over the installations whose tokens are due. Wiring only; the logic is in internal/refresh.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/refresh"
)

func main() {
	cfg, err := config.LoadFor(os.Getenv, config.FunctionRefresh)
	if err != nil {
		app.LambdaLogger(slog.LevelInfo).Error("configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	logger := app.LambdaLogger(cfg.LogLevel)
	a, err := app.New(context.Background(), cfg, app.WithLogger(logger), app.WithOwnerPrefix(config.FunctionRefresh))
	if err != nil {
		logger.Error("startup", slog.String("error", err.Error()))
		os.Exit(1)
	}
	// EMF lines on stdout: CloudWatch Logs turns them into the metrics the stack alarms on.
	r := a.PassRefresher(os.Stdout)
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
