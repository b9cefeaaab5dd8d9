package store

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"
)

// Status is an installation's lifecycle state.
type Status string

const (
	// StatusActive installations have working tokens and are kept fresh by the refresher (they are in
	// the due index).
	StatusActive Status = "active"
	// StatusReauthorizationRequired installations were refused by LiveChat (invalid_grant,
	// missing_grant). Their tokens are kept, they leave the due index, and a reinstall reactivates them.
	StatusReauthorizationRequired Status = "reauthorization_required"
	// StatusUninstalled installations were uninstalled by their organization (LiveChat's
	// application_uninstalled webhook, or an operator): tokens revoked at LiveChat and erased from the
	// item, out of the due index, installation keys refused. The item stays for the operator; installing
	// again is a fresh start.
	StatusUninstalled Status = "uninstalled"
)

// Installation is one LiveChat (organization, account) that authorized the app. Tokens are plaintext
// in memory only; in the table they are sealed. String, GoString and LogValue redact them.
type Installation struct {
	ID             string // InstallationID(OrganizationID, AccountID)
	OrganizationID string
	AccountID      string
	Region         string // LiveChat data-center region (from the access token prefix), e.g. "dal"

	AccessToken  string
	RefreshToken string
	TokenType    string
	Scope        string    // LiveChat's comma-separated scope string
	ExpiresAt    time.Time // access token expiry

	Status          Status
	StatusReason    string
	StatusChangedAt time.Time

	// Version increases by one on every token or status change; every such write is conditional on it.
	Version int64

	CreatedAt       time.Time
	UpdatedAt       time.Time
	LastRefreshedAt time.Time // zero until the first refresh

	LastRefreshError *RefreshError // nil when the last refresh succeeded (or none failed yet)

	LeaseOwner     string    // "" when no refresh lease is held
	LeaseExpiresAt time.Time // when a held lease lapses by itself

	// DeadTokenStrikes counts refreshes LiveChat refused with unauthorized_client / invalid_client in
	// passes that proved our client credentials right (another refresh succeeded), since
	// DeadTokenSince. A successful refresh or a reinstall clears both. The refresher uses them to take a
	// dead refresh token out of the due index (see the refresh package).
	DeadTokenStrikes int
	DeadTokenSince   time.Time
}

// RefreshError is the last failed refresh of an installation. Message must never hold a token, code or
// secret; the store truncates it to MaxErrorMessage bytes.
type RefreshError struct {
	Class   string // a livechat.ErrorClass, e.g. "transient"
	Message string
	At      time.Time
	// Strike, on ReleaseLease, counts one more strike against the refresh token
	// (Installation.DeadTokenStrikes; DeadTokenSince is set on the first).
	Strike bool
}

// Grant is a set of tokens from LiveChat (a code exchange or a refresh) for one installation.
// String, GoString and LogValue redact the tokens.
type Grant struct {
	AccessToken, RefreshToken, TokenType, Scope string
	ExpiresAt                                   time.Time
	OrganizationID, AccountID, Region           string
}

const redacted = "[redacted]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String describes the installation without its tokens.
func (i *Installation) String() string {
	if i == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Installation{ID:%s OrganizationID:%s AccountID:%s Region:%s AccessToken:%s RefreshToken:%s ExpiresAt:%s Status:%s Version:%d LeaseOwner:%q}",
		i.ID, i.OrganizationID, i.AccountID, i.Region, redact(i.AccessToken), redact(i.RefreshToken),
		i.ExpiresAt.UTC().Format(time.RFC3339), i.Status, i.Version, i.LeaseOwner)
}

// GoString is String, so %#v cannot print the tokens either.
func (i *Installation) GoString() string { return i.String() }

// LogValue logs the installation without its tokens.
func (i *Installation) LogValue() slog.Value {
	if i == nil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{
		slog.String("id", i.ID),
		slog.String("organization_id", i.OrganizationID),
		slog.String("account_id", i.AccountID),
		slog.String("region", i.Region),
		slog.String("status", string(i.Status)),
		slog.Int64("version", i.Version),
		slog.Time("expires_at", i.ExpiresAt),
	}
	if i.LeaseOwner != "" {
		attrs = append(attrs, slog.String("lease_owner", i.LeaseOwner), slog.Time("lease_expires_at", i.LeaseExpiresAt))
	}
	return slog.GroupValue(attrs...)
}

// String describes the grant without its tokens.
func (g Grant) String() string {
	return fmt.Sprintf("Grant{OrganizationID:%s AccountID:%s Region:%s AccessToken:%s RefreshToken:%s TokenType:%s Scope:%s ExpiresAt:%s}",
		g.OrganizationID, g.AccountID, g.Region, redact(g.AccessToken), redact(g.RefreshToken), g.TokenType, g.Scope,
		g.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString is String, so %#v cannot print the tokens either.
func (g Grant) GoString() string { return g.String() }

// LogValue logs the grant without its tokens.
func (g Grant) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("organization_id", g.OrganizationID),
		slog.String("account_id", g.AccountID),
		slog.String("region", g.Region),
		slog.String("scope", g.Scope),
		slog.Time("expires_at", g.ExpiresAt),
	)
}

// idEncoding spells ids and API-key secrets in [a-z2-7]: safe in URLs, headers and between the
// underscores of an API key.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idBytes is how much of the SHA-256 an id keeps: 128 bits make collisions between installations
// practically impossible, and 26 characters keep API keys short.
const idBytes = 16

// IDLength is the length of every installation id.
var IDLength = idEncoding.EncodedLen(idBytes)

// InstallationID returns the stable id of the installation of (organizationID, accountID): 26
// characters of [a-z2-7], a truncated SHA-256 of both, so reinstalling finds the same item and the id
// can sit inside an API key. It reveals nothing a holder of the key does not already know.
func InstallationID(organizationID, accountID string) string {
	h := sha256.New()
	h.Write([]byte("lcauth/installation/v1\x00"))
	var n [8]byte
	for _, s := range []string{organizationID, accountID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return idEncoding.EncodeToString(h.Sum(nil)[:idBytes])
}

// validID reports whether id has the shape InstallationID produces. Lookups of anything else are
// answered without a request.
func validID(id string) bool {
	if len(id) != IDLength {
		return false
	}
	return validBase32(id)
}

func validBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// DueShard returns the due-index shard of an installation: a stable function of its id in
// [0, DueShards).
func DueShard(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % DueShards)
}

// OptionalTime returns nil for the zero time, the store's "never" (a field it has not set, such as
// last_refreshed_at before the first refresh or expires_at once tokens are erased), and t in UTC
// otherwise: how every view of an installation (HTTP, CLI) shows an absent time as null.
func OptionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
