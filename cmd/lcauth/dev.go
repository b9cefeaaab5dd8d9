package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/dynalite"
	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
)

// Local-mode settings that exist only for `lcauth dev`; everything else comes from internal/config.
const (
	// devTable is the table name when LCAUTH_TABLE is unset.
	devTable = "lcauth"
	// sealingKeyFile is the generated sealing key's file under the state folder.
	sealingKeyFile = "sealing.key"
	// shutdownTimeout bounds how long in-flight requests may finish after Ctrl-C.
	shutdownTimeout = 5 * time.Second
)

// runDev runs the whole product on this machine: it fills in whatever the environment does not
// configure (a dynalite it starts itself, the LiveChat simulator, a sealing key kept under .lcauth/,
// a redirect URL on localhost), then serves every route and runs a refresh pass
// on a timer until ctx is cancelled (Ctrl-C, SIGTERM), and stops everything it started.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := newFlags("lcauth dev", stderr, "usage: lcauth dev [flags]",
		"Runs lcauth locally: dynalite, the LiveChat simulator (unless LIVECHAT_CLIENT_ID and",
		"LIVECHAT_CLIENT_SECRET are set), the HTTP server and the refresher. Flags:")
	dataDir := fl.String("data", getenv(config.EnvDataDir), "keep dynalite's data in this folder across restarts (default: in memory; env "+config.EnvDataDir+")")
	stateDir := fl.String("state", ".lcauth", "folder for the sealing key and the webhook secret generated when "+config.EnvSealingKey+" / "+config.EnvWebhookSecret+" are unset")
	simLifetime := fl.Duration("simulator-token-lifetime", livechatsim.DefaultTokenLifetime, "lifetime of the simulator's access tokens (shorter shows the refresher at work)")
	if help, err := parseArgs(fl, args); help || err != nil {
		return err
	}
	if *simLifetime < time.Minute {
		return errors.New("-simulator-token-lifetime must be at least 1m")
	}

	d := &devRun{getenv: getenv, env: map[string]string{}, stdout: stdout, stderr: stderr}
	defer d.stop()
	if err := d.start(ctx, *dataDir, *stateDir, *simLifetime); err != nil {
		return err
	}
	d.printBanner()
	return d.wait(ctx)
}

// devRun is one `lcauth dev`: what it filled in and what it started (stopped in reverse order).
type devRun struct {
	getenv         func(string) string
	env            map[string]string // values filled in, on top of getenv
	stdout, stderr io.Writer
	log            *slog.Logger

	cfg        config.Config
	app        *app.App
	listener   net.Listener
	server     *http.Server
	serveErr   chan error
	publicURL  string
	dynalite   *dynalite.Server
	dataDir    string
	sim        *livechatsim.Simulator
	simServer  *http.Server
	simURL     string
	keySource  string
	webhookURL string
	refreshWG  sync.WaitGroup
	stopCancel context.CancelFunc
	stops      []func()
}

// lookup is the environment lcauth dev configures itself from: what it filled in wins over unset
// variables only; a variable the user set is never overridden.
func (d *devRun) lookup(name string) string {
	if v := d.getenv(name); v != "" {
		return v
	}
	return d.env[name]
}

func (d *devRun) start(ctx context.Context, dataDir, stateDir string, simLifetime time.Duration) error {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(orDefault(d.getenv(config.EnvLogLevel), "info"))); err != nil {
		return fmt.Errorf("%s must be debug, info, warn or error", config.EnvLogLevel)
	}
	d.log = slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: level}))

	// Listen first: the redirect URL needs the port (LCAUTH_ADDR may say :0).
	addr := orDefault(d.getenv(config.EnvAddr), "127.0.0.1:8080")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set %s to use another address): %w", addr, config.EnvAddr, err)
	}
	d.listener = ln
	d.stops = append(d.stops, func() { _ = ln.Close() })
	d.publicURL = publicURL(ln.Addr().(*net.TCPAddr))
	redirectURL := d.getenv(config.EnvRedirectURL)
	if redirectURL == "" {
		redirectURL = d.publicURL + "/callback"
		d.env[config.EnvRedirectURL] = redirectURL
	} else if u, err := url.Parse(redirectURL); err == nil && u.Host != "" {
		d.publicURL = u.Scheme + "://" + u.Host
	}
	if d.getenv(config.EnvTable) == "" {
		d.env[config.EnvTable] = devTable
	}

	if err := d.startLiveChat(redirectURL, simLifetime); err != nil {
		return err
	}
	if err := d.sealingKey(stateDir); err != nil {
		return err
	}
	if err := d.webhookSecret(stateDir); err != nil {
		return err
	}
	if err := d.stateKey(stateDir); err != nil {
		return err
	}
	if err := d.startDynamoDB(ctx, dataDir); err != nil {
		return err
	}

	cfg, err := config.LoadFor(d.lookupSim, config.FunctionInstall, config.FunctionCallback, config.FunctionChats, config.FunctionRefresh, config.FunctionWebhook)
	if err != nil {
		return err
	}
	d.cfg = cfg
	a, err := app.New(ctx, cfg, app.WithLogger(d.log), app.WithOwnerPrefix("dev"))
	if err != nil {
		return err
	}
	d.app = a

	d.server = &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.serveErr = make(chan error, 1)
	go func() { d.serveErr <- d.server.Serve(ln) }()

	// The refresher stops when lcauth dev does, not only when ctx ends (a serve error stops it too).
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopCancel = cancel
	d.refreshWG.Add(1)
	go d.refreshLoop(rctx, cfg.RefreshInterval)
	return nil
}

