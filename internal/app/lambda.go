package app

import (
	"context"
	"log/slog"

	"lcauth/internal/config"
)

// ForLambda is the start of every Lambda main: it loads the function's configuration from getenv,
// builds the App with the Lambda logger (JSON on stdout, LCAUTH_LOG_LEVEL) and the function's name as
// its lease-owner prefix, then applies opts. A failure is logged in Lambda's format before it is
// returned, so the main only has to exit.
func ForLambda(ctx context.Context, fn string, getenv func(string) string, opts ...Option) (*App, error) {
	cfg, err := config.LoadFor(getenv, fn)
	if err != nil {
		LambdaLogger(slog.LevelInfo).Error("configuration", slog.String("error", err.Error()))
		return nil, err
	}
	logger := LambdaLogger(cfg.LogLevel)
	opts = append([]Option{WithLogger(logger), WithOwnerPrefix(fn)}, opts...)
	a, err := New(ctx, cfg, opts...)
	if err != nil {
		logger.Error("startup", slog.String("error", err.Error()))
		return nil, err
	}
	return a, nil
}
