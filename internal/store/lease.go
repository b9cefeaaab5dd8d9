package store

// The refresh lease protocol: AcquireLease before a LiveChat refresh call, then exactly one of
// CompleteRefresh (new tokens), ReleaseLease (no new tokens, error recorded) or
// MarkReauthorizationRequired, each conditional on the lease and the version it was taken on.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is a refresh lease: while it is live, no other holder can take one on the installation, and
// only its holder can write new tokens for Version.
type Lease struct {
	InstallationID string
	Owner          string // who holds it, for diagnostics (e.g. a Lambda request id)
	Version        int64  // the installation version the lease was taken on
	ExpiresAt      time.Time
	// ID is random per acquisition; the lease's writes are conditional on it, so two holders that
	// share an Owner (or a holder whose lease lapsed and was taken over) cannot be confused.
	ID string

	reactivate bool // the installation was not active when leased; completing makes it active
	// as is what the item held when the lease was taken (nil for a Lease not made by AcquireLease).
	// Under a live lease at its version only the holder writes these attributes, so CompleteRefresh
	// sets and removes only what differs: shorter expressions, which a DynamoDB-compatible server such
	// as dynalite parses per request.
	as *leasedItem
}

// leasedItem is the part of an installation item CompleteRefresh needs to write only what changes.
type leasedItem struct {
	statusReason, lastError, deadToken bool
	tokenType, scope, region           string
}

// AcquireLease takes the refresh lease on an installation for ttl, conditional on the installation
// still being at version and on no live lease (an expired one is taken over). It returns the
// installation with its tokens as of the lease. Errors: ErrNotFound, ErrVersionConflict (re-read
// and decide again), ErrLeaseHeld (another holder is refreshing: wait for its result).
func (s *Store) AcquireLease(ctx context.Context, id string, version int64, owner string, ttl time.Duration) (*Installation, *Lease, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("store: acquire lease: %w", ErrNotFound)
	}
	if err := checkField("lease owner", owner, maxIDField, true); err != nil {
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, err)
	}
	if ttl <= 0 {
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, invalidf("lease ttl %s is not positive", ttl))
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, err)
	}
	now := s.now()
	l := &Lease{InstallationID: id, Owner: owner, Version: version, ExpiresAt: now.Add(ttl).Truncate(time.Millisecond), ID: hex.EncodeToString(b[:])}
	u := expression.Set(name(attrLeaseOwner), value(owner)).
		Set(name(attrLeaseID), value(l.ID)).
		Set(name(attrLeaseExpiresAt), value(millis(l.ExpiresAt)))
	// A missing item has no version, so the version check is also an existence check. A lease's
	// attributes are set and removed together, so "no lease_expires_at after now" means no lease, or
	// an expired one.
	c := name(attrVersion).Equal(value(version)).
		And(expression.Not(name(attrLeaseExpiresAt).GreaterThan(value(millis(now)))))
	newItem, failed, old, err := s.update(ctx, id, u, c)
	if err != nil {
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, err)
	}
	if failed {
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, whyFailed(old, version, ""))
	}
	it, err := parseItem(newItem)
	var inst *Installation
	if err == nil {
		inst, err = s.decode(ctx, it)
	}
	if err != nil {
		// The lease is ours but useless; let it go so others need not wait for it to lapse.
		_ = s.ReleaseLease(ctx, l, nil)
		return nil, nil, fmt.Errorf("store: acquire lease %s: %w", id, err)
	}
	l.reactivate = inst.Status != StatusActive
	l.as = &leasedItem{
		statusReason: it.StatusReason != "",
		lastError:    it.LastErrorClass != "" || it.LastErrorMessage != "" || it.LastErrorAt != 0,
		deadToken:    it.DeadTokenStrikes != 0 || it.DeadTokenSince != 0,
		tokenType:    it.TokenType, scope: it.Scope, region: it.Region,
	}
	return inst, l, nil
}

