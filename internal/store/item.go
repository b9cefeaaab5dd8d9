package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of an installation item besides the keys in schema.go. Times are Unix milliseconds
// (N) except due_at, which is Unix seconds.
const (
	attrOrganizationID  = "organization_id"
	attrAccountID       = "account_id"
	attrRegion          = "region"
	attrAccessToken     = "access_token"  // sealed
	attrRefreshToken    = "refresh_token" // sealed
	attrTokenType       = "token_type"
	attrScope           = "scope"
	attrExpiresAt       = "expires_at"
	attrStatus          = "status"
	attrStatusReason    = "status_reason"
	attrStatusChangedAt = "status_changed_at"
	attrVersion         = "version"
	attrCreatedAt       = "created_at"
	attrUpdatedAt       = "updated_at"
	attrLastRefreshedAt = "last_refreshed_at"
	attrLastErrorClass  = "last_error_class"
	attrLastErrorMsg    = "last_error_message"
	attrLastErrorAt     = "last_error_at"
	attrAPIKeyHash      = "api_key_hash" // B: SHA-256 of the key's secret, bound to the id
	attrLeaseOwner      = "lease_owner"
	attrLeaseID         = "lease_id" // random per acquisition; what lease conditions compare
	attrLeaseExpiresAt  = "lease_expires_at"
	// Strikes against the refresh token (see Installation.DeadTokenStrikes).
	attrDeadTokenStrikes = "dead_token_strikes"
	attrDeadTokenSince   = "dead_token_since"
)

// item is an installation as stored. Empty attributes are left out (omitempty): the due-index keys
// must be absent, not NULL, on installations outside the index.
type item struct {
	PK               string `dynamodbav:"pk"`
	OrganizationID   string `dynamodbav:"organization_id,omitempty"`
	AccountID        string `dynamodbav:"account_id,omitempty"`
	Region           string `dynamodbav:"region,omitempty"`
	AccessToken      string `dynamodbav:"access_token,omitempty"`
	RefreshToken     string `dynamodbav:"refresh_token,omitempty"`
	TokenType        string `dynamodbav:"token_type,omitempty"`
	Scope            string `dynamodbav:"scope,omitempty"`
	ExpiresAt        int64  `dynamodbav:"expires_at,omitempty"`
	Status           string `dynamodbav:"status,omitempty"`
	StatusReason     string `dynamodbav:"status_reason,omitempty"`
	StatusChangedAt  int64  `dynamodbav:"status_changed_at,omitempty"`
	Version          int64  `dynamodbav:"version,omitempty"`
	CreatedAt        int64  `dynamodbav:"created_at,omitempty"`
	UpdatedAt        int64  `dynamodbav:"updated_at,omitempty"`
	LastRefreshedAt  int64  `dynamodbav:"last_refreshed_at,omitempty"`
	LastErrorClass   string `dynamodbav:"last_error_class,omitempty"`
	LastErrorMessage string `dynamodbav:"last_error_message,omitempty"`
	LastErrorAt      int64  `dynamodbav:"last_error_at,omitempty"`
	APIKeyHash       []byte `dynamodbav:"api_key_hash,omitempty"`
	LeaseOwner       string `dynamodbav:"lease_owner,omitempty"`
	LeaseID          string `dynamodbav:"lease_id,omitempty"`
	LeaseExpiresAt   int64  `dynamodbav:"lease_expires_at,omitempty"`
	DeadTokenStrikes int    `dynamodbav:"dead_token_strikes,omitempty"`
	DeadTokenSince   int64  `dynamodbav:"dead_token_since,omitempty"`
	DueShard         *int   `dynamodbav:"due_shard,omitempty"`
	DueAt            *int64 `dynamodbav:"due_at,omitempty"`
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func parseItem(av map[string]types.AttributeValue) (*item, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode item: %w", err)
	}
	return &it, nil
}

// installation converts an item without opening its tokens.
func (it *item) installation() *Installation {
	inst := &Installation{
		ID:              it.PK,
		OrganizationID:  it.OrganizationID,
		AccountID:       it.AccountID,
		Region:          it.Region,
		TokenType:       it.TokenType,
		Scope:           it.Scope,
		ExpiresAt:       fromMillis(it.ExpiresAt),
		Status:          Status(it.Status),
		StatusReason:    it.StatusReason,
		StatusChangedAt: fromMillis(it.StatusChangedAt),
		Version:         it.Version,
		CreatedAt:       fromMillis(it.CreatedAt),
		UpdatedAt:       fromMillis(it.UpdatedAt),
		LastRefreshedAt: fromMillis(it.LastRefreshedAt),
		LeaseOwner:      it.LeaseOwner,
		LeaseExpiresAt:  fromMillis(it.LeaseExpiresAt),

		DeadTokenStrikes: it.DeadTokenStrikes,
		DeadTokenSince:   fromMillis(it.DeadTokenSince),
	}
	if it.LastErrorClass != "" || it.LastErrorMessage != "" {
		inst.LastRefreshError = &RefreshError{Class: it.LastErrorClass, Message: it.LastErrorMessage, At: fromMillis(it.LastErrorAt)}
	}
	return inst
}

// tokenAAD binds a sealed token to its installation and field: a ciphertext copied to another item or
// field does not open.
func tokenAAD(id, field string) []byte {
	return []byte("lcauth/token/v1\x00" + id + "\x00" + field)
}

func (s *Store) sealTokens(ctx context.Context, id string, g Grant) (access, refresh string, err error) {
	if access, err = s.sealer.Seal(ctx, []byte(g.AccessToken), tokenAAD(id, attrAccessToken)); err != nil {
		return "", "", fmt.Errorf("seal access token: %w", err)
	}
	if refresh, err = s.sealer.Seal(ctx, []byte(g.RefreshToken), tokenAAD(id, attrRefreshToken)); err != nil {
		return "", "", fmt.Errorf("seal refresh token: %w", err)
	}
	return access, refresh, nil
}

// decode converts an item and opens its tokens.
func (s *Store) decode(ctx context.Context, it *item) (*Installation, error) {
	inst := it.installation()
	for _, f := range []struct {
		attr, sealed string
		dst          *string
	}{
		{attrAccessToken, it.AccessToken, &inst.AccessToken},
		{attrRefreshToken, it.RefreshToken, &inst.RefreshToken},
	} {
		if f.sealed == "" {
			continue
		}
		pt, err := s.sealer.Open(ctx, f.sealed, tokenAAD(it.PK, f.attr))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.attr, err)
		}
		*f.dst = string(pt)
	}
	return inst, nil
}

func (s *Store) decodeMap(ctx context.Context, av map[string]types.AttributeValue) (*Installation, error) {
	it, err := parseItem(av)
	if err != nil {
		return nil, err
	}
	return s.decode(ctx, it)
}
