package store_test

import (
	"fmt"
	"testing"
	"time"

	"lcauth/internal/store"
)

// Benchmarks run against dynalite on loopback: they measure the store's own work (expression building,
// sealing, marshalling) plus one local round trip, not DynamoDB's latency in AWS.

func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	_, key := f.install(b, "org-1", "acct-1", time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.st.Authenticate(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate_Parallel(b *testing.B) {
	f := newFixture(b)
	keys := make([]string, 64)
	for i := range keys {
		org, acct := orgAcct(i)
		_, keys[i] = f.install(b, org, acct, time.Hour)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := f.st.Authenticate(ctx, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkAuthenticate_Rejected measures the rejection paths. A wrong secret should cost about what
// success does; a well-formed key of no installation should cost what a wrong secret does, so timing
// does not tell which installations exist.
func BenchmarkAuthenticate_Rejected(b *testing.B) {
	f := newFixture(b)
	_, key := f.install(b, "org-1", "acct-1", time.Hour)
	keys := []struct{ name, key string }{
		{"WrongSecret", otherSecret(key)},
		{"UnknownInstallation", store.APIKeyPrefix + store.InstallationID("org-2", "acct-2") + key[len(store.APIKeyPrefix)+store.IDLength:]},
	}
	for _, k := range keys {
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.st.Authenticate(ctx, k.key); err == nil {
					b.Fatalf("accepted a %s key", k.name)
				}
			}
		})
	}
}

// BenchmarkRefresh times the store's part of refreshing one installation: CompleteRefresh alone
// (taking each lease is excluded; new tokens each time), and the refresher's whole store work per
// installation, lease then complete.
func BenchmarkRefresh(b *testing.B) {
	b.Run("CompleteOnly", func(b *testing.B) { benchRefresh(b, true) })
	b.Run("Cycle", func(b *testing.B) { benchRefresh(b, false) })
}

func benchRefresh(b *testing.B, completeOnly bool) {
	f := newFixture(b)
	inst, _ := f.install(b, "org-1", "acct-1", time.Hour)
	version := inst.Version
	g := f.grant("org-1", "acct-1", 8*time.Hour, "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if completeOnly {
			b.StopTimer()
		}
		_, l, err := f.st.AcquireLease(ctx, inst.ID, version, "bench", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if completeOnly {
			g = f.grant("org-1", "acct-1", 8*time.Hour, fmt.Sprint(i))
			b.StartTimer()
		}
		done, err := f.st.CompleteRefresh(ctx, l, g)
		if err != nil {
			b.Fatal(err)
		}
		version = done.Version
	}
}

// BenchmarkListDue reads one page of 100 due installations (tokens opened).
func BenchmarkListDue(b *testing.B) {
	f := newFixture(b)
	now := f.clock.Now()
	f.seed(b, 3200, func(i int) time.Time { return now.Add(time.Duration(i) * time.Second) })
	b.ReportAllocs()
	for b.Loop() {
		page, err := f.st.ListDue(ctx, now.Add(time.Hour), 0, "", 100)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Installations) != 100 {
			b.Fatalf("page of %d", len(page.Installations))
		}
	}
}
