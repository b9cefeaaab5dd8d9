package app

import (
	"io"

	"lcauth/internal/refresh"
)

// PassRefresher returns a refresher for scheduled passes: the App's store, LiveChat client, clock,
// logger and refresh settings (LCAUTH_REFRESH_*), writing CloudWatch Embedded Metric Format lines to
// metrics (stdout in Lambda, where CloudWatch Logs extracts them; nil writes none). It shares the
// lease protocol with the App's own Refresher, so a pass and /chats never refresh an installation
// twice. It returns nil when no table is configured.
func (a *App) PassRefresher(metrics io.Writer) *refresh.Refresher {
	base := a.Refresher()
	if base == nil {
		return nil
	}
	opts := base.Options()
	opts.Metrics = metrics
	return refresh.New(a.Store(), a.LiveChat(), opts)
}