// startLiveChat configures the real LiveChat when both credentials are set, else starts the
// simulator on a loopback port with one seeded account and points the configuration at it.
func (d *devRun) startLiveChat(redirectURL string, lifetime time.Duration) error {
	id := d.getenv(config.EnvClientID)
	secretSet := d.getenv(config.EnvClientSecret) != "" || d.getenv(config.EnvClientSecretARN) != ""
	switch {
	case id != "" && secretSet:
		return nil // real LiveChat, as configured
	case id != "" || secretSet:
		return fmt.Errorf("set both %s and %s to use your LiveChat app, or neither to use the LiveChat simulator",
			config.EnvClientID, config.EnvClientSecret)
	}
	secret, err := randomToken(24)
	if err != nil {
		return err
	}
	d.sim = livechatsim.New(livechatsim.Options{
		ClientSecret:  secret,
		RedirectURIs:  []string{redirectURL},
		TokenLifetime: lifetime,
		Seed:          true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("LiveChat simulator: listen: %w", err)
	}
	d.simURL = "http://" + ln.Addr().String()
	d.simServer = &http.Server{
		Handler:           d.sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	go func() { _ = d.simServer.Serve(ln) }()
	d.stops = append(d.stops, func() {
		d.sim.Close()
		_ = d.simServer.Close()
	})
	d.env[config.EnvClientID] = d.sim.ClientID()
	d.env[config.EnvClientSecret] = secret
	// The simulator serves the accounts and the Agent API paths on one address; it replaces any
	// LiveChat URL in the environment, which would belong to the real LiveChat.
	d.env[config.EnvAccountsURL] = d.simURL
	d.env[config.EnvAPIURL] = d.simURL
	return nil
}

// lookupSim is lookup for the LiveChat URLs: in simulator mode they must point at the simulator
// even when the environment names the real LiveChat.
func (d *devRun) lookupSim(name string) string {
	if d.sim != nil && (name == config.EnvAccountsURL || name == config.EnvAPIURL) {
		return d.env[name]
	}
	return d.lookup(name)
}

// sealingKey uses LCAUTH_SEALING_KEY (or LCAUTH_KMS_KEY_ID) when set; otherwise the key kept in
// stateDir, generated on first use, so `serve`, `refresh` and `dev` started in the same folder can
// read each other's tokens.
func (d *devRun) sealingKey(stateDir string) error {
	if d.getenv(config.EnvSealingKey) != "" {
		d.keySource = config.EnvSealingKey
		return nil
	}
	if d.getenv(config.EnvKMSKeyID) != "" {
		d.keySource = "KMS key " + d.getenv(config.EnvKMSKeyID)
		return nil
	}
	path := filepath.Join(stateDir, sealingKeyFile)
	key, created, err := loadOrCreateKey(path)
	if err != nil {
		return err
	}
	d.env[config.EnvSealingKey] = base64.StdEncoding.EncodeToString(key)
	d.keySource = path
	if created {
		d.keySource += " (new)"
	}
	return nil
}

// loadOrCreateKey reads a base64 sealing key from path, or creates the file with a new random key
// (folder 0700, file 0600). A file that exists but does not hold a valid key is an error, never
// replaced: tokens sealed with it would be lost.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != config.SealingKeySize {
			return nil, false, fmt.Errorf("%s does not hold a base64 %d-byte sealing key; fix or remove it (tokens sealed with it cannot be read without it)", path, config.SealingKeySize)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%s is readable by other users (mode %v); run chmod 600 %s", path, st.Mode().Perm(), path)
		}
		return key, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read sealing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("sealing key folder: %w", err)
	}
	key = make([]byte, config.SealingKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate sealing key: %w", err)
	}
	// The key is written to a private temporary file and then hard-linked into place: the link
	// appears complete or not at all, and fails if another lcauth process starting at the same
	// moment got there first, in which case its key is the one to use.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+sealingKeyFile+"-*")
	if err != nil {
		return nil, false, fmt.Errorf("create sealing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		_ = tmp.Close()
		return nil, false, fmt.Errorf("write sealing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, false, fmt.Errorf("write sealing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("write sealing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateKey(path)
		}
		return nil, false, fmt.Errorf("create sealing key: %w", err)
	}
	return key, true, nil
}

// startDynamoDB starts dynalite unless DYNAMODB_ENDPOINT names a DynamoDB already, and creates the
// table either way.
func (d *devRun) startDynamoDB(ctx context.Context, dataDir string) error {
	endpoint := d.getenv(config.EnvDynamoDBEndpoint)
	if endpoint == "" {
		d.dataDir = dataDir
		srv, err := dynalite.Start(ctx, dynalite.Options{Dir: dataDir})
		if err != nil {
			return err
		}
		d.dynalite = srv
		d.stops = append(d.stops, func() {
			if err := srv.Close(); err != nil {
				d.log.Error("stop dynalite", "err", err)
			}
		})
		endpoint = srv.Endpoint()
		d.env[config.EnvDynamoDBEndpoint] = endpoint
	}
	table := d.lookup(config.EnvTable)
	if err := dynalite.CreateTable(ctx, dynalite.NewClient(endpoint), table); err != nil {
		return fmt.Errorf("create table %s at %s: %w", table, endpoint, err)
	}
	return nil
}

// refreshLoop runs a pass now (tokens may have come due while lcauth was stopped) and then every
// interval, until ctx ends.
func (d *devRun) refreshLoop(ctx context.Context, interval time.Duration) {
	defer d.refreshWG.Done()
	r := d.app.Refresher()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum, err := r.RunPass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d.log.Error("refresh pass failed", "err", err, "summary", sum)
		case sum.Due > 0:
			d.log.Info("refresh pass", "summary", sum)
		default:
			d.log.Debug("refresh pass: nothing due")
		}
		t.Reset(interval)
	}
}

