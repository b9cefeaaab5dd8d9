package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

// refreshEnv is a table in dynalite with due installations and a simulator (a harness stack),
// described by the same environment variables the refresh Lambda gets.
type refreshEnv struct {
	*harness.Stack
	env   map[string]string
	insts []*store.Installation
}

func newRefreshEnv(t *testing.T, due int) *refreshEnv {
	t.Helper()
	e := &refreshEnv{Stack: harness.New(t, harness.Options{})}
	// Tokens that expire in 30 minutes are due in the default 60-minute window, on the real clock
	// the command uses.
	e.Sim.SetTokenLifetime(30 * time.Minute)
	e.env = e.ProcessEnv()
	for range due {
		inst, _, _ := e.InstallDirect(livechatsim.Account{})
		e.insts = append(e.insts, inst)
	}
	return e
}

func (e *refreshEnv) run(args ...string) (refresh.Summary, string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runRefresh(context.Background(), args, lookup(e.env), &stdout, &stderr)
	var sum refresh.Summary
	if stdout.Len() > 0 {
		if jerr := json.Unmarshal(stdout.Bytes(), &sum); jerr != nil {
			return sum, stdout.String(), stderr.String(), jerr
		}
	}
	return sum, stdout.String(), stderr.String(), err
}

func TestRunRefresh_RefreshesDueInstallationsAndPrintsASummary(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, 3)
	sum, stdout, stderr, err := e.run("-metrics")
	if err != nil {
		t.Fatalf("runRefresh: %v\nstderr: %s", err, stderr)
	}
	if sum.Due != 3 || sum.Refreshed != 3 || sum.PassFailed || !strings.Contains(stdout, `"refreshed": 3`) {
		t.Errorf("summary = %s, want 3 due and refreshed", stdout)
	}
	for _, inst := range e.insts {
		got, err := e.Store.Get(context.Background(), inst.ID)
		if err != nil || got.AccessToken == inst.AccessToken || !e.Sim.TokenValid(got.AccessToken) {
			t.Errorf("%s: not refreshed (%v)", inst.ID, err)
		}
		if strings.Contains(stderr, inst.AccessToken) || strings.Contains(stderr, inst.RefreshToken) || strings.Contains(stderr, got.AccessToken) {
			t.Errorf("a token appears in the logs")
		}
	}
	if !strings.Contains(stderr, `"_aws"`) || !strings.Contains(stderr, `"Refreshed":3`) {
		t.Errorf("-metrics: no EMF line on stderr:\n%s", stderr)
	}
	if strings.Contains(stderr, e.env["LIVECHAT_CLIENT_SECRET"]) || strings.Contains(stderr, e.env["LCAUTH_SEALING_KEY"]) {
		t.Errorf("a secret appears in the logs")
	}
}

func TestRunRefresh_WrongClientSecretFailsAndStillPrintsTheSummary(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, 4)
	e.env["LIVECHAT_CLIENT_SECRET"] = "not-the-secret"
	sum, stdout, stderr, err := e.run()
	if !errors.Is(err, refresh.ErrCircuitOpen) {
		t.Fatalf("runRefresh error = %v, want ErrCircuitOpen\nstderr: %s", err, stderr)
	}
	if !sum.PassFailed || sum.StoppedReason != refresh.StopCircuitBreaker {
		t.Errorf("summary = %s, want a failed pass stopped by the circuit breaker", stdout)
	}
	if strings.Contains(stderr, "not-the-secret") {
		t.Errorf("the client secret appears in the logs")
	}
}

func TestRunRefresh_RejectsBadArgumentsAndConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", map[string]string{}, []string{"-nope"}, "not defined"},
		{"stray argument", map[string]string{}, []string{"now"}, "unexpected arguments"},
		{"negative timeout", map[string]string{}, []string{"-timeout", "-1s"}, "must not be negative"},
		{"no table", map[string]string{"LIVECHAT_CLIENT_ID": "id", "LIVECHAT_CLIENT_SECRET": "s"}, nil, "LCAUTH_TABLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runRefresh(context.Background(), tc.args, lookup(tc.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunRefresh_UsesTheSealingKeyDevKeepsWhenNoneIsConfigured(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, 2)
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "sealing.key"), []byte(e.env["LCAUTH_SEALING_KEY"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(e.env, "LCAUTH_SEALING_KEY")
	sum, stdout, stderr, err := e.run("-state", state)
	if err != nil || sum.Refreshed != 2 {
		t.Fatalf("runRefresh with the key under -state: %s, %v\nstderr: %s", stdout, err, stderr)
	}
	// Without the file (and no key in the environment) it refuses, naming what is missing, and
	// creates nothing.
	empty := t.TempDir()
	_, _, _, err = e.run("-state", empty)
	if err == nil || !strings.Contains(err.Error(), "LCAUTH_SEALING_KEY") {
		t.Errorf("err = %v, want one naming LCAUTH_SEALING_KEY", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("lcauth refresh created %d files in the state folder", len(entries))
	}
}