// whyFailed explains a failed lease condition from the item as it was. leaseID is "" when acquiring.
func whyFailed(old map[string]types.AttributeValue, version int64, leaseID string) error {
	if old == nil {
		return ErrNotFound
	}
	it, err := parseItem(old)
	if err != nil {
		return err
	}
	switch {
	case it.Version != version:
		return ErrVersionConflict
	case leaseID == "":
		return ErrLeaseHeld
	case it.LeaseID == "":
		return ErrLeaseLost
	default:
		return ErrLeaseHeld
	}
}

// leaseCondition holds for the lease's holder while the installation is at the lease's version. A
// lapsed lease that nobody took over still counts: its holder's result is the newest there is (and
// with rotating refresh tokens, dropping it would lose the only valid refresh token).
func leaseCondition(l *Lease) expression.ConditionBuilder {
	return name(attrVersion).Equal(value(l.Version)).And(name(attrLeaseID).Equal(value(l.ID)))
}

func checkLease(l *Lease) error {
	if l == nil || !validID(l.InstallationID) || l.ID == "" {
		return invalidf("lease is missing or malformed")
	}
	return nil
}

// CompleteRefresh writes a refresh's new tokens under the lease: version + 1, lease and last error
// cleared, LastRefreshedAt set, status active, due index moved to the new expiry. Errors:
// ErrVersionConflict (the installation changed, e.g. a reinstall: the result is discarded),
// ErrLeaseHeld (the lease lapsed and another holder took it), ErrLeaseLost, ErrNotFound.
func (s *Store) CompleteRefresh(ctx context.Context, l *Lease, g Grant) (*Installation, error) {
	if err := checkLease(l); err != nil {
		return nil, fmt.Errorf("store: complete refresh: %w", err)
	}
	id := l.InstallationID
	if err := validateGrant(g, false); err != nil {
		return nil, fmt.Errorf("store: complete refresh %s: %w", id, err)
	}
	access, refresh, err := s.sealTokens(ctx, id, g)
	if err != nil {
		return nil, fmt.Errorf("store: complete refresh %s: %w", id, err)
	}
	u := completeUpdate(l, g, access, refresh, millis(s.now()))
	newItem, failed, old, err := s.update(ctx, id, u, leaseCondition(l))
	if err != nil {
		return nil, fmt.Errorf("store: complete refresh %s: %w", id, err)
	}
	if failed {
		return nil, fmt.Errorf("store: complete refresh %s: %w", id, whyFailed(old, l.Version, l.ID))
	}
	it, err := parseItem(newItem)
	if err != nil {
		return nil, fmt.Errorf("store: complete refresh %s: %w", id, err)
	}
	inst := it.installation()
	inst.AccessToken, inst.RefreshToken = g.AccessToken, g.RefreshToken
	return inst, nil
}

// completeUpdate is CompleteRefresh's update: new tokens and expiry, version + 1, lease, last error,
// strikes and status reason cleared, status active, due index at the new expiry. With what the item
// held when leased (l.as), it leaves out what would not change.
func completeUpdate(l *Lease, g Grant, access, refresh string, now int64) expression.UpdateBuilder {
	as := l.as
	if as == nil {
		as = &leasedItem{statusReason: true, lastError: true, deadToken: true}
	}
	u := expression.Set(name(attrAccessToken), value(access)).
		Set(name(attrRefreshToken), value(refresh)).
		Set(name(attrExpiresAt), value(millis(g.ExpiresAt))).
		Set(name(attrVersion), name(attrVersion).Plus(value(1))).
		Set(name(attrUpdatedAt), value(now)).
		Set(name(attrLastRefreshedAt), value(now))
	if l.reactivate || l.as == nil {
		u = u.Set(name(attrStatus), value(string(StatusActive)))
	}
	if l.reactivate {
		u = u.Set(name(attrStatusChangedAt), value(now))
	}
	// LiveChat's refresh answer may leave out fields it did not change; keep the stored ones then.
	for _, f := range []struct{ attr, v, was string }{{attrTokenType, g.TokenType, as.tokenType}, {attrScope, g.Scope, as.scope}, {attrRegion, g.Region, as.region}} {
		if f.v != "" && f.v != f.was {
			u = u.Set(name(f.attr), value(f.v))
		}
	}
	u = setDue(u, l.InstallationID, g.ExpiresAt)
	remove := leaseAttrs
	for _, r := range []struct {
		had   bool
		attrs []string
	}{{as.statusReason, []string{attrStatusReason}}, {as.lastError, lastErrorAttrs}, {as.deadToken, deadTokenAttrs}} {
		if r.had {
			remove = append(slices.Clip(remove), r.attrs...)
		}
	}
	return removeAll(u, remove...)
}

