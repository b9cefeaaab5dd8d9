package app

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// LambdaLogger returns the logger of a Lambda function: JSON lines on stdout with Lambda's key names
// (timestamp, message) and the invocation's requestId, at level or above. It is
// lambdacontext.NewLogHandler when the function's log format is JSON; with the TEXT format that
// handler would write text, so an equivalent JSON handler is used instead: lcauth's logs are always
// JSON, whatever the function's logging configuration.
func LambdaLogger(level slog.Level) *slog.Logger {
	var h slog.Handler
	if os.Getenv("AWS_LAMBDA_LOG_FORMAT") == "JSON" {
		h = lambdacontext.NewLogHandler()
	} else {
		h = &requestIDHandler{slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: lambdacontext.ReplaceAttr})}
	}
	return slog.New(&levelHandler{Handler: h, level: level})
}

// NewJSONLogger returns a JSON logger on w at level (local server, tests).
func NewJSONLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// levelHandler drops records below level (LCAUTH_LOG_LEVEL), on top of the wrapped handler's own.
type levelHandler struct {
	slog.Handler
	level slog.Level
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}

// requestIDHandler adds the Lambda request id to every record logged with the invocation's context.
type requestIDHandler struct{ slog.Handler }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}