func (d *devRun) printBanner() {
	w := d.stdout
	fmt.Fprintln(w, "lcauth dev is running:")
	if d.dynalite != nil {
		store := "in memory: data is lost on exit; -data DIR or " + config.EnvDataDir + " keeps it"
		if d.dataDir != "" {
			store = "data in " + d.dataDir
		}
		fmt.Fprintf(w, "  DynamoDB   dynalite at %s (%s), table %s\n", d.dynalite.Endpoint(), store, d.cfg.Table)
	} else {
		fmt.Fprintf(w, "  DynamoDB   %s, table %s\n", d.cfg.DynamoDBEndpoint, d.cfg.Table)
	}
	if d.sim != nil {
		var who []string
		for _, a := range d.sim.Accounts() {
			who = append(who, fmt.Sprintf("%s with %d chats", a.Email, a.Chats))
		}
		fmt.Fprintf(w, "  LiveChat   simulator at %s (sign in as %s)\n", d.simURL, strings.Join(who, ", "))
	} else {
		fmt.Fprintf(w, "  LiveChat   %s (client id %s)\n", d.cfg.AccountsURL, d.cfg.ClientID)
		fmt.Fprintf(w, "             whitelist %s as a Redirect URI of your app in the LiveChat Developer Console\n", d.cfg.RedirectURL)
	}
	fmt.Fprintf(w, "  Server     %s (listening on %s): /install, /callback, /chats, %s\n", d.publicURL, d.listener.Addr(), httpapi.WebhookPath)
	switch {
	case d.webhookURL == "":
		fmt.Fprintf(w, "  Webhook    secret from %s\n", config.EnvWebhookSecretARN)
	case d.sim != nil:
		fmt.Fprintf(w, "  Webhook    %s\n             the simulator's Uninstall app button (%s%s) posts application_uninstalled here\n", d.webhookURL, d.simURL, livechatsim.PathApps)
	default:
		fmt.Fprintf(w, "  Webhook    %s\n             paste it (with a public host) into your app's App Webhooks in the Developer Console\n", d.webhookURL)
	}
	fmt.Fprintf(w, "  Refresher  a pass every %s (%s)\n", d.cfg.RefreshInterval, config.EnvRefreshInterval)
	fmt.Fprintf(w, "  Sealing    key from %s\n", d.keySource)
	fmt.Fprintf(w, "Next: open %s to install the app, then call /chats with the API key it shows. Ctrl-C stops everything.\n", d.cfg.InstallURL)
}

// wait serves until ctx ends or the server fails.
func (d *devRun) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		d.log.Info("stopping")
		return nil
	case err := <-d.serveErr:
		return fmt.Errorf("server: %w", err)
	}
}

// stop shuts down, in reverse order, everything start started; it is safe after a failed start.
func (d *devRun) stop() {
	if d.stopCancel != nil {
		d.stopCancel()
	}
	if d.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := d.server.Shutdown(ctx); err != nil {
			_ = d.server.Close()
		}
		cancel()
	}
	d.refreshWG.Wait()
	for i := len(d.stops) - 1; i >= 0; i-- {
		d.stops[i]()
	}
	d.stops = nil
}

// publicURL is the URL a browser on this machine uses for addr: localhost for loopback and
// unspecified addresses (LiveChat accepts http redirect URIs only for localhost), else the address.
func publicURL(addr *net.TCPAddr) string {
	host := "localhost"
	if !addr.IP.IsLoopback() && !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
