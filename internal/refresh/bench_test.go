package refresh

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/sealing"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/simtest"
)

var (
	benchSizes       = flag.String("refresh.due", "1000,10000", "comma-separated due installation counts in BenchmarkRunPass")
	benchLatencies   = flag.String("refresh.latency", "50ms,200ms", "comma-separated simulated LiveChat latencies per token call in BenchmarkRunPass")
	benchNoCapacity  = flag.Bool("refresh.nocapacity", false, "do not ask DynamoDB for consumed capacity (RCU/WCU metrics read 0)")
	benchConcurrency = flag.Int("refresh.concurrency", DefaultConcurrency, "pass concurrency (LiveChat calls in flight) in BenchmarkRunPass")
	benchStoreConc   = flag.Int("refresh.storeconcurrency", 0, "store writes in flight per store stage in BenchmarkRunPass (0: the concurrency)")
)

// countingDB wraps the DynamoDB client and counts calls and the items DynamoDB returned: Query items,
// GetItem items and UpdateItem ALL_NEW/ALL_OLD attribute maps.
type countingDB struct {
	store.DynamoDBAPI
	queries, queryItems, scanned atomic.Int64
	gets, getItems               atomic.Int64
	updates, updateItems         atomic.Int64
	updateNanos                  atomic.Int64 // summed UpdateItem round trips
	// Capacity units DynamoDB (here dynalite) reports, in thousandths: reads by Query and GetItem,
	// writes by UpdateItem, with the due index's share of the writes.
	readMilli, writeMilli, indexWriteMilli atomic.Int64
}

// reportCapacity is what a counted request asks DynamoDB to report: the capacity it consumed, with
// the indexes' share, unless the benchmark runs without (then the request's own setting stays).
func reportCapacity(own types.ReturnConsumedCapacity) types.ReturnConsumedCapacity {
	if *benchNoCapacity {
		return own
	}
	return types.ReturnConsumedCapacityIndexes
}

// addCapacity adds what one call consumed.
func addCapacity(total, index *atomic.Int64, cc *types.ConsumedCapacity) {
	if cc == nil {
		return
	}
	if cc.CapacityUnits != nil {
		total.Add(int64(*cc.CapacityUnits * 1000))
	}
	if index != nil {
		for _, c := range cc.GlobalSecondaryIndexes {
			if c.CapacityUnits != nil {
				index.Add(int64(*c.CapacityUnits * 1000))
			}
		}
	}
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = reportCapacity(cp.ReturnConsumedCapacity)
	out, err := c.DynamoDBAPI.GetItem(ctx, &cp, opts...)
	c.gets.Add(1)
	if err == nil && out.Item != nil {
		c.getItems.Add(1)
	}
	if err == nil {
		addCapacity(&c.readMilli, nil, out.ConsumedCapacity)
	}
	return out, err
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = reportCapacity(cp.ReturnConsumedCapacity)
	start := time.Now()
	out, err := c.DynamoDBAPI.UpdateItem(ctx, &cp, opts...)
	c.updateNanos.Add(int64(time.Since(start)))
	c.updates.Add(1)
	if err == nil && out.Attributes != nil {
		c.updateItems.Add(1)
	}
	if err == nil {
		addCapacity(&c.writeMilli, &c.indexWriteMilli, out.ConsumedCapacity)
	}
	return out, err
}

func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = reportCapacity(cp.ReturnConsumedCapacity)
	out, err := c.DynamoDBAPI.Query(ctx, &cp, opts...)
	c.queries.Add(1)
	if err == nil {
		c.queryItems.Add(int64(len(out.Items)))
		c.scanned.Add(int64(out.ScannedCount))
		addCapacity(&c.readMilli, nil, out.ConsumedCapacity)
	}
	return out, err
}

func (c *countingDB) reset() {
	for _, v := range []*atomic.Int64{&c.queries, &c.queryItems, &c.scanned, &c.gets, &c.getItems, &c.updates, &c.updateItems, &c.updateNanos,
		&c.readMilli, &c.writeMilli, &c.indexWriteMilli} {
		v.Store(0)
	}
}

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func sampleHeap(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapInuse)
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	})
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

// BenchmarkRunPass measures one pass over each of -refresh.due due installations in dynalite (a table
// each), with the simulator answering each token call after each of -refresh.latency, at
// -refresh.concurrency. Every iteration moves the clock so that all installations are due again. It
// reports, side by side, installations refreshed per second and the ideal concurrency / latency (and
// their ratio), DynamoDB items read and writes per refreshed installation, duplicate refreshes (LiveChat
// refresh calls beyond one per refreshed installation), peak heap (HeapInuse sampled every 10ms) and
// max RSS of the test process (which also holds the simulator; dynalite is a separate process).
//
//	go test -run '^$' -bench RunPass -benchtime 1x -refresh.due 1000 -refresh.latency 50ms ./internal/refresh/
func BenchmarkRunPass(b *testing.B) {
	for _, n := range parseList(b, *benchSizes, strconv.Atoi) {
		b.Run(fmt.Sprintf("due=%d", n), func(b *testing.B) {
			sim, st, lc, db := seedBench(b, n)
			for _, latency := range parseList(b, *benchLatencies, time.ParseDuration) {
				b.Run(fmt.Sprintf("latency=%v/concurrency=%d", latency, *benchConcurrency), func(b *testing.B) {
					benchPass(b, sim, st, lc, db, n, latency)
				})
			}
		})
	}
}

