// Package lifecycle ends installations: an organization's uninstall (LiveChat's
// application_uninstalled App Webhook) and the operator's `lcauth installations uninstall|delete`.
//
// Uninstalling one installation: read it, revoke its tokens at LiveChat (an access token's revocation
// takes its refresh token along; a token LiveChat no longer knows counts as revoked), then one
// conditional write (store.MarkUninstalled) erases the sealed tokens, sets status uninstalled and takes
// it out of the due index. If the installation changed in between (a refresh stored new tokens), the
// write is refused and the whole step runs again on the new version, so no token is left unrevoked
// in the table. Every step is idempotent: uninstalling twice is uninstalling once.
//
// If LiveChat cannot be reached to revoke, the installation is uninstalled all the same (erasing our
// copy is what stops the app from reaching the customer's data) and the failure is reported
// (Outcome.RevokeError, log line, metric RevokeFailed): the tokens then lapse at LiveChat on their own
// (access tokens after hours; a refresh token nobody holds any more).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"lcauth/internal/emf"
	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

// Store is the part of the store the Uninstaller uses; *store.Store satisfies it.
type Store interface {
	OrganizationInstallations(ctx context.Context, organizationID string) ([]string, error)
	Get(ctx context.Context, id string) (*store.Installation, error)
	MarkUninstalled(ctx context.Context, id string, version int64, reason store.UninstallReason) (*store.Installation, error)
	Delete(ctx context.Context, id string) error
}

// Revoker revokes a LiveChat token; *livechat.Client satisfies it. A token LiveChat does not know
// (404) is not an error.
type Revoker interface {
	Revoke(ctx context.Context, token string) error
}

var (
	_ Store   = (*store.Store)(nil)
	_ Revoker = (*livechat.Client)(nil)
)

// Options configure an Uninstaller.
type Options struct {
	// Logger receives one line per installation uninstalled; default slog.Default().
	Logger *slog.Logger
	// Metrics receives CloudWatch Embedded Metric Format lines (Uninstalled, RevokeFailed); nil
	// disables them.
	Metrics io.Writer
	// MetricsService is the value of the metrics' Service dimension (default "lcauth").
	MetricsService string
	// RevokeAttempts bounds the tries of one revocation that fails transiently (default 3).
	RevokeAttempts int
	// RevokeBackoff is the pause before the second try, doubled after each (default 200ms).
	RevokeBackoff time.Duration
}

// Uninstaller uninstalls installations. It is safe for concurrent use.
type Uninstaller struct {
	st      Store
	lc      Revoker
	log     *slog.Logger
	metrics *emf.Writer
	opts    Options
}

// New returns an Uninstaller.
func New(st Store, lc Revoker, opts Options) *Uninstaller {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RevokeAttempts <= 0 {
		opts.RevokeAttempts = 3
	}
	if opts.RevokeBackoff <= 0 {
		opts.RevokeBackoff = 200 * time.Millisecond
	}
	return &Uninstaller{st: st, lc: lc, log: opts.Logger, opts: opts, metrics: emf.New(opts.Metrics, opts.MetricsService)}
}

// Result says what uninstalling one installation did.
type Result string

// Results of Uninstall.
const (
	// Uninstalled: the installation was active or needed re-authorization and is now uninstalled.
	Uninstalled Result = "uninstalled"
	// AlreadyUninstalled: nothing changed (a repeated webhook or command).
	AlreadyUninstalled Result = "already_uninstalled"
	// Gone: no such installation (deleted in between, or the index was ahead of the table).
	Gone Result = "not_found"
)

// Outcome is what happened to one installation.
type Outcome struct {
	InstallationID string
	Result         Result
	// RevokeError is set when LiveChat could not be asked to revoke the tokens (they were erased all
	// the same). Never holds a token.
	RevokeError string
}

// maxAttempts bounds the read-revoke-write loop of one installation under concurrent changes.
const maxAttempts = 5

