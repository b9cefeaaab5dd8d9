package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
)

// seed writes n installations straight into the table with BatchWriteItem (25 a request, a few in
// parallel); expiry(i) is installation i's token expiry.
func (f *fixture) seed(tb testing.TB, n int, expiry func(i int) time.Time) {
	tb.Helper()
	now := f.clock.Now()
	var reqs [][]types.WriteRequest
	var batch []types.WriteRequest
	for i := 0; i < n; i++ {
		org, acct := orgAcct(i)
		g := f.grant(org, acct, 0, "seed")
		g.ExpiresAt = expiry(i)
		item, err := f.st.ItemForTest(context.Background(), g, now)
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		if len(batch) == 25 || i == n-1 {
			reqs = append(reqs, batch)
			batch = nil
		}
	}
	var g errgroup.Group
	g.SetLimit(4)
	for _, req := range reqs {
		g.Go(func() error {
			pending := map[string][]types.WriteRequest{f.table: req}
			for len(pending[f.table]) > 0 {
				out, err := f.db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					return err
				}
				pending = out.UnprocessedItems
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatalf("seed: %v", err)
	}
}

func TestListDue_CostGrowsWithDueItemsNotTableSize(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Log("-short: seeding 1,000 instead of 10,000 installations")
	}
	f := newFixture(t)
	total, due := 10_000, 100
	if testing.Short() {
		total = 1_000
	}
	now := f.clock.Now()
	start := time.Now()
	// Every total/due-th installation expires within the next 10 minutes; the rest in 1-8 hours.
	f.seed(t, total, func(i int) time.Time {
		if i%(total/due) == 0 {
			return now.Add(time.Duration(i%600) * time.Second)
		}
		return now.Add(time.Hour + time.Duration(i)*time.Second)
	})
	t.Logf("seeded %d installations in %s", total, time.Since(start).Round(time.Millisecond))

	scanned, listed := 0, 0
	for shard := 0; shard < store.DueShards; shard++ {
		tok := ""
		for {
			page, err := f.st.ListDue(ctx, now.Add(10*time.Minute), shard, tok, 0)
			if err != nil {
				t.Fatal(err)
			}
			scanned += page.Scanned
			listed += len(page.Installations)
			if tok = page.Next; tok == "" {
				break
			}
		}
	}
	t.Logf("ListDue over %d shards: %d listed, %d items read (of %d in the table)", store.DueShards, listed, scanned, total)
	if listed != due {
		t.Errorf("listed %d, want %d", listed, due)
	}
	// About 100 read: the due ones, plus at most one look-ahead item per shard page.
	if scanned < due || scanned > due+store.DueShards {
		t.Errorf("read %d items to list %d due installations among %d; want about %d", scanned, due, total, due)
	}
	// Contrast: a Scan (what the index avoids) reads the whole table.
	out, err := f.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(f.table), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	read := int(out.ScannedCount)
	for out.LastEvaluatedKey != nil {
		if out, err = f.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(f.table), Select: types.SelectCount, ExclusiveStartKey: out.LastEvaluatedKey}); err != nil {
			t.Fatal(err)
		}
		read += int(out.ScannedCount)
	}
	if read != total {
		t.Errorf("a Scan read %d items, want the table's %d", read, total)
	}
}

func TestOperations_CostOneRequestEach(t *testing.T) {
	f := newFixture(t)
	// db counts the store's requests per operation on their way to dynalite.
	db := harness.NewDynamoFaults()
	st := store.New(db.Client(dynalitetest.Server(t).Endpoint()), f.table, testSealer(t), store.WithClock(f.clock.Now))
	var (
		inst  *store.Installation
		key   string
		lease *store.Lease
	)
	steps := []struct {
		name string
		do   func() error
		want map[string]int
	}{
		{"Install", func() (err error) {
			inst, key, err = st.Install(ctx, f.grant("org-1", "acct-1", time.Minute, "x"))
			return err
		}, map[string]int{"UpdateItem": 1}},
		// The first use records last_used_at; later uses within LastUsedResolution only read.
		{"Authenticate (first use)", func() error { _, err := st.Authenticate(ctx, key); return err }, map[string]int{"GetItem": 1, "UpdateItem": 1}},
		{"Authenticate", func() error { _, err := st.Authenticate(ctx, key); return err }, map[string]int{"GetItem": 1}},
		{"Reinstall (fresh-start condition fails, then the reinstall write)", func() (err error) {
			_, _, err = st.Install(ctx, f.grant("org-1", "acct-1", time.Minute, "x2"))
			inst, _ = st.Get(ctx, inst.ID)
			return err
		}, map[string]int{"UpdateItem": 2, "GetItem": 2}},
		{"Authenticate with a malformed key", func() error { return want(st.Authenticate(ctx, "lca_nope"))(store.ErrUnauthorized) }, map[string]int{}},
		{"Get", func() error { _, err := st.Get(ctx, inst.ID); return err }, map[string]int{"GetItem": 1}},
		{"CreateInstallationKey", func() (err error) { _, key, err = st.CreateInstallationKey(ctx, inst.ID, "n"); return err }, map[string]int{"UpdateItem": 1}},
		{"ListInstallations", func() error { _, err := st.ListInstallations(ctx, store.ListOptions{Limit: 10}); return err }, map[string]int{"Scan": 1}},
		{"ListDue", func() error {
			_, err := st.ListDue(ctx, f.clock.Now().Add(time.Hour), store.DueShard(inst.ID), "", 10)
			return err
		}, map[string]int{"Query": 1}},
		{"AcquireLease", func() (err error) {
			_, lease, err = st.AcquireLease(ctx, inst.ID, inst.Version, "w", time.Minute)
			return err
		}, map[string]int{"UpdateItem": 1}},
		// A refused write explains itself with one read where the server does not return the old item
		// (dynalite); DynamoDB returns it with the failure (ReturnValuesOnConditionCheckFailure).
		{"AcquireLease refused", func() error {
			_, _, err := st.AcquireLease(ctx, inst.ID, inst.Version, "w2", time.Minute)
			return want(nil, err)(store.ErrLeaseHeld)
		},
			map[string]int{"UpdateItem": 1, "GetItem": 1}},
		{"CompleteRefresh", func() error {
			_, err := st.CompleteRefresh(ctx, lease, f.grant("org-1", "acct-1", time.Hour, "y"))
			return err
		}, map[string]int{"UpdateItem": 1}},
		{"Delete", func() error { return st.Delete(ctx, inst.ID) }, map[string]int{"DeleteItem": 1}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := db.Counts()
		db.Reset()
		if len(got) != len(s.want) {
			t.Errorf("%s made %v, want %v", s.name, got, s.want)
			continue
		}
		for op, n := range s.want {
			if got[op] != n {
				t.Errorf("%s made %v, want %v", s.name, got, s.want)
			}
		}
	}
}

// want checks that err is target; it returns the mismatch as an error.
func want(_ any, err error) func(target error) error {
	return func(target error) error {
		if !errors.Is(err, target) {
			return fmt.Errorf("err = %v, want %v", err, target)
		}
		return nil
	}
}
