package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"lcauth/internal/sealing"
)

// DynamoDBAPI is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	// Scan is used only by ListInstallations (one bounded page per call).
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Errors callers branch on with errors.Is. Returned errors wrap them with the operation and
// installation id; they never contain a token or an API key.
var (
	// ErrNotFound: no installation has that id.
	ErrNotFound = errors.New("installation not found")
	// ErrVersionConflict: the installation changed since the version the caller read.
	ErrVersionConflict = errors.New("installation version conflict")
	// ErrLeaseHeld: another holder has a live refresh lease on the installation.
	ErrLeaseHeld = errors.New("refresh lease held by another holder")
	// ErrLeaseLost: the caller's lease is gone (already completed or released) although the version
	// is unchanged.
	ErrLeaseLost = errors.New("refresh lease no longer held")
	// ErrUnauthorized: an API key is malformed, unknown or wrong. One error for all three, so a caller
	// cannot learn which installations exist.
	ErrUnauthorized = errors.New("invalid API key")
	// ErrUninstalled: the installation was uninstalled (StatusUninstalled): its tokens are erased and
	// its installation keys no longer work. Installing again is a fresh start.
	ErrUninstalled = errors.New("installation uninstalled")
	// ErrInvalid: an argument is missing or out of bounds (a caller bug or bad input, never a
	// conflict).
	ErrInvalid = errors.New("invalid argument")
)

// Bounds on what the store accepts, far above anything LiveChat sends, so a bad peer cannot bloat items.
const (
	maxIDField   = 256      // organization_id, account_id, region, token_type, owner
	maxToken     = 16 << 10 // access and refresh tokens
	maxScope     = 8 << 10
	maxPageLimit = 1000
	// MaxErrorMessage bounds RefreshError.Message and status reasons in the table (bytes).
	MaxErrorMessage = 512
	// DefaultPageLimit is ListDue's page size when the caller passes limit <= 0.
	DefaultPageLimit = 100
)

// Store reads and writes installations in one DynamoDB table. It is safe for concurrent use.
type Store struct {
	db     DynamoDBAPI
	table  string
	sealer sealing.Sealer
	now    func() time.Time
}

// Option configures New.
type Option func(*Store)

// WithClock sets the clock used for timestamps and lease expiry (tests move it forward).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store for table. sealer seals tokens before they are written and opens them on read.
func New(db DynamoDBAPI, table string, sealer sealing.Sealer, opts ...Option) *Store {
	s := &Store{db: db, table: table, sealer: sealer, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkField(name, v string, max int, required bool) error {
	if v == "" {
		if required {
			return invalidf("%s is empty", name)
		}
		return nil
	}
	if len(v) > max {
		return invalidf("%s is longer than %d bytes", name, max)
	}
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", name)
	}
	return nil
}

// validateGrant checks the fields every token write needs. Identity fields are required by Install only.
func validateGrant(g Grant, identity bool) error {
	checks := []error{
		checkField("access token", g.AccessToken, maxToken, true),
		checkField("refresh token", g.RefreshToken, maxToken, true),
		checkField("token type", g.TokenType, maxIDField, false),
		checkField("scope", g.Scope, maxScope, false),
		checkField("region", g.Region, maxIDField, false),
		checkField("organization id", g.OrganizationID, maxIDField, identity),
		checkField("account id", g.AccountID, maxIDField, identity),
	}
	if err := errors.Join(checks...); err != nil {
		return err
	}
	if g.ExpiresAt.IsZero() {
		return invalidf("expiry is zero")
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
