package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Two kinds of API keys exist, both stored only as SHA-256 hashes of a 256-bit secret:
//
//   - installation keys ("lca_<installation id>_<secret>") reach one installation. They live in the
//     map attribute api_keys of the installation's item (entry name: a random key id). An item written
//     before several keys existed has one key in the attribute api_key_hash; it keeps working and is
//     listed as key id "<installation id>.legacy".
//   - service keys ("lcs_<key id>_<secret>") belong to the app maker's backend: they reach every
//     installation and list them. They live in the api_keys map of one item, pk "service_keys".
//
// Each holder has at most MaxKeysPerHolder keys. Authentication is one consistent GetItem; the key's
// last use is written at most once per LastUsedResolution (one conditional UpdateItem).

// Errors of key management.
var (
	// ErrTooManyKeys: the holder already has MaxKeysPerHolder keys; revoke one first.
	ErrTooManyKeys = errors.New("too many API keys")
	// ErrKeyNotFound: no key has that id (or it was revoked already).
	ErrKeyNotFound = errors.New("API key not found")
)

// ServiceKeyPrefix starts every service key.
const ServiceKeyPrefix = "lcs_"

// MaxKeysPerHolder bounds the keys of one installation, and the service keys: the item stays small and
// authentication compares a bounded number of hashes.
const MaxKeysPerHolder = 20

// LastUsedResolution is how stale a key's recorded last use may be: a key used all the time costs one
// write per minute, not one per request.
const LastUsedResolution = time.Minute

// MaxKeyName bounds a key's name (bytes).
const MaxKeyName = 128

// ServiceKeysPK is the partition key of the item holding the service keys. It cannot collide with an
// installation id (those are 26 characters of [a-z2-7]).
const ServiceKeysPK = "service_keys"

const (
	attrAPIKeys        = "api_keys"
	attrLegacyLastUsed = "api_key_last_used_at"
	legacyKeyID        = "legacy"
	serviceKeyIDPrefix = "svc."
	keyIDBytes         = 10 // 16 characters of [a-z2-7]
)

var keyIDLength = idEncoding.EncodedLen(keyIDBytes)

// ServiceKeyLength is the length of every service key: "lcs_" + 16-character key id + "_" + secret.
var ServiceKeyLength = len(ServiceKeyPrefix) + keyIDLength + 1 + secretLength

// KeyKind tells service keys from installation keys.
type KeyKind string

const (
	// KeyKindService keys reach every installation and can list them.
	KeyKindService KeyKind = "service"
	// KeyKindInstallation keys reach their own installation only.
	KeyKindInstallation KeyKind = "installation"
)

// Key describes an API key without its secret.
type Key struct {
	// ID names the key for listing and revoking: "<installation id>.<key id>" for installation keys,
	// "svc.<key id>" for service keys.
	ID             string
	Kind           KeyKind
	InstallationID string // "" for service keys
	Name           string
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero until first used (recorded to within LastUsedResolution)
}

// keyEntry is one key in an api_keys map.
type keyEntry struct {
	Hash       []byte `dynamodbav:"hash"`
	Name       string `dynamodbav:"name,omitempty"`
	CreatedAt  int64  `dynamodbav:"created_at"`
	LastUsedAt int64  `dynamodbav:"last_used_at,omitempty"`
}

