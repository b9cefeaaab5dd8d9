package hardening_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/harness"
)

// Load test bounds: small enough for `make test` under -race on two shared cores, large enough that
// every installation's token expires several times under concurrent callers.
const (
	loadInstallations = 3
	loadWorkers       = 12
	loadRounds        = 6
	loadPerRound      = 36 // requests per round, spread evenly over the installations
	loadMaxDuration   = 20 * time.Second
	// loadTokenLifetime: /chats refreshes a token within DefaultRefreshMargin (2m) of its expiry.
	loadTokenLifetime = 3 * time.Minute
)

// loadSteps is how far the shared clock moves before each round: past the refresh margin (token about
// to expire, still valid) or past the expiry itself. The clock stands still during a round, so every
// round is exactly one expiry of every installation, whatever the machine's speed.
var loadSteps = []time.Duration{70 * time.Second, 4 * time.Minute}

// TestLoad_ConcurrentChatsWhileTokensExpire runs many concurrent /chats callers against a few
// installations on the real server, in rounds between which every token expires (or comes within the
// refresh margin): every request ends in 200 with its own tenant's chats (a 503 with Retry-After, which
// only an overloaded machine produces, is retried as a client would and counted), LiveChat sees exactly one
// refresh per installation per expiry, and every refresh LiveChat made was saved (version = 1 +
// refreshes: no lost update).
func TestLoad_ConcurrentChatsWhileTokensExpire(t *testing.T) {
	s := newStack(t, harness.Options{})
	s.Sim.SetTokenLifetime(loadTokenLifetime)
	type tenant struct {
		key     string
		id      string
		account string
		version int64
		chats   []string
	}
	tenants := make([]tenant, loadInstallations)
	for i := range tenants {
		inst, key, acc := s.InstallDirect(livechatsim.Account{Chats: 3})
		r := s.Chats(key, "limit=100")
		if r.Status != http.StatusOK {
			t.Fatalf("baseline: %d %s", r.Status, r.Body)
		}
		tenants[i] = tenant{key: key, id: inst.ID, account: acc.AccountID, version: inst.Version}
		for id := range chatIDs(t, r.Body) {
			tenants[i].chats = append(tenants[i].chats, id)
		}
		slices.Sort(tenants[i].chats)
	}

	var (
		mu       sync.Mutex
		retries  atomic.Int64
		lat      []time.Duration
		failures int
		firstErr string
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers}}
	ctx, cancel := context.WithTimeout(context.Background(), loadMaxDuration)
	defer cancel()
	start := time.Now()
	for round := range loadRounds {
		s.Sim.Advance(loadSteps[round%len(loadSteps)])
		var next atomic.Int64
		var wg sync.WaitGroup
		for range loadWorkers {
			wg.Go(func() {
				for ctx.Err() == nil {
					n := int(next.Add(1))
					if n > loadPerRound {
						return
					}
					tn := tenants[n%loadInstallations]
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/chats?limit=100", nil)
					req.Header.Set("Authorization", "Bearer "+tn.key)
					t0 := time.Now()
					var (
						r   harness.Response
						err error
					)
					// A well-behaved client retries a 503 with Retry-After (the refresh it waited for
					// outlasted WaitForOther, which happens only on an overloaded machine), at most twice.
					for attempt := 0; ; attempt++ {
						var resp *http.Response
						resp, err = client.Do(req)
						if err != nil {
							break
						}
						r = readResponse(resp)
						if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || attempt == 2 {
							break
						}
						retries.Add(1)
						time.Sleep(100 * time.Millisecond)
					}
					d := time.Since(t0)
					ok := err == nil && r.Status == http.StatusOK
					if ok {
						ids, _ := parseChatIDs(r.Body)
						var got []string
						for id := range ids {
							got = append(got, id)
						}
						slices.Sort(got)
						ok = slices.Equal(got, tn.chats)
					}
					mu.Lock()
					lat = append(lat, d)
					if !ok {
						failures++
						if firstErr == "" {
							firstErr = r.Body
							if err != nil {
								firstErr = err.Error()
							}
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			t.Fatalf("round %d of %d not finished within %v (%d requests done)", round+1, loadRounds, loadMaxDuration, len(lat))
		}
		for _, tn := range tenants {
			if got := s.Sim.RefreshesOf(tn.account); got != round+1 {
				t.Fatalf("round %d: installation %s refreshed %d times at LiveChat, want exactly %d (one per expiry)", round+1, tn.id, got, round+1)
			}
		}
	}
	elapsed := time.Since(start)
	if failures > 0 {
		t.Fatalf("%d of %d requests failed or saw another tenant's chats; first: %s", failures, len(lat), firstErr)
	}
	for _, tn := range tenants {
		refreshes := s.Sim.RefreshesOf(tn.account)
		now := s.Get(tn.id)
		if now.Version != tn.version+int64(refreshes) {
			t.Fatalf("installation %s: version %d after %d refreshes from version %d: a refresh was lost", tn.id, now.Version, refreshes, tn.version)
		}
		if !s.Sim.TokenValid(now.AccessToken) {
			t.Fatalf("installation %s: the stored token is not the one LiveChat accepts", tn.id)
		}
	}
	slices.Sort(lat)
	t.Logf("%d requests (%d workers, %d installations, %d expiries each, %d retried after 503) in %v: %.0f req/s; latency p50 %v p99 %v max %v",
		len(lat), loadWorkers, loadInstallations, loadRounds, retries.Load(), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds(),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	s.NoSecretsLogged(tenants[0].key, tenants[1].key, tenants[2].key)
}

// readResponse reads and closes resp.
func readResponse(resp *http.Response) harness.Response {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return harness.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}
