//go:build linux

// The Lambda Runtime Interface Emulator and e2e's helpers around it run on Linux only.

package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lcauth/e2e"
	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/syncbuf"
)

// TestFunction_RunsAPassUnderTheLambdaRuntime builds this function as `make build` does (e2e's
// BuildLambdas: bootstrap with lambda.norpc) and invokes it through the Lambda Runtime Interface
// Emulator (e2e's StartEmulator), against dynalite and the LiveChat simulator: a scheduled event runs
// a pass and returns its summary, the EMF lines reach stdout, and a pass that trips the circuit
// breaker fails the invocation.
func TestFunction_RunsAPassUnderTheLambdaRuntime(t *testing.T) {
	root, err := e2e.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	lambdas, err := e2e.BuildLambdas(t.Context(), root, dir, "./functions/refresh")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := e2e.BuildTools(t.Context(), root, filepath.Join(dir, "tools"), e2e.RIEPackage)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the function and the emulator in %v", time.Since(start).Round(time.Millisecond))

	s := harness.New(t, harness.Options{})
	s.Sim.SetTokenLifetime(30 * time.Minute) // due in the default 60-minute window, on the real clock
	for range 3 {
		s.InstallDirect(livechatsim.Account{})
	}
	var out syncbuf.Buffer
	fn, err := e2e.StartEmulator(t.Context(), e2e.EmulatorOptions{
		RIE: tools[filepath.Base(e2e.RIEPackage)], Binary: lambdas["refresh"], Env: s.ProcessEnv(),
		Timeout: 60 * time.Second, Log: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Close() })
	scheduled := []byte(`{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)

	start = time.Now()
	body, err := fn.Invoke(t.Context(), scheduled)
	t.Logf("first invocation answered after %v", time.Since(start).Round(time.Millisecond))
	var sum refresh.Summary
	if err != nil || json.Unmarshal(body, &sum) != nil || sum.Refreshed != 3 || sum.PassFailed {
		t.Fatalf("scheduled invocation: %v %s; want a summary with 3 refreshed\nemulator output:\n%s", err, body, out.String())
	}
	if !strings.Contains(out.String(), `"Refreshed":3`) || !strings.Contains(out.String(), `"_aws"`) {
		t.Errorf("no EMF line with Refreshed=3 in the function's output:\n%s", out.String())
	}

	// The client secret is rotated in LiveChat but not here: every refresh is refused, the breaker trips
	// and the invocation fails so that the function's error alarm fires. Nothing is marked.
	s.Sim.SetClientSecret("rotated-elsewhere")
	body, err = fn.Invoke(t.Context(), scheduled)
	var fe *e2e.FunctionError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "circuit breaker") {
		t.Errorf("failing pass: %v %s; want an invocation error naming the circuit breaker", err, body)
	}
	if strings.Contains(out.String(), harness.ClientSecret) {
		t.Errorf("the client secret appears in the function's output")
	}

	// A fan-out target's input limits the pass to some shards.
	s.Sim.SetClientSecret(harness.ClientSecret)
	body, err = fn.Invoke(t.Context(), []byte(`{"shards":[]}`))
	if err != nil || json.Unmarshal(body, &sum) != nil || sum.Due != 0 {
		t.Errorf(`{"shards":[]}: %v %s; want an empty pass`, err, body)
	}
}
