package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"lcauth/internal/store"
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
