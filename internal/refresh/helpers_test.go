package refresh

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"lcauth/internal/emf"
	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/sealing"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/syncbuf"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// env is one test's world: the LiveChat simulator on a loopback server, a fresh table in the shared
// dynalite, the real store and LiveChat client, all on the simulator's clock.
type env struct {
	t       testing.TB
	sim     *livechatsim.Simulator
	simURL  string
	st      *store.Store
	lc      *livechat.Client
	logs    *syncbuf.Buffer
	metrics *syncbuf.Buffer
	secrets []string // every token and secret the test handed out, to check logs never carry them
	secMu   sync.Mutex
}

func newEnv(t testing.TB) *env {
	t.Helper()
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	db, table := dynalitetest.Table(t)
	key := make([]byte, sealing.KeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	sealer, err := sealing.NewStatic("test", key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t:       t,
		sim:     sim,
		simURL:  srv.URL,
		st:      store.New(db, table, sealer, store.WithClock(sim.Now)),
		logs:    &syncbuf.Buffer{},
		metrics: &syncbuf.Buffer{},
	}
	e.lc = e.client(sim.SecretSource())
	e.secrets = append(e.secrets, sim.ClientSecret())
	return e
}

// client returns a LiveChat client against the simulator with the given client secret.
func (e *env) client(secret livechat.SecretSource) *livechat.Client {
	e.t.Helper()
	lc, err := livechat.New(livechat.Config{
		AccountsURL:  e.simURL,
		APIURL:       e.simURL,
		ClientID:     e.sim.ClientID(),
		RedirectURL:  "https://app.example/callback",
		ClientSecret: secret,
		Now:          e.sim.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return lc
}

// clientWithSecret returns a LiveChat client that sends the given (wrong) client secret, and adds the
// secret to those the log checks look for, so no test can forget the second step.
func (e *env) clientWithSecret(secret string) *livechat.Client {
	e.t.Helper()
	e.secrets = append(e.secrets, secret)
	return e.client(secrets.Static(secret))
}

// fastOptions are Options scaled for tests: short backoffs, small margins.
func (e *env) fastOptions() Options {
	return Options{
		Concurrency:  8,
		CallBudget:   5 * time.Second,
		WaitForOther: 3 * time.Second,
		SafetyMargin: 300 * time.Millisecond,
		BaseBackoff:  10 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		StoreTimeout: 5 * time.Second, // dynalite on a machine shared by many test runs can take seconds
		MinCallTime:  100 * time.Millisecond,
		PageSize:     7, // several pages per shard in bigger tests
		Now:          e.sim.Now,
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      e.metrics,
	}
}

// slowCallOptions makes LiveChat's token refresh take latency and returns fastOptions with
// concurrency call slots: a pass whose length the calls decide.
func (e *env) slowCallOptions(latency time.Duration, concurrency int) Options {
	e.sim.SetLatency(livechatsim.EndpointTokenRefresh, latency)
	o := e.fastOptions()
	o.Concurrency = concurrency
	return o
}

// refresher builds a Refresher over the env's store with opts (fastOptions if zero) and token client lc
// (the env's client if nil).
func (e *env) refresher(lc TokenClient, opts *Options) *Refresher {
	o := e.fastOptions()
	if opts != nil {
		o = *opts
	}
	if lc == nil {
		lc = e.lc
	}
	return New(e.st, lc, o)
}

// install creates n installations with fresh simulator tokens (expiring after the simulator's token
// lifetime), in parallel.
func (e *env) install(n int) []*store.Installation {
	e.t.Helper()
	out := make([]*store.Installation, n)
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			acc := e.sim.AddAccount(livechatsim.Account{})
			tok := e.sim.GrantTokens(acc.AccountID)
			inst, apiKey, err := e.st.Install(context.Background(), store.Grant{
				AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
				Scope: tok.Scope, ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID,
				AccountID: tok.AccountID, Region: tok.Region,
			})
			if err != nil {
				return err
			}
			e.secMu.Lock()
			e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken, apiKey)
			e.secMu.Unlock()
			out[i] = inst
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		e.t.Fatalf("install: %v", err)
	}
	return out
}

// installDue creates n installations whose tokens expire within the default window: it installs them
// and then moves the clock to 30 minutes before their expiry.
func (e *env) installDue(n int) []*store.Installation {
	e.t.Helper()
	insts := e.install(n)
	e.sim.Advance(livechatsim.DefaultTokenLifetime - 30*time.Minute)
	return insts
}

func (e *env) get(id string) *store.Installation {
	e.t.Helper()
	inst, err := e.st.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return inst
}

// noteTokens remembers tokens that appeared later (refreshed ones), for checkNoSecretsLogged.
func (e *env) noteTokens(insts ...*store.Installation) {
	e.secMu.Lock()
	defer e.secMu.Unlock()
	for _, inst := range insts {
		e.secrets = append(e.secrets, inst.AccessToken, inst.RefreshToken)
	}
}

// checkNoSecretsLogged fails if any token, API key or client secret the test knows of appears in the
// logs or metric lines.
func (e *env) checkNoSecretsLogged() {
	e.t.Helper()
	out := e.logs.String() + e.metrics.String()
	e.secMu.Lock()
	defer e.secMu.Unlock()
	for _, s := range e.secrets {
		if s != "" && strings.Contains(out, s) {
			e.t.Errorf("logs or metrics contain a secret (%d chars)", len(s))
		}
	}
}

// emfDoc is a parsed Embedded Metric Format line.
type emfDoc struct {
	raw  map[string]any
	meta struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
}

// emfLines parses every metric line the env received, failing on any line that is not valid EMF.
func (e *env) emfLines() []emfDoc {
	e.t.Helper()
	var docs []emfDoc
	sc := bufio.NewScanner(strings.NewReader(e.metrics.String()))
	for sc.Scan() {
		var d emfDoc
		if err := json.Unmarshal(sc.Bytes(), &d.raw); err != nil {
			e.t.Fatalf("metric line is not JSON: %v: %s", err, sc.Text())
		}
		aws, ok := d.raw["_aws"]
		if !ok {
			e.t.Fatalf("metric line has no _aws member: %s", sc.Text())
		}
		b, _ := json.Marshal(aws)
		if err := json.Unmarshal(b, &d.meta); err != nil {
			e.t.Fatalf("bad _aws member: %v", err)
		}
		if d.meta.Timestamp <= 0 || len(d.meta.CloudWatchMetrics) != 1 {
			e.t.Fatalf("bad _aws metadata: %s", sc.Text())
		}
		dir := d.meta.CloudWatchMetrics[0]
		if dir.Namespace != emf.Namespace {
			e.t.Fatalf("namespace = %q, want %q", dir.Namespace, emf.Namespace)
		}
		// The stack's alarms (infra/stack.go) watch these metrics with exactly this one dimension.
		if len(dir.Dimensions) != 1 || len(dir.Dimensions[0]) != 1 || dir.Dimensions[0][0] != "Service" || d.raw["Service"] != "lcauth" {
			e.t.Fatalf("dimensions = %v (Service=%v), want [[Service]] with Service=lcauth", dir.Dimensions, d.raw["Service"])
		}
		for _, m := range dir.Metrics {
			if _, ok := d.raw[m.Name].(float64); !ok {
				e.t.Fatalf("metric %s has no numeric root member: %s", m.Name, sc.Text())
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// passMetrics returns the metric values of the last pass line.
func (e *env) passMetrics() map[string]float64 {
	e.t.Helper()
	var last map[string]any
	for _, d := range e.emfLines() {
		if d.raw["event"] == "refresh_pass" {
			last = d.raw
		}
	}
	if last == nil {
		e.t.Fatal("no refresh_pass metric line")
	}
	out := map[string]float64{}
	for k, v := range last {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// recordingClient wraps the real LiveChat client and records when each call started and ended, and
// its error class.
type recordingClient struct {
	inner TokenClient
	mu    sync.Mutex
	calls []call
	// after runs after each call (tests use it to cancel contexts at a precise point).
	after func(tok *livechat.Token, err error)
}

type call struct {
	start, end time.Time
	class      livechat.ErrorClass
	retryAfter time.Duration
}

func (c *recordingClient) Refresh(ctx context.Context, refreshToken string) (*livechat.Token, error) {
	start := time.Now()
	tok, err := c.inner.Refresh(ctx, refreshToken)
	c.mu.Lock()
	c.calls = append(c.calls, call{start: start, end: time.Now(), class: livechat.Classify(err), retryAfter: livechat.RetryAfter(err)})
	c.mu.Unlock()
	if c.after != nil {
		c.after(tok, err)
	}
	return tok, err
}

func (c *recordingClient) snapshot() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]call(nil), c.calls...)
}
