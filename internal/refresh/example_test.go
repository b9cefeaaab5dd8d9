package refresh_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
)

// A scheduled pass: refresh what expires within the hour, 32 at a time, with metrics on stdout, and
// fail the invocation only when the pass counts as failed.
func ExampleRefresher_RunPass() {
	var st *store.Store         // store.New(dynamodbClient, table, sealer)
	var lc *livechat.Client     // livechat.New(livechat.Config{...})
	ctx := context.Background() // in Lambda: the invocation's context, with its deadline
	r := refresh.New(st, lc, refresh.Options{
		Window:      time.Hour,
		Concurrency: 32,
		Logger:      slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		Metrics:     os.Stdout,
	})
	sum, err := r.RunPass(ctx)
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if err != nil {
		// errors.Is(err, refresh.ErrCircuitOpen) or refresh.ErrStoreUnavailable: alarm.
		os.Exit(1)
	}
}

// On demand, for a request that needs a valid access token now.
func ExampleRefresher_RefreshInstallation() {
	var r *refresh.Refresher
	var inst *store.Installation // as read by the request, token about to expire
	fresh, err := r.RefreshInstallation(context.Background(), inst)
	switch {
	case errors.Is(err, refresh.ErrReauthorizationRequired):
		// The user must install the app again.
	case errors.Is(err, refresh.ErrRefreshInProgress):
		// Another process is refreshing it right now: retry in a second.
	case livechat.IsTransient(err):
		// LiveChat is busy or down: the old token may still work for a moment.
	case err != nil:
		// Misconfiguration (livechat.Classify) or the store.
	default:
		_ = fresh.AccessToken
	}
}