func parseList[T any](b *testing.B, list string, parse func(string) (T, error)) []T {
	var out []T
	for _, f := range strings.Split(list, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("bad list %q: %v", list, err)
		}
		out = append(out, v)
	}
	return out
}

// seedBench installs n installations in a fresh table.
func seedBench(b *testing.B, n int) (*livechatsim.Simulator, *store.Store, *livechat.Client, *countingDB) {
	sim, srv := simtest.NewServer(b, livechatsim.Options{})
	raw, table := dynalitetest.Table(b)
	db := &countingDB{DynamoDBAPI: raw}
	sealer, err := sealing.NewStatic("bench", make([]byte, sealing.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(db, table, sealer, store.WithClock(sim.Now))
	lc, err := livechat.New(livechat.Config{AccountsURL: srv.URL, APIURL: srv.URL, ClientID: sim.ClientID(),
		ClientSecret: sim.SecretSource(), Now: sim.Now})
	if err != nil {
		b.Fatal(err)
	}
	seedStart := time.Now()
	var g errgroup.Group
	g.SetLimit(32)
	for range n {
		g.Go(func() error {
			acc := sim.AddAccount(livechatsim.Account{})
			tok := sim.GrantTokens(acc.AccountID)
			_, _, err := st.Install(context.Background(), store.Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
				TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID,
				AccountID: tok.AccountID, Region: tok.Region})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("seed: %v", err)
	}
	b.Logf("seeded %d installations in %v (%.0f/s)", n, time.Since(seedStart).Round(time.Millisecond), float64(n)/time.Since(seedStart).Seconds())
	return sim, st, lc, db
}

// benchPass runs passes over n installations that all become due before each pass.
func benchPass(b *testing.B, sim *livechatsim.Simulator, st *store.Store, lc *livechat.Client, db *countingDB, n int, latency time.Duration) {
	sim.SetLatency(livechatsim.EndpointTokenRefresh, latency)
	r := New(st, lc, Options{
		Concurrency:      *benchConcurrency,
		StoreConcurrency: *benchStoreConc,
		Now:              sim.Now,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	var refreshed int
	var elapsed time.Duration
	var peak uint64
	db.reset()
	calls0 := sim.Calls(livechatsim.EndpointTokenRefresh)
	for b.Loop() {
		b.StopTimer()
		sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute) // everything is due again
		runtime.GC()
		h := sampleHeap(10 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		sum, err := r.RunPass(context.Background())
		elapsed += time.Since(start)
		b.StopTimer()
		peak = max(peak, h.Stop())
		if err != nil || sum.Refreshed != n {
			b.Fatalf("pass: %+v, %v; want %d refreshed", sum, err, n)
		}
		refreshed += sum.Refreshed
		b.StartTimer()
	}
	b.StopTimer()

	perSec := float64(refreshed) / elapsed.Seconds()
	ideal := float64(*benchConcurrency) / latency.Seconds()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(perSec, "installs/s")
	b.ReportMetric(ideal, "ideal_installs/s")
	b.ReportMetric(perSec/ideal, "ratio_to_ideal")
	b.ReportMetric(float64(sim.Calls(livechatsim.EndpointTokenRefresh)-calls0-refreshed), "duplicate_refreshes")
	b.ReportMetric(float64(db.queryItems.Load()+db.getItems.Load())/float64(refreshed), "items_read/install")
	b.ReportMetric(float64(db.queryItems.Load()+db.getItems.Load()+db.updateItems.Load())/float64(refreshed), "items_returned/install")
	b.ReportMetric(float64(db.updates.Load())/float64(refreshed), "writes/install")
	b.ReportMetric(float64(db.updateNanos.Load())/float64(max(db.updates.Load(), 1))/1e6, "ms/write")
	b.ReportMetric(float64(db.readMilli.Load())/1000/float64(refreshed), "RCU/install")
	b.ReportMetric(float64(db.writeMilli.Load())/1000/float64(refreshed), "WCU/install")
	if idx := db.indexWriteMilli.Load(); idx > 0 { // dynalite reports no per-index capacity
		b.ReportMetric(float64(idx)/1000/float64(refreshed), "index_WCU/install")
	}
	b.ReportMetric(float64(db.queries.Load())/float64(b.N), "queries/pass")
	b.ReportMetric(float64(peak)/(1<<20), "heap_peak_MB")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss_MB")
	b.Logf("%d installations, latency %v, concurrency %d: %.0f installs/s of ideal %.0f, queries %d (items %d, scanned %d), gets %d, updates %d (items returned %d)",
		n, latency, *benchConcurrency, perSec, ideal, db.queries.Load(), db.queryItems.Load(), db.scanned.Load(),
		db.gets.Load(), db.updates.Load(), db.updateItems.Load())
}
