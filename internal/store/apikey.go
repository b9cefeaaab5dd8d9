package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
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

// newAPIKey returns a fresh installation key for id and the hash to store.
func newAPIKey(id string) (key string, hash []byte, err error) {
	secret, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	return APIKeyPrefix + id + "_" + secret, apiKeyHash(id, secret), nil
}

// keyFormat is the shape of one kind of key: prefix, id, "_", secret. Its hash binds the secret to
// the id under the kind's own domain, so a hash copied to another item (or kind) is useless.
type keyFormat struct {
	prefix string
	idLen  int
	domain string
}

var (
	installationKeyFormat = keyFormat{prefix: APIKeyPrefix, idLen: IDLength, domain: "lcauth/api-key/v1"}
	serviceKeyFormat      = keyFormat{prefix: ServiceKeyPrefix, idLen: keyIDLength, domain: "lcauth/service-key/v1"}
)

func (f keyFormat) hash(id, secret string) []byte {
	sum := sha256.Sum256([]byte(f.domain + "\x00" + id + "\x00" + secret))
	return sum[:]
}

// parse splits a key into id and secret, checking its exact shape.
func (f keyFormat) parse(key string) (id, secret string, ok bool) {
	if len(key) != len(f.prefix)+f.idLen+1+secretLength || !strings.HasPrefix(key, f.prefix) {
		return "", "", false
	}
	rest := key[len(f.prefix):]
	id, secret = rest[:f.idLen], rest[f.idLen+1:]
	if rest[f.idLen] != '_' || !validBase32(id) || !validBase32(secret) {
		return "", "", false
	}
	return id, secret, true
}

// apiKeyHash binds an installation key's secret to its installation id.
func apiKeyHash(id, secret string) []byte { return installationKeyFormat.hash(id, secret) }

// parseAPIKey splits an installation key into installation id and secret.
func parseAPIKey(key string) (id, secret string, ok bool) { return installationKeyFormat.parse(key) }

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
	// Only the hashes are looked at before the comparison, so a wrong secret and an unknown id cost
	// the same: one read, one SHA-256, a constant-time compare per stored key.
	kid, entry := matchKey(got, out)
	if kid == "" || out == nil {
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
	last := entry.LastUsedAt
	if kid == legacyKeyID {
		if n, ok := out[attrLegacyLastUsed].(*types.AttributeValueMemberN); ok {
			_ = attributevalue.Unmarshal(n, &last)
		}
	}
	s.touchKey(ctx, id, kid, last)
	return inst, nil
}