// Uninstall uninstalls one installation (see the package doc). An unknown id is store.ErrNotFound.
func (u *Uninstaller) Uninstall(ctx context.Context, id string, reason store.UninstallReason) (Outcome, error) {
	out := Outcome{InstallationID: id}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		inst, err := u.st.Get(ctx, id)
		if err != nil {
			return out, fmt.Errorf("lifecycle: uninstall: %w", err)
		}
		if inst.Status == store.StatusUninstalled {
			out.Result = AlreadyUninstalled
			return out, nil
		}
		if rerr := u.revoke(ctx, inst); rerr != nil {
			out.RevokeError = rerr.Error()
		}
		_, err = u.st.MarkUninstalled(ctx, id, inst.Version, reason)
		switch {
		case err == nil:
			out.Result = Uninstalled
			u.report(ctx, inst, reason, out)
			return out, nil
		case errors.Is(err, store.ErrUninstalled):
			out.Result, out.RevokeError = AlreadyUninstalled, ""
			return out, nil
		case errors.Is(err, store.ErrVersionConflict):
			out.RevokeError = ""
			continue // new tokens (a refresh, a reinstall): revoke those too
		default:
			return out, fmt.Errorf("lifecycle: uninstall: %w", err)
		}
	}
	return out, fmt.Errorf("lifecycle: uninstall %s: the installation kept changing; try again", id)
}

// UninstallOrganization uninstalls every installation of a LiveChat organization. An organization
// without installations is not an error (nil outcomes). It goes on past one installation's failure
// and returns every outcome with the failures joined.
func (u *Uninstaller) UninstallOrganization(ctx context.Context, organizationID string, reason store.UninstallReason) ([]Outcome, error) {
	ids, err := u.st.OrganizationInstallations(ctx, organizationID)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: uninstall organization: %w", err)
	}
	var (
		outs []Outcome
		errs []error
	)
	for _, id := range ids {
		out, err := u.Uninstall(ctx, id, reason)
		switch {
		case errors.Is(err, store.ErrNotFound):
			out.Result = Gone // deleted between the index read and now
		case err != nil:
			errs = append(errs, err)
			continue
		}
		outs = append(outs, out)
	}
	return outs, errors.Join(errs...)
}

// Delete uninstalls an installation and then removes its item (a customer's erasure request).
// Deleting an uninstalled installation only removes the item. Unknown ids are store.ErrNotFound.
func (u *Uninstaller) Delete(ctx context.Context, id string) (Outcome, error) {
	out, err := u.Uninstall(ctx, id, store.UninstalledByOperator)
	if err != nil {
		return out, err
	}
	if err := u.st.Delete(ctx, id); err != nil {
		return out, fmt.Errorf("lifecycle: delete: %w", err)
	}
	u.log.InfoContext(ctx, "installation deleted", slog.String("installation_id", id))
	return out, nil
}

// revoke revokes the installation's tokens: the access token (which takes its refresh token along);
// if LiveChat no longer accepts that one as a bearer (expired, already revoked), the refresh token.
// A token LiveChat rejects as unknown or invalid is already dead: success.
func (u *Uninstaller) revoke(ctx context.Context, inst *store.Installation) error {
	for _, tok := range []string{inst.AccessToken, inst.RefreshToken} {
		if tok == "" {
			continue
		}
		err := u.revokeOne(ctx, tok)
		switch livechat.Classify(err) {
		case livechat.ClassNone:
			return nil
		case livechat.ClassAuthentication, livechat.ClassInvalidRequest, livechat.ClassReauthorization:
			continue // this token is dead already; make sure of the other one
		default:
			return err
		}
	}
	return nil
}

// revokeOne calls Revoke, retrying transient failures with backoff.
func (u *Uninstaller) revokeOne(ctx context.Context, tok string) error {
	wait := u.opts.RevokeBackoff
	var err error
	for attempt := 1; ; attempt++ {
		err = u.lc.Revoke(ctx, tok)
		c := livechat.Classify(err)
		if c != livechat.ClassTransient && c != livechat.ClassRateLimited || attempt >= u.opts.RevokeAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (u *Uninstaller) report(ctx context.Context, inst *store.Installation, reason store.UninstallReason, out Outcome) {
	attrs := []slog.Attr{
		slog.String("installation_id", inst.ID),
		slog.String("organization_id", inst.OrganizationID),
		slog.String("account_id", inst.AccountID),
		slog.String("reason", string(reason)),
		slog.String("previous_status", string(inst.Status)),
	}
	level := slog.LevelInfo
	revokeFailed := 0.0
	if out.RevokeError != "" {
		level, revokeFailed = slog.LevelWarn, 1
		attrs = append(attrs, slog.String("revoke_error", out.RevokeError))
	}
	u.log.LogAttrs(ctx, level, "installation uninstalled", attrs...)
	if err := u.metrics.Emit(map[string]float64{MetricUninstalled: 1, MetricRevokeFailed: revokeFailed}, nil,
		map[string]any{"installation_id": inst.ID, "reason": string(reason)}); err != nil {
		u.log.ErrorContext(ctx, "lifecycle: metrics", "error", err.Error())
	}
}
