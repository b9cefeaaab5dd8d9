package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// APIKeyPrefix starts every API key, so a leaked key is recognizable (secret scanners, logs review).
const APIKeyPrefix = "lca_"

// secretBytes is the API key's random part: 256 bits, so a plain SHA-256 of it is as good as a slow
// password hash (nothing to brute-force) and keeps Authenticate to one GetItem and one hash.
const secretBytes = 32

var secretLength = idEncoding.EncodedLen(secretBytes)

// APIKeyLength is the length of every API key: "lca_" + 26-character id + "_" + 52-character secret.
var APIKeyLength = len(APIKeyPrefix) + IDLength + 1 + secretLength

// newAPIKey returns a fresh key for id and the hash to store.
func newAPIKey(id string) (key string, hash []byte, err error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("store: api key: %w", err)
	}
	secret := idEncoding.EncodeToString(b[:])
	return APIKeyPrefix + id + "_" + secret, apiKeyHash(id, secret), nil
}

// apiKeyHash binds the secret to its installation id, so a hash copied to another item is useless.
func apiKeyHash(id, secret string) []byte {
	sum := sha256.Sum256([]byte("lcauth/api-key/v1\x00" + id + "\x00" + secret))
	return sum[:]
}

// parseAPIKey splits a key into id and secret, checking its exact shape.
func parseAPIKey(key string) (id, secret string, ok bool) {
	if len(key) != APIKeyLength || !strings.HasPrefix(key, APIKeyPrefix) {
		return "", "", false
	}
	rest := key[len(APIKeyPrefix):]
	id, secret = rest[:IDLength], rest[IDLength+1:]
	if rest[IDLength] != '_' || !validBase32(id) || !validBase32(secret) {
		return "", "", false
	}
	return id, secret, true
}

// unknownKeyHash is compared against when no item exists, so an unknown id costs the same hash and
// comparison as a wrong secret.
var unknownKeyHash = make([]byte, sha256.Size)

// Authenticate returns the installation an API key belongs to, with one consistent GetItem. Any bad
// key (malformed, unknown installation, wrong or revoked secret) gives ErrUnauthorized; other errors
// are DynamoDB or sealing failures. The key itself never appears in an error. The installation is
// returned whatever its status: callers decide what reauthorization_required means to them.
func (s *Store) Authenticate(ctx context.Context, apiKey string) (*Installation, error) {
	id, secret, ok := parseAPIKey(apiKey)
	if !ok {
		return nil, fmt.Errorf("store: authenticate: %w", ErrUnauthorized)
	}
	got := apiKeyHash(id, secret)
	out, err := s.getItem(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("store: authenticate %s: %w", id, err)
	}
	// Only the hash is looked at before the comparison, so a wrong secret and an unknown id cost the
	// same: one read, one SHA-256, one constant-time compare.
	want := unknownKeyHash
	if h, ok := out[attrAPIKeyHash].(*types.AttributeValueMemberB); ok && len(h.Value) == sha256.Size {
		want = h.Value
	}
	if subtle.ConstantTimeCompare(got, want) != 1 || out == nil {
		return nil, fmt.Errorf("store: authenticate: %w", ErrUnauthorized)
	}
	it, err := parseItem(out)
	if err != nil {
		return nil, fmt.Errorf("store: authenticate %s: %w", id, err)
	}
	inst, err := s.decode(ctx, it)
	if err != nil {
		return nil, fmt.Errorf("store: authenticate %s: %w", id, err)
	}
	return inst, nil
}

// IssueAPIKey replaces the installation's API key with a new one and returns it; the old key stops
// working at once. The key is returned only here and never stored in plain. It does not change the
// version: no token changes, so no refresh in flight is disturbed.
func (s *Store) IssueAPIKey(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("store: issue api key: %w", ErrNotFound)
	}
	key, hash, err := newAPIKey(id)
	if err != nil {
		return "", err
	}
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrAPIKeyHash), expression.Value(hash)).
			Set(expression.Name(attrUpdatedAt), expression.Value(millis(s.now())))).
		WithCondition(expression.AttributeExists(expression.Name(AttrPK))).
		Build()
	if err != nil {
		return "", fmt.Errorf("store: issue api key %s: %w", id, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key_(id),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return "", fmt.Errorf("store: issue api key %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: issue api key %s: %w", id, err)
	}
	return key, nil
}