func newKeyID() (string, error) {
	var b [keyIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: key id: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

func newSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: api key: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

// newKeyIDAndSecret returns a new key's id and secret.
func newKeyIDAndSecret() (kid, secret string, err error) {
	if kid, err = newKeyID(); err != nil {
		return "", "", err
	}
	secret, err = newSecret()
	return kid, secret, err
}

// serviceKeyHash binds a service key's secret to its key id.
func serviceKeyHash(kid, secret string) []byte { return serviceKeyFormat.hash(kid, secret) }

// parseServiceKey splits a service key into key id and secret.
func parseServiceKey(key string) (kid, secret string, ok bool) { return serviceKeyFormat.parse(key) }

// ParseKeyID splits a key id as Key.ID spells it into its holder (an installation id, or
// ServiceKeysPK) and the entry's id. ok is false for anything else.
func ParseKeyID(id string) (holder, kid string, ok bool) {
	if rest, found := strings.CutPrefix(id, serviceKeyIDPrefix); found {
		return ServiceKeysPK, rest, len(rest) == keyIDLength && validBase32(rest)
	}
	inst, rest, found := strings.Cut(id, ".")
	if !found || !validID(inst) {
		return "", "", false
	}
	if rest == legacyKeyID {
		return inst, rest, true
	}
	return inst, rest, len(rest) == keyIDLength && validBase32(rest)
}

func keyID(holder, kid string) string {
	if holder == ServiceKeysPK {
		return serviceKeyIDPrefix + kid
	}
	return holder + "." + kid
}

func (e keyEntry) key(holder, kid string) Key {
	k := Key{ID: keyID(holder, kid), Name: e.Name, CreatedAt: fromMillis(e.CreatedAt), LastUsedAt: fromMillis(e.LastUsedAt)}
	if holder == ServiceKeysPK {
		k.Kind = KeyKindService
	} else {
		k.Kind, k.InstallationID = KeyKindInstallation, holder
	}
	return k
}

func parseKeyMap(av map[string]types.AttributeValue) (map[string]keyEntry, error) {
	m := map[string]keyEntry{}
	raw, ok := av[attrAPIKeys]
	if !ok {
		return m, nil
	}
	if err := attributevalue.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", attrAPIKeys, err)
	}
	return m, nil
}

// CreateServiceKey creates a service key named name and returns it with its description. The key is
// returned only here. Errors: ErrInvalid (name), ErrTooManyKeys.
func (s *Store) CreateServiceKey(ctx context.Context, name string) (Key, string, error) {
	if err := checkField("key name", name, MaxKeyName, false); err != nil {
		return Key{}, "", fmt.Errorf("store: create service key: %w", err)
	}
	kid, secret, err := newKeyIDAndSecret()
	if err != nil {
		return Key{}, "", err
	}
	e := keyEntry{Hash: serviceKeyHash(kid, secret), Name: name, CreatedAt: millis(s.now())}
	if err := s.addKey(ctx, ServiceKeysPK, kid, e, expression.ConditionBuilder{}); err != nil {
		return Key{}, "", fmt.Errorf("store: create service key: %w", err)
	}
	return e.key(ServiceKeysPK, kid), ServiceKeyPrefix + kid + "_" + secret, nil
}

// CreateInstallationKey adds a key to an installation (its other keys keep working) and returns it
// once. Errors: ErrNotFound, ErrUninstalled (an uninstalled installation gets keys only by installing
// again), ErrTooManyKeys, ErrInvalid.
func (s *Store) CreateInstallationKey(ctx context.Context, installationID, name string) (Key, string, error) {
	if !validID(installationID) {
		return Key{}, "", fmt.Errorf("store: create installation key: %w", ErrNotFound)
	}
	if err := checkField("key name", name, MaxKeyName, false); err != nil {
		return Key{}, "", fmt.Errorf("store: create installation key %s: %w", installationID, err)
	}
	kid, secret, err := newKeyIDAndSecret()
	if err != nil {
		return Key{}, "", err
	}
	e := keyEntry{Hash: apiKeyHash(installationID, secret), Name: name, CreatedAt: millis(s.now())}
	c := expression.AttributeExists(name_(AttrPK)).And(name_(attrStatus).NotEqual(value(string(StatusUninstalled))))
	if err := s.addKey(ctx, installationID, kid, e, c); err != nil {
		return Key{}, "", fmt.Errorf("store: create installation key %s: %w", installationID, err)
	}
	return e.key(installationID, kid), APIKeyPrefix + installationID + "_" + secret, nil
}

// name_ is name for call sites where a parameter shadows it.
func name_(n string) expression.NameBuilder { return expression.Name(n) }

// addKey puts entry kid into holder's api_keys map, conditional on base (if set) and on the map having
// room. A holder without a map gets one in a second conditional write.
func (s *Store) addKey(ctx context.Context, holder, kid string, e keyEntry, base expression.ConditionBuilder) error {
	and := func(c expression.ConditionBuilder) expression.ConditionBuilder {
		if base.IsSet() {
			return base.And(c)
		}
		return c
	}
	// stamped adds the installation's updated_at to u (the service-keys item has none).
	stamped := func(u expression.UpdateBuilder) expression.UpdateBuilder {
		if holder != ServiceKeysPK {
			u = u.Set(name(attrUpdatedAt), value(millis(s.now())))
		}
		return u
	}
	// try writes u under c; done is false only when the condition failed for want of a map (the
	// holder's other reasons, such as no room, are errors).
	try := func(u expression.UpdateBuilder, c expression.ConditionBuilder) (done bool, err error) {
		_, failed, old, err := s.update(ctx, holder, stamped(u), c)
		if err != nil || !failed {
			return true, err
		}
		if err := s.whyNoRoom(holder, old); err != nil {
			return true, err
		}
		return false, nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		// Into an existing map with room.
		c := and(expression.AttributeExists(name(attrAPIKeys)).And(expression.Size(name(attrAPIKeys)).LessThan(value(MaxKeysPerHolder))))
		if done, err := try(expression.Set(name(attrAPIKeys+"."+kid), value(e)), c); done {
			return err
		}
		// No map yet: create it with this one entry.
		if done, err := try(expression.Set(name(attrAPIKeys), value(map[string]keyEntry{kid: e})), and(expression.AttributeNotExists(name(attrAPIKeys)))); done {
			return err
		}
		// Another writer created the map between the two writes: try again.
	}
	return errors.New("too much contention on the key list")
}

// whyNoRoom explains a refused key write from the item as it was; nil means "retry".
func (s *Store) whyNoRoom(holder string, old map[string]types.AttributeValue) error {
	if holder != ServiceKeysPK {
		if old == nil {
			return ErrNotFound
		}
		if st, ok := old[attrStatus].(*types.AttributeValueMemberS); ok && Status(st.Value) == StatusUninstalled {
			return ErrUninstalled
		}
	}
	if m, ok := old[attrAPIKeys].(*types.AttributeValueMemberM); ok && len(m.Value) >= MaxKeysPerHolder {
		return ErrTooManyKeys
	}
	return nil
}

// ListKeys describes the keys of an installation, or the service keys when installationID is "". It
// never returns a secret or a hash. Sorted by creation time.
func (s *Store) ListKeys(ctx context.Context, installationID string) ([]Key, error) {
	holder := ServiceKeysPK
	if installationID != "" {
		if !validID(installationID) {
			return nil, fmt.Errorf("store: list keys: %w", ErrNotFound)
		}
		holder = installationID
	}
	av, err := s.getItem(ctx, holder)
	if err != nil {
		return nil, fmt.Errorf("store: list keys %s: %w", holder, err)
	}
	if av == nil {
		if holder == ServiceKeysPK {
			return nil, nil
		}
		return nil, fmt.Errorf("store: list keys %s: %w", holder, ErrNotFound)
	}
	m, err := parseKeyMap(av)
	if err != nil {
		return nil, fmt.Errorf("store: list keys %s: %w", holder, err)
	}
	var keys []Key
	for kid, e := range m {
		keys = append(keys, e.key(holder, kid))
	}
	if _, ok := av[attrAPIKeyHash]; ok && holder != ServiceKeysPK {
		it, err := parseItem(av)
		if err != nil {
			return nil, fmt.Errorf("store: list keys %s: %w", holder, err)
		}
		var last int64
		if n, ok := av[attrLegacyLastUsed].(*types.AttributeValueMemberN); ok {
			_ = attributevalue.Unmarshal(n, &last)
		}
		keys = append(keys, Key{ID: keyID(holder, legacyKeyID), Kind: KeyKindInstallation, InstallationID: holder,
			Name: "(issued at install)", CreatedAt: fromMillis(it.CreatedAt), LastUsedAt: fromMillis(last)})
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].CreatedAt.Equal(keys[j].CreatedAt) {
			return keys[i].CreatedAt.Before(keys[j].CreatedAt)
		}
		return keys[i].ID < keys[j].ID
	})
	return keys, nil
}

