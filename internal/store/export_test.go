package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ItemForTest builds the item Install would leave for g (version 1, no API key), so tests can seed
// thousands of installations with BatchWriteItem instead of one Install each.
func (s *Store) ItemForTest(ctx context.Context, g Grant, now time.Time) (map[string]types.AttributeValue, error) {
	id := InstallationID(g.OrganizationID, g.AccountID)
	access, refresh, err := s.sealTokens(ctx, id, g)
	if err != nil {
		return nil, err
	}
	shard, dueAt := DueShard(id), g.ExpiresAt.Unix()
	return attributevalue.MarshalMap(item{
		PK: id, OrganizationID: g.OrganizationID, AccountID: g.AccountID, Region: g.Region,
		AccessToken: access, RefreshToken: refresh, TokenType: g.TokenType, Scope: g.Scope,
		ExpiresAt: millis(g.ExpiresAt), Status: string(StatusActive), StatusChangedAt: millis(now),
		Version: 1, CreatedAt: millis(now), UpdatedAt: millis(now), DueShard: &shard, DueAt: &dueAt,
	})
}

// LegacyKeyHashForTest is the api_key_hash an item written before several keys existed holds.
func LegacyKeyHashForTest(id, secret string) []byte { return apiKeyHash(id, secret) }
