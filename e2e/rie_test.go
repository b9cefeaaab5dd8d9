//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestBuildFlagsMatchMakefile(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(root + "/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, f := range LambdaBuildFlags {
		if strings.Contains(f, " ") {
			f = `"` + f + `"`
		}
		flags = append(flags, f)
	}
	for _, want := range []string{
		"LAMBDA_BUILD_FLAGS := " + strings.Join(flags, " ") + "\n",
		"CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(LAMBDA_BUILD_FLAGS) ",
	} {
		if !strings.Contains(string(mk), want) {
			t.Fatalf("the Makefile's Lambda build rule no longer contains %q; update LambdaBuildFlags to match it", want)
		}
	}
}

func TestEmulator_InvokesTheFunctionAndStopsItOnClose(t *testing.T) {
	rie, _ := tools(t)
	bins := lambdas(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	e, err := StartEmulator(ctx, EmulatorOptions{RIE: rie, Binary: bins[helloName], Env: map[string]string{"AWS_REGION": "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if pids := e.Pids(); len(pids) != 0 {
		t.Fatalf("the function runs before the first invocation: pids %v", pids)
	}
	ev, err := json.Marshal(events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		out, err := e.Invoke(ctx, ev)
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("invoke %d: %v in %q", i, err, out)
		}
		if resp.StatusCode != http.StatusOK || resp.Body != "hello\n" {
			t.Fatalf("invoke %d: got %d %q, want 200 \"hello\\n\"", i, resp.StatusCode, resp.Body)
		}
	}
	pids := e.Pids()
	if len(pids) == 0 {
		t.Fatal("no function process found after invoking")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("process %d (%s) survived Close", pid, cmdline(pid))
		}
	}
}

func TestEmulator_ReportsAFunctionThatCannotStart(t *testing.T) {
	rie, _ := tools(t)
	bins := lambdas(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The chats function with no configuration at all exits during init.
	e, err := StartEmulator(ctx, EmulatorOptions{RIE: rie, Binary: bins["chats"], Env: map[string]string{"AWS_REGION": "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Invoke(ctx, []byte(`{}`))
	if err == nil {
		t.Fatal("invoking a function that exits during init succeeded")
	}
	var fe *FunctionError
	if !errors.As(err, &fe) && !strings.Contains(err.Error(), "emulator") {
		t.Fatalf("got %v, want a function or emulator error", err)
	}
	// The function's output travels through the emulator's own pipe and may trail its answer a little.
	if !eventually(5*time.Second, func() bool { return strings.Contains(e.Output(), "LIVECHAT_CLIENT_ID") }) {
		t.Fatalf("the function's own message about its configuration is not in the output: %v\n%s", err, e.Output())
	}
}
