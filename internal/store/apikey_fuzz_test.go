package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/sealing"
)

// fuzzDB is an in-memory DynamoDBAPI holding one item; it counts reads so the fuzz target can check
// that a malformed key costs no read and any well-formed one exactly one.
type fuzzDB struct {
	mu    sync.Mutex
	item  map[string]types.AttributeValue
	id    string
	reads int
}

func (d *fuzzDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	pk, _ := in.Key[AttrPK].(*types.AttributeValueMemberS)
	if pk != nil && pk.Value == d.id {
		return &dynamodb.GetItemOutput{Item: d.item}, nil
	}
	return &dynamodb.GetItemOutput{}, nil
}

func (d *fuzzDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("fuzzDB: UpdateItem not expected")
}

func (d *fuzzDB) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errors.New("fuzzDB: DeleteItem not expected")
}

func (d *fuzzDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errors.New("fuzzDB: Query not expected")
}

func (d *fuzzDB) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errors.New("fuzzDB: Scan not expected")
}

// FuzzAuthenticateAPIKey feeds arbitrary strings to Authenticate (and so to parseAPIKey) against a
// table holding one installation. Only the exact key issued authenticates; every other input gives the
// same ErrUnauthorized error text (unknown installation and wrong secret alike), a malformed key costs
// no read and a well-formed one exactly one, and no error ever echoes the key.
func FuzzAuthenticateAPIKey(f *testing.F) {
	ctx := context.Background()
	sealer, err := sealing.NewStatic("fuzz", bytes.Repeat([]byte{9}, sealing.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	g := Grant{AccessToken: "dal:fuzz-access", RefreshToken: "fuzz-refresh", TokenType: "Bearer", ExpiresAt: now.Add(8 * time.Hour),
		OrganizationID: "org-fuzz", AccountID: "acc-fuzz", Region: "dal"}
	id := InstallationID(g.OrganizationID, g.AccountID)
	secret := idEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, secretBytes))
	validKey := APIKeyPrefix + id + "_" + secret
	db := &fuzzDB{id: id}
	st := New(db, "fuzz", sealer, WithClock(func() time.Time { return now }))
	db.item, err = st.ItemForTest(ctx, g, now)
	if err != nil {
		f.Fatal(err)
	}
	db.item[attrAPIKeyHash] = &types.AttributeValueMemberB{Value: apiKeyHash(id, secret)}
	if inst, err := st.Authenticate(ctx, validKey); err != nil || inst.ID != id {
		f.Fatalf("the valid key does not authenticate: %v", err)
	}
	otherID := InstallationID("org-other", "acc-other")

	f.Add(validKey)
	f.Add(validKey[:len(validKey)-1] + "a")
	f.Add(strings.ToUpper(validKey))
	f.Add(APIKeyPrefix + otherID + "_" + secret)
	f.Add(APIKeyPrefix + id + "-" + secret)
	f.Add(validKey + "a")
	f.Add(" " + validKey)
	f.Add(APIKeyPrefix + strings.Repeat("1", IDLength) + "_" + secret)
	f.Add("lca_")
	f.Add("")
	f.Add(strings.Repeat("\x00", len(validKey)))
	f.Add("lca_" + strings.Repeat("é", (len(validKey)-4)/2))

	var wantErr string
	{
		_, err := st.Authenticate(ctx, "nonsense")
		wantErr = err.Error()
	}
	f.Fuzz(func(t *testing.T, key string) {
		db.mu.Lock()
		db.reads = 0
		db.mu.Unlock()
		pid, psecret, ok := parseAPIKey(key)
		if ok && (key != APIKeyPrefix+pid+"_"+psecret || !validID(pid) || len(key) != APIKeyLength) {
			t.Fatalf("parseAPIKey accepted %q as id %q secret %q", key, pid, psecret)
		}
		inst, err := st.Authenticate(ctx, key)
		db.mu.Lock()
		reads := db.reads
		db.mu.Unlock()
		switch {
		case !ok && reads != 0:
			t.Fatalf("a malformed key cost %d reads", reads)
		case ok && reads != 1:
			t.Fatalf("a well-formed key cost %d reads, want 1", reads)
		}
		if key == validKey {
			if err != nil || inst == nil || inst.ID != id {
				t.Fatalf("the valid key failed: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("key %q authenticated as %s", key, inst.ID)
		}
		if !errors.Is(err, ErrUnauthorized) || err.Error() != wantErr {
			t.Fatalf("error %q, want the one ErrUnauthorized text %q", err, wantErr)
		}
	})
}
