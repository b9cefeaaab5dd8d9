package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/sealing"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// clock is a settable clock shared by a test's stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is one test's table, store and clock.
type fixture struct {
	db    *dynamodb.Client
	table string
	st    *store.Store
	clock *clock
}

func testSealer(tb testing.TB) sealing.Sealer {
	tb.Helper()
	key := make([]byte, sealing.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	s, err := sealing.NewStatic("test", key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	db, table := dynalitetest.Table(tb)
	c := newClock()
	return &fixture{db: db, table: table, clock: c, st: store.New(db, table, testSealer(tb), store.WithClock(c.Now))}
}

// grant returns distinct tokens for an (organization, account) pair, expiring in d from now.
func (f *fixture) grant(org, account string, d time.Duration, tag string) store.Grant {
	return store.Grant{
		AccessToken:    "dal:access-" + org + "-" + account + "-" + tag,
		RefreshToken:   "dal:refresh-" + org + "-" + account + "-" + tag,
		TokenType:      "Bearer",
		Scope:          "chats--all:ro,agents--my:ro",
		ExpiresAt:      f.clock.Now().Add(d),
		OrganizationID: org,
		AccountID:      account,
		Region:         "dal",
	}
}

func (f *fixture) install(tb testing.TB, org, account string, d time.Duration) (*store.Installation, string) {
	tb.Helper()
	return f.installGrant(tb, f.grant(org, account, d, "install"))
}

// installGrant installs g, failing the test on an error; it returns the installation and its key.
func (f *fixture) installGrant(tb testing.TB, g store.Grant) (*store.Installation, string) {
	tb.Helper()
	inst, key, err := f.st.Install(context.Background(), g)
	if err != nil {
		tb.Fatalf("Install(%s, %s): %v", g.OrganizationID, g.AccountID, err)
	}
	return inst, key
}

func (f *fixture) get(tb testing.TB, id string) *store.Installation {
	tb.Helper()
	inst, err := f.st.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("Get(%s): %v", id, err)
	}
	return inst
}

// dueIDs lists every due installation id across all shards.
func (f *fixture) dueIDs(tb testing.TB, before time.Time) map[string]bool {
	tb.Helper()
	ids := map[string]bool{}
	for shard := 0; shard < store.DueShards; shard++ {
		tok := ""
		for {
			page, err := f.st.ListDue(context.Background(), before, shard, tok, 0)
			if err != nil {
				tb.Fatalf("ListDue shard %d: %v", shard, err)
			}
			for _, inst := range page.Installations {
				ids[inst.ID] = true
			}
			if tok = page.Next; tok == "" {
				break
			}
		}
	}
	return ids
}

// otherSecret is key with its last character changed: well-formed, of the same holder, wrong secret.
func otherSecret(key string) string {
	if key[len(key)-1] == 'a' {
		return key[:len(key)-1] + "b"
	}
	return key[:len(key)-1] + "a"
}

func orgAcct(i int) (string, string) {
	return fmt.Sprintf("org-%04d", i), fmt.Sprintf("acct-%04d", i)
}

// installInShard installs n installations whose ids fall in due shard shard; the i-th (from 0)
// expires ttl(i) from now. It returns their ids in install order.
func (f *fixture) installInShard(t *testing.T, shard, n int, ttl func(i int) time.Duration) []string {
	t.Helper()
	var ids []string
	for i := 0; len(ids) < n; i++ {
		org, acct := orgAcct(i)
		if store.DueShard(store.InstallationID(org, acct)) != shard {
			continue
		}
		inst, _ := f.install(t, org, acct, ttl(len(ids)))
		ids = append(ids, inst.ID)
	}
	return ids
}

// rawItem reads the item as stored, bypassing the store.
func (f *fixture) rawItem(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	return dynalitetest.RawItem(t, f.db, f.table, id)
}

// rawUpdate changes the item of id behind the store's back (a damaged, foreign or legacy item) with
// the update expression expr; names may be nil.
func (f *fixture) rawUpdate(t *testing.T, id, expr string, names map[string]string, values map[string]types.AttributeValue) {
	t.Helper()
	_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(f.table),
		Key:                       map[string]types.AttributeValue{store.AttrPK: &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		t.Fatal(err)
	}
}
