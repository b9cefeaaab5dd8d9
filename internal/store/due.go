package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/sealing"
)

// DuePage is one page of installations that are due.
type DuePage struct {
	// Installations are due, oldest expiry first, with their tokens opened. They may carry a live
	// lease (LeaseOwner) held by another refresher. One whose tokens do not open (damaged, or sealed
	// with a key this process lacks) is listed with empty tokens; AcquireLease then fails for it
	// with the sealing error. Refresh with the installation AcquireLease returns.
	Installations []*Installation
	// Next continues the listing; "" when the shard has no more due installations.
	Next string
	// Scanned is how many index items DynamoDB read for the page (the Query's ScannedCount): the cost.
	Scanned int
}

// pageToken is ListDue's continuation: the Query's LastEvaluatedKey.
type pageToken struct {
	ID    string `json:"i"`
	Shard int    `json:"s"`
	DueAt int64  `json:"d"`
}

// ListDue returns the active installations of one due-index shard (0 <= shard < DueShards) whose
// access token expires at or before before (compared at whole seconds), oldest first, at most limit
// per page (limit <= 0 means DefaultPageLimit; at most 1000). Pass the previous page's Next as
// pageToken to continue, "" to start. It is one Query on the sparse due index: its cost grows with
// the due installations, not with the table. Reading is eventually consistent; take the lease
// (AcquireLease) before acting on an installation.
func (s *Store) ListDue(ctx context.Context, before time.Time, shard int, pageToken string, limit int) (DuePage, error) {
	if shard < 0 || shard >= DueShards {
		return DuePage{}, fmt.Errorf("store: list due: %w", invalidf("shard %d is outside [0, %d)", shard, DueShards))
	}
	switch {
	case limit <= 0:
		limit = DefaultPageLimit
	case limit > maxPageLimit:
		limit = maxPageLimit
	}
	start, err := decodePageToken(pageToken, shard)
	if err != nil {
		return DuePage{}, fmt.Errorf("store: list due: %w", err)
	}
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrDueShard).Equal(expression.Value(shard)).
			And(expression.Key(AttrDueAt).LessThanEqual(expression.Value(before.Unix()))),
	).Build()
	if err != nil {
		return DuePage{}, fmt.Errorf("store: list due: %w", err)
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(DueIndexName),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ExclusiveStartKey:         start,
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return DuePage{}, fmt.Errorf("store: list due shard %d: %w", shard, err)
	}
	page := DuePage{Scanned: int(out.ScannedCount), Installations: make([]*Installation, 0, len(out.Items))}
	for _, av := range out.Items {
		it, err := parseItem(av)
		if err != nil {
			return DuePage{}, fmt.Errorf("store: list due shard %d: %w", shard, err)
		}
		inst, err := s.decode(ctx, it)
		switch {
		case errors.Is(err, sealing.ErrOpen) || errors.Is(err, sealing.ErrUnknownKey):
			// One damaged item must not stall its shard: list it without tokens; AcquireLease
			// reports the error for it alone.
			inst = it.installation()
		case err != nil: // KMS unreachable and the like: the whole page would fail the same way
			return DuePage{}, fmt.Errorf("store: list due shard %d: %w", shard, err)
		}
		page.Installations = append(page.Installations, inst)
	}
	if len(out.LastEvaluatedKey) > 0 {
		if page.Next, err = encodePageToken(out.LastEvaluatedKey); err != nil {
			return DuePage{}, fmt.Errorf("store: list due shard %d: %w", shard, err)
		}
	}
	return page, nil
}

func encodePageToken(lek map[string]types.AttributeValue) (string, error) {
	var t pageToken
	pk, ok1 := lek[AttrPK].(*types.AttributeValueMemberS)
	sh, ok2 := lek[AttrDueShard].(*types.AttributeValueMemberN)
	at, ok3 := lek[AttrDueAt].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 || !ok3 {
		return "", fmt.Errorf("unexpected LastEvaluatedKey shape")
	}
	var err error
	t.ID = pk.Value
	if t.Shard, err = strconv.Atoi(sh.Value); err != nil {
		return "", fmt.Errorf("LastEvaluatedKey shard: %w", err)
	}
	if t.DueAt, err = strconv.ParseInt(at.Value, 10, 64); err != nil {
		return "", fmt.Errorf("LastEvaluatedKey due_at: %w", err)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodePageToken validates a token strictly: it comes back from callers and must not steer the
// Query anywhere but the requested shard.
func decodePageToken(tok string, shard int) (map[string]types.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	if len(tok) > 256 {
		return nil, invalidf("page token too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, invalidf("page token is malformed")
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || !validID(t.ID) || t.Shard != shard {
		return nil, invalidf("page token is malformed or for another shard")
	}
	return map[string]types.AttributeValue{
		AttrPK:       &types.AttributeValueMemberS{Value: t.ID},
		AttrDueShard: &types.AttributeValueMemberN{Value: strconv.Itoa(t.Shard)},
		AttrDueAt:    &types.AttributeValueMemberN{Value: strconv.FormatInt(t.DueAt, 10)},
	}, nil
}
