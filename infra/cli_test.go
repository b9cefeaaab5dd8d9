package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCDKCLI_SynthWorksOfflineWithoutCredentials runs the pinned CDK CLI the way `make synth` does
// (repository cdk.json, telemetry off, --no-notices) with no AWS credentials or configuration at all
// and every proxy pointed at a closed port, and checks that it writes the template. The app is this
// test binary in app mode (see TestMain), i.e. main's own code path.
func TestCDKCLI_SynthWorksOfflineWithoutCredentials(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("the CDK CLI is not installed at %s: run `make setup`", cdk)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home, out := t.TempDir(), t.TempDir()

	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if strings.HasPrefix(upper, "AWS_") || strings.HasPrefix(upper, "CDK_") || strings.HasSuffix(upper, "_PROXY") || upper == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	closed := "http://127.0.0.1:9"
	env = append(env,
		"HOME="+home,
		"AWS_CONFIG_FILE="+filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"CDK_DISABLE_CLI_TELEMETRY=true",
		"HTTP_PROXY="+closed, "HTTPS_PROXY="+closed, "http_proxy="+closed, "https_proxy="+closed,
		appModeEnv+"=1",
	)
	cmd := exec.Command(cdk, "synth", "--no-notices", "--quiet",
		"--app", "'"+self+"'",
		"-o", out,
		"-c", "livechatClientId="+testClientID,
		"-c", "assetDir="+assetDir,
	)
	cmd.Dir = root
	cmd.Env = env
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start cdk synth: %v", err)
	}
	// The in-process synthesis to compare with runs while the CLI works: both take seconds.
	want := len(defaultStack(t).resources())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, output.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "Lcauth.template.json"))
	if err != nil {
		t.Fatalf("cdk synth wrote no template: %v\n%s", err, output.String())
	}
	var tpl struct {
		Resources map[string]any `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("template is not JSON: %v", err)
	}
	if got := len(tpl.Resources); got != want {
		t.Errorf("CLI template has %d resources, the in-process synthesis %d", got, want)
	}
	for _, secret := range []string{secretSentinel, sealingSentinel} {
		if strings.Contains(string(raw), secret) {
			t.Error("CLI template contains a secret value from the environment")
		}
	}
	if _, err := os.Stat(filepath.Join(out, "AwsSolutions--Lcauth-NagReport.csv")); err != nil {
		t.Errorf("cdk-nag did not run in the CLI synthesis: %v", err)
	}
}
