package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

type cliEnv struct {
	*harness.Stack
	env map[string]string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := &cliEnv{Stack: harness.New(t, harness.Options{})}
	e.env = e.ProcessEnv()
	delete(e.env, config.EnvRedirectURL) // the operator commands serve nothing
	return e
}

func (e *cliEnv) run(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runInstallations(context.Background(), args, lookup(e.env), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestInstallations_ListShowsEveryInstallationAsATableOrJSON(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	a, _, _ := e.InstallDirect(livechatsim.Account{})
	b, _, _ := e.InstallDirect(livechatsim.Account{Region: "fra"})
	out, stderr, err := e.run("list")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(out, a.ID) || !strings.Contains(out, b.ID) ||
		!strings.Contains(out, "active") || !strings.Contains(out, "2 installation(s)") {
		t.Errorf("list table:\n%s", out)
	}
	for _, inst := range []*store.Installation{a, b} {
		if strings.Contains(out+stderr, inst.AccessToken) || strings.Contains(out+stderr, inst.RefreshToken) {
			t.Error("a token was printed")
		}
	}
	if _, err := e.App.Uninstaller().Uninstall(context.Background(), b.ID, store.UninstalledByOperator); err != nil {
		t.Fatal(err)
	}
	out, _, err = e.run("list", "-status", "uninstalled", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var views []map[string]any
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("list -json: %v\n%s", err, out)
	}
	if len(views) != 1 || views[0]["installation_id"] != b.ID || views[0]["status"] != "uninstalled" || views[0]["status_reason"] != "operator" {
		t.Errorf("list -status uninstalled -json = %v, want only %s", views, b.ID)
	}
	if _, _, err := e.run("list", "-status", "gone"); err == nil || !strings.Contains(err.Error(), "unknown status") {
		t.Errorf("unknown status: %v", err)
	}
}

func TestInstallations_ShowUninstallDelete(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	inst, _, _ := e.InstallDirect(livechatsim.Account{})

	out, _, err := e.run("show", inst.ID)
	if err != nil || !strings.Contains(out, "Status:") || !strings.Contains(out, "active") || !strings.Contains(out, inst.OrganizationID) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if strings.Contains(out, inst.AccessToken) {
		t.Error("show printed the access token")
	}
	out, _, err = e.run("uninstall", inst.ID)
	if err != nil || !strings.Contains(out, "uninstalled") {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	got := e.Get(inst.ID)
	if got.Status != store.StatusUninstalled || got.AccessToken != "" || e.Sim.TokenValid(inst.AccessToken) {
		t.Errorf("after uninstall: status %s, token kept %v, still valid at LiveChat %v", got.Status, got.AccessToken != "", e.Sim.TokenValid(inst.AccessToken))
	}
	if out, _, err = e.run("uninstall", inst.ID); err != nil || !strings.Contains(out, "already uninstalled") {
		t.Errorf("second uninstall: %v\n%s", err, out)
	}
	out, _, err = e.run("show", "-json", inst.ID)
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v["status"] != "uninstalled" {
		t.Errorf("show -json after uninstall: %v\n%s", err, out)
	}
	if out, _, err = e.run("delete", inst.ID); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if _, err := e.Store.Get(context.Background(), inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after delete: %v, want ErrNotFound", err)
	}
}

func TestInstallations_DeleteOfAnActiveInstallationRevokesFirst(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	inst, _, _ := e.InstallDirect(livechatsim.Account{})
	if out, _, err := e.run("delete", inst.ID); err != nil || !strings.Contains(out, "uninstalled") || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if e.Sim.TokenValid(inst.AccessToken) {
		t.Error("the token still works at LiveChat after delete")
	}
}

func TestInstallations_RefusesUnknownIDsAndBadArguments(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	for _, args := range [][]string{
		{"show", store.InstallationID("nobody", "nobody")},
		{"uninstall", "not-an-id"},
		{"delete", store.InstallationID("x", "y")},
	} {
		_, _, err := e.run(args...)
		if err == nil || !strings.Contains(err.Error(), "no installation has the id") {
			t.Errorf("%v: %v, want a clear unknown-id error", args, err)
		}
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"show"}, {"show", "a", "b"}, {"list", "extra"}} {
		if _, _, err := e.run(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