// ReleaseLease gives the lease up without new tokens, recording refreshErr (if not nil) as the last
// refresh error. Tokens and version are unchanged, so the installation stays due and the next pass
// retries it. Errors as CompleteRefresh.
func (s *Store) ReleaseLease(ctx context.Context, l *Lease, refreshErr *RefreshError) error {
	if err := checkLease(l); err != nil {
		return fmt.Errorf("store: release lease: %w", err)
	}
	id := l.InstallationID
	now := s.now()
	u := expression.Set(name(attrUpdatedAt), value(millis(now)))
	if refreshErr != nil {
		at := refreshErr.At
		if at.IsZero() {
			at = now
		}
		u = u.Set(name(attrLastErrorClass), value(truncate(refreshErr.Class, maxIDField))).
			Set(name(attrLastErrorMsg), value(truncate(refreshErr.Message, MaxErrorMessage))).
			Set(name(attrLastErrorAt), value(millis(at)))
		if refreshErr.Strike {
			u = u.Add(name(attrDeadTokenStrikes), value(1)).
				Set(name(attrDeadTokenSince), name(attrDeadTokenSince).IfNotExists(value(millis(at))))
		}
	}
	u = removeAll(u, leaseAttrs...)
	_, failed, old, err := s.update(ctx, id, u, leaseCondition(l))
	if err != nil {
		return fmt.Errorf("store: release lease %s: %w", id, err)
	}
	if failed {
		return fmt.Errorf("store: release lease %s: %w", id, whyFailed(old, l.Version, l.ID))
	}
	return nil
}

// MarkReauthorizationRequired records, under the lease, that LiveChat refused the installation's
// grant: status reauthorization_required with reason, version + 1, lease cleared, and the item leaves
// the due index. The tokens are kept; a reinstall (Install) reactivates it. Errors as CompleteRefresh.
func (s *Store) MarkReauthorizationRequired(ctx context.Context, l *Lease, reason string) (*Installation, error) {
	if err := checkLease(l); err != nil {
		return nil, fmt.Errorf("store: mark reauthorization required: %w", err)
	}
	id := l.InstallationID
	now := millis(s.now())
	u := expression.Set(name(attrStatus), value(string(StatusReauthorizationRequired))).
		Set(name(attrStatusChangedAt), value(now)).
		Set(name(attrUpdatedAt), value(now)).
		Set(name(attrVersion), name(attrVersion).Plus(value(1)))
	if reason = truncate(reason, MaxErrorMessage); reason != "" {
		u = u.Set(name(attrStatusReason), value(reason))
	} else {
		u = u.Remove(name(attrStatusReason))
	}
	u = removeAll(u, append([]string{AttrDueShard, AttrDueAt}, leaseAttrs...)...)
	newItem, failed, old, err := s.update(ctx, id, u, leaseCondition(l))
	if err != nil {
		return nil, fmt.Errorf("store: mark reauthorization required %s: %w", id, err)
	}
	if failed {
		return nil, fmt.Errorf("store: mark reauthorization required %s: %w", id, whyFailed(old, l.Version, l.ID))
	}
	inst, err := s.decodeMap(ctx, newItem)
	if err != nil {
		return nil, fmt.Errorf("store: mark reauthorization required %s: %w", id, err)
	}
	return inst, nil
}
