// Package refresh keeps installations' LiveChat access tokens valid.
//
// Every refresh, whether the scheduled pass (RunPass) or one installation on demand for /chats
// (RefreshInstallation), goes through the store's lease protocol: take the lease on the version read,
// call LiveChat's token endpoint once, and save the result with a write that is conditional on that
// lease. Because LiveChat mints a new access token on every refresh (and revokes the oldest beyond 25 per
// user), a caller that loses the race never refreshes again: it waits for, or skips to, the winner's
// result.
//
// Errors are sorted by livechat.Classify:
//   - reauthorization (invalid_grant, missing_grant, access_denied on a refresh): the installation is
//     marked reauthorization_required, tokens kept, and ErrReauthorizationRequired is returned;
//   - misconfiguration (unauthorized_client, invalid_client, no client secret): the same code means "this
//     refresh token is gone" and "our client secret is wrong". A pass stops (circuit breaker, reported
//     as a failure, nothing marked) only on evidence that the credentials are wrong, and a refresh token
//     that keeps failing while other refreshes succeed leaves the due index after a few strikes
//     (breaker.go);
//   - rate_limited and transient: the lease is released with the error recorded; a pass retries with
//     exponential backoff and jitter within the lease and its own deadline, and backs off globally on a
//     burst of 429s, honouring Retry-After.
//
// A pass is a pipeline (pass.go): lease writes ahead of Options.Concurrency LiveChat call slots, saves
// after them, so the slots never wait for the store. The lease outlives its call and every save
// attempt (budget.go).
//
// A pass reports a Summary as one log line and as CloudWatch Embedded Metric Format lines (namespace
// "lcauth"), so the stack can alarm without any API call.
package refresh
