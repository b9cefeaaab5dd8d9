//go:build linux

package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDev_KeepsDataAcrossRestartsAndLeavesNoProcessBehind installs through `lcauth dev` with a data
// folder, stops it with SIGTERM and checks that it exited cleanly and that dynalite (with its whole
// process group) and everything else it started is gone; then starts it again on the same folders
// and checks that the API key from the first run still finds its installation. The first run's
// refresh timer must refresh the installation on its own.
func TestDev_KeepsDataAcrossRestartsAndLeavesNoProcessBehind(t *testing.T) {
	t.Parallel()
	state, data := t.TempDir(), filepath.Join(t.TempDir(), "dynalite")
	// Tokens living 30 minutes are due at once (window 60m), so the 1s timer's passes refresh them.
	opts := devOptions{StateDir: state, Args: []string{"-data", data, "-simulator-token-lifetime", "30m"},
		Env: []string{"LCAUTH_REFRESH_INTERVAL=1s"}}

	dev := startDev(t, opts)
	site := dev.site(t)
	inst := site.Install("")
	if r := site.Chats(inst.APIKey, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats: status %d, body %s", r.Status, r.Body)
	}
	if !eventually(30*time.Second, func() bool { return strings.Contains(dev.errOut(), "refreshed=1") }) {
		t.Fatalf("no refresh pass on the timer refreshed the installation; stderr:\n%s", dev.errOut())
	}
	stopAndCheckNothingLeft(t, dev)
	if !fileExists(filepath.Join(state, "sealing.key")) {
		t.Fatalf("no sealing key was kept in %s", state)
	}

	// The second run has a new simulator that has never heard of the first run's tokens, so /chats
	// answers from LiveChat with an authentication error; what matters here is that lcauth found the
	// installation behind the API key (not 401) and could open its sealed tokens (no 500).
	dev = startDev(t, opts)
	if !strings.Contains(dev.out(), "data in "+data) {
		t.Fatalf("the banner does not say where the data is kept:\n%s", dev.out())
	}
	r := dev.site(t).Chats(inst.APIKey, "")
	status, body := r.Status, r.JSON(t)
	// 200 would need the simulator to remember the first run; 502 is LiveChat (the new simulator)
	// refusing the first run's refresh token, which lcauth could only send after unsealing it.
	if status != http.StatusOK && status != http.StatusBadGateway {
		t.Fatalf("/chats after a restart with the first run's API key: status %d, body %v; want the installation to be found", status, body)
	}
	stopAndCheckNothingLeft(t, dev)
}

// stopAndCheckNothingLeft sends SIGTERM to lcauth dev and checks that it exits with status 0 and
// that every process it started, and dynalite's process group, is gone.
func stopAndCheckNothingLeft(t *testing.T, dev *devProcess) {
	t.Helper()
	started := descendants(dev.cmd.Process.Pid)
	var dynalitePID int
	for _, pid := range started {
		if strings.Contains(cmdline(pid), "dynalite") {
			dynalitePID = pid
		}
	}
	if dynalitePID == 0 {
		t.Fatalf("no dynalite among the processes lcauth dev started: %v", started)
	}
	if err := dev.stop(t, syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatalf("lcauth dev on SIGTERM: %v\nstderr:\n%s", err, dev.errOut())
	}
	for _, pid := range started {
		if processAlive(pid) {
			t.Errorf("process %d (%s) outlived lcauth dev", pid, cmdline(pid))
		}
	}
	if left := processGroup(dynalitePID); len(left) > 0 {
		t.Errorf("dynalite's process group still has processes %v", left)
	}
}

// TestDev_WithLiveChatCredentialsUsesThemAndSaysWhatToWhitelist starts `lcauth dev` with an app's
// client id and secret: no simulator starts, the banner names the redirect URI to whitelist, and
// /install sends the browser to the configured LiveChat with that client id and redirect URI.
func TestDev_WithLiveChatCredentialsUsesThemAndSaysWhatToWhitelist(t *testing.T) {
	t.Parallel()
	// Nothing listens there: the test only follows /install's redirect, never LiveChat itself.
	const accounts = "http://127.0.0.1:9/accounts"
	dev := startDev(t, devOptions{Env: []string{
		"LIVECHAT_CLIENT_ID=e2e-real-client",
		"LIVECHAT_CLIENT_SECRET=e2e-real-secret",
		"LIVECHAT_ACCOUNTS_URL=" + accounts,
	}})
	out := dev.out()
	if dev.simURL != "" {
		t.Fatalf("the simulator started although LiveChat credentials are set:\n%s", out)
	}
	if !strings.Contains(out, "whitelist "+dev.baseURL+"/callback") {
		t.Fatalf("the banner does not say to whitelist %s/callback:\n%s", dev.baseURL, out)
	}
	if strings.Contains(out+dev.errOut(), "e2e-real-secret") {
		t.Fatal("lcauth dev printed the client secret")
	}
	resp := dev.site(t).Browser().Get(dev.installURL)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.Status != http.StatusFound || err != nil {
		t.Fatalf("/install: status %d, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; !strings.HasPrefix(got, accounts) {
		t.Errorf("/install redirects to %s, want the configured LIVECHAT_ACCOUNTS_URL %s", got, accounts)
	}
	if q.Get("client_id") != "e2e-real-client" || q.Get("redirect_uri") != dev.baseURL+"/callback" {
		t.Errorf("authorize request has client_id %q and redirect_uri %q, want e2e-real-client and %s/callback",
			q.Get("client_id"), q.Get("redirect_uri"), dev.baseURL)
	}
	stopAndCheckNothingLeft(t, dev)
}
