package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/sealing"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/syncbuf"
)

// TestFunction_RunsAPassUnderTheLambdaRuntime builds this function as Lambda runs it (bootstrap with
// lambda.norpc) and invokes it through the Lambda Runtime Interface Emulator, against dynalite and the
// LiveChat simulator: a scheduled event runs a pass and returns its summary, the EMF lines reach
// stdout, and a pass that trips the circuit breaker fails the invocation.
func TestFunction_RunsAPassUnderTheLambdaRuntime(t *testing.T) {
	dir := t.TempDir()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the function: %v", err)
	}
	build := func(out string, args ...string) {
		cmd := exec.Command(gobin, append([]string{"build", "-o", out}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", args, err, b)
		}
	}
	bootstrap, rie := filepath.Join(dir, "bootstrap"), filepath.Join(dir, "aws-lambda-rie")
	start := time.Now()
	build(bootstrap, "-tags", "lambda.norpc", ".")
	build(rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	t.Logf("built the function and the emulator in %v", time.Since(start).Round(time.Millisecond))

	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	sim.SetTokenLifetime(30 * time.Minute) // due in the default 60-minute window, on the real clock
	db, table := dynalitetest.Table(t)
	key := bytes.Repeat([]byte{9}, sealing.KeySize)
	sealer, err := sealing.NewStatic(sealing.StaticKeyID(key), key)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db, table, sealer)
	for range 3 {
		tok := sim.GrantTokens(sim.AddAccount(livechatsim.Account{}).AccountID)
		if _, _, err := st.Install(context.Background(), store.Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
			TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: tok.Expiry, OrganizationID: tok.OrganizationID,
			AccountID: tok.AccountID, Region: tok.Region}); err != nil {
			t.Fatal(err)
		}
	}

	// Both of the emulator's listeners on free ports: its Runtime API defaults to a fixed 9001, which
	// other tests on the machine may be using.
	addr := freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(t), bootstrap)
	cmd.Env = append(os.Environ(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"LIVECHAT_CLIENT_ID="+sim.ClientID(),
		"LIVECHAT_CLIENT_SECRET="+sim.ClientSecret(),
		"LIVECHAT_ACCOUNTS_URL="+srv.URL,
		"LCAUTH_TABLE="+table,
		"DYNAMODB_ENDPOINT="+dynalitetest.Server(t).Endpoint(),
		"LCAUTH_SEALING_KEY="+base64.StdEncoding.EncodeToString(key),
	)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	invoke := func(body string) (int, []byte) {
		t.Helper()
		url := "http://" + addr + "/2015-03-31/functions/function/invocations"
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				select {
				case <-exited:
					t.Fatalf("the emulator exited\n%s", out.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("invoke: %v\nemulator output:\n%s", err, out.String())
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, b
		}
	}
	scheduled := `{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`

	start = time.Now()
	status, body := invoke(scheduled)
	t.Logf("first invocation answered after %v", time.Since(start).Round(time.Millisecond))
	var sum refresh.Summary
	if err := json.Unmarshal(body, &sum); status != http.StatusOK || err != nil || sum.Refreshed != 3 || sum.PassFailed {
		t.Fatalf("scheduled invocation: HTTP %d %s; want a summary with 3 refreshed\nemulator output:\n%s", status, body, out.String())
	}
	if !strings.Contains(out.String(), `"Refreshed":3`) || !strings.Contains(out.String(), `"_aws"`) {
		t.Errorf("no EMF line with Refreshed=3 in the function's output:\n%s", out.String())
	}

	// The client secret is rotated in LiveChat but not here: every refresh is refused, the breaker trips
	// and the invocation fails so that the function's error alarm fires. Nothing is marked.
	sim.SetClientSecret("rotated-elsewhere")
	status, body = invoke(scheduled)
	if !strings.Contains(string(body), "circuit breaker") || !strings.Contains(string(body), "errorMessage") {
		t.Errorf("failing pass: HTTP %d %s; want an invocation error naming the circuit breaker", status, body)
	}
	if strings.Contains(out.String(), livechatsim.DefaultClientSecret) {
		t.Errorf("the client secret appears in the function's output")
	}

	// A fan-out target's input limits the pass to some shards.
	sim.SetClientSecret(livechatsim.DefaultClientSecret)
	status, body = invoke(`{"shards":[]}`)
	if err := json.Unmarshal(body, &sum); status != http.StatusOK || err != nil || sum.Due != 0 {
		t.Errorf(`{"shards":[]}: HTTP %d %s; want an empty pass`, status, body)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