// RevokeKey removes a key at once: the next request with it is refused. id is a Key.ID. Errors:
// ErrKeyNotFound (no such key, or malformed id).
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	holder, kid, ok := ParseKeyID(id)
	if !ok {
		return fmt.Errorf("store: revoke key: %w", ErrKeyNotFound)
	}
	var (
		u expression.UpdateBuilder
		c expression.ConditionBuilder
	)
	if kid == legacyKeyID {
		u = expression.Remove(name(attrAPIKeyHash)).Remove(name(attrLegacyLastUsed))
		c = expression.AttributeExists(name(attrAPIKeyHash))
	} else {
		u = expression.Remove(name(attrAPIKeys + "." + kid))
		c = expression.AttributeExists(name(attrAPIKeys + "." + kid))
	}
	if holder != ServiceKeysPK {
		u = u.Set(name(attrUpdatedAt), value(millis(s.now())))
	}
	_, failed, _, err := s.update(ctx, holder, u, c)
	if err != nil {
		return fmt.Errorf("store: revoke key %s: %w", id, err)
	}
	if failed {
		return fmt.Errorf("store: revoke key %s: %w", id, ErrKeyNotFound)
	}
	return nil
}

// RevokeInstallationKeys removes every key of an installation except keepID (a Key.ID; "" keeps
// none) and returns how many were removed.
func (s *Store) RevokeInstallationKeys(ctx context.Context, installationID, keepID string) (int, error) {
	keys, err := s.ListKeys(ctx, installationID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if k.ID == keepID {
			continue
		}
		if err := s.RevokeKey(ctx, k.ID); err != nil && !errors.Is(err, ErrKeyNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// matchKey compares got against every stored hash of an item in constant time each (a bounded number:
// at most MaxKeysPerHolder + the legacy one) and returns the matching entry's id ("" for none).
func matchKey(got []byte, av map[string]types.AttributeValue) (kid string, entry keyEntry) {
	want := unknownKeyHash
	if h, ok := av[attrAPIKeyHash].(*types.AttributeValueMemberB); ok && len(h.Value) == sha256.Size {
		want = h.Value
	}
	if subtle.ConstantTimeCompare(got, want) == 1 && av != nil {
		kid = legacyKeyID
	}
	m, err := parseKeyMap(av)
	if err != nil {
		return kid, entry
	}
	for id, e := range m {
		if len(e.Hash) == sha256.Size && subtle.ConstantTimeCompare(got, e.Hash) == 1 {
			kid, entry = id, e
		}
	}
	return kid, entry
}

// touchKey records the key's use if the recorded one is older than LastUsedResolution. Best effort: a
// failure costs only the accuracy of "last used", never the request.
func (s *Store) touchKey(ctx context.Context, holder, kid string, last int64) {
	now := s.now()
	if last != 0 && now.Sub(fromMillis(last)) < LastUsedResolution {
		return
	}
	var u expression.UpdateBuilder
	var c expression.ConditionBuilder
	threshold := millis(now.Add(-LastUsedResolution))
	if kid == legacyKeyID {
		u = expression.Set(name(attrLegacyLastUsed), value(millis(now)))
		c = expression.AttributeExists(name(attrAPIKeyHash)).And(
			expression.AttributeNotExists(name(attrLegacyLastUsed)).Or(name(attrLegacyLastUsed).LessThan(value(threshold))))
	} else {
		p := attrAPIKeys + "." + kid
		u = expression.Set(name(p+".last_used_at"), value(millis(now)))
		c = expression.AttributeExists(name(p)).And(
			expression.AttributeNotExists(name(p + ".last_used_at")).Or(name(p + ".last_used_at").LessThan(value(threshold))))
	}
	_, _, _, _ = s.update(ctx, holder, u, c)
}

// AuthenticateService returns the service key that key is. Any bad key (malformed, unknown, wrong or
// revoked) gives ErrUnauthorized; other errors are DynamoDB failures. One consistent GetItem, plus at
// most one write a minute per key to record its use.
func (s *Store) AuthenticateService(ctx context.Context, key string) (Key, error) {
	kid, secret, ok := parseServiceKey(key)
	if !ok {
		return Key{}, fmt.Errorf("store: authenticate service key: %w", ErrUnauthorized)
	}
	got := serviceKeyHash(kid, secret)
	av, err := s.getItem(ctx, ServiceKeysPK)
	if err != nil {
		return Key{}, fmt.Errorf("store: authenticate service key: %w", err)
	}
	m, err := parseKeyMap(av)
	if err != nil {
		return Key{}, fmt.Errorf("store: authenticate service key: %w", err)
	}
	e, found := m[kid]
	want := unknownKeyHash
	if found && len(e.Hash) == sha256.Size {
		want = e.Hash
	}
	if subtle.ConstantTimeCompare(got, want) != 1 || !found {
		return Key{}, fmt.Errorf("store: authenticate service key: %w", ErrUnauthorized)
	}
	s.touchKey(ctx, ServiceKeysPK, kid, e.LastUsedAt)
	return e.key(ServiceKeysPK, kid), nil
}
