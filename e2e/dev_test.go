//go:build linux

package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDev_KeepsDataAcrossRestartsAndLeavesNoProcessBehind installs through `lcauth dev` with a data
// folder, stops it with SIGTERM and checks that it exited cleanly and that dynalite (with its whole
// process group) and everything else it started is gone; then starts it again on the same folders
// and checks that the API key from the first run still lists chats.
func TestDev_KeepsDataAcrossRestartsAndLeavesNoProcessBehind(t *testing.T) {
	state, data := t.TempDir(), filepath.Join(t.TempDir(), "dynalite")
	opts := devOptions{StateDir: state, Args: []string{"-data", data}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dev := startDev(t, opts)
	client := newFlowClient(t, nil)
	inst, err := installOverHTTP(ctx, client, dev.installURL, consentOverHTTP(client))
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := getJSON(ctx, http.DefaultClient, dev.baseURL+"/chats", bearer(inst.APIKey)); err != nil || status != http.StatusOK {
		t.Fatalf("/chats: status %d, body %v, err %v", status, body, err)
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
	status, body, err := getJSON(ctx, http.DefaultClient, dev.baseURL+"/chats", bearer(inst.APIKey))
	if err != nil {
		t.Fatal(err)
	}
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
