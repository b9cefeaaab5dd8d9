package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CfnLintInstall is how to get cfn-lint where it is missing (the Makefile says the same).
const CfnLintInstall = "pip install --user 'cfn-lint>=1.20,<2' (or pipx install cfn-lint)"

// cfnLintIgnored are the cfn-lint rules this project accepts, each with why (docs/deploy.md lists them).
var cfnLintIgnored = map[string]string{
	"W3005": "CDK writes DependsOn on a function's role and default policy although the function already references the role " +
		"(it must wait for the policy too); the redundant half is harmless and not ours to remove.",
}

// TestStack_CfnLintFindsNothing runs cfn-lint over both synthesized templates. A machine without it
// fails with the install command instead of skipping silently.
func TestStack_CfnLintFindsNothing(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not installed; install it with %s", CfnLintInstall)
	}
	dir := t.TempDir()
	if d := os.Getenv("LCAUTH_KEEP_TEMPLATES"); d != "" {
		dir = d
	}
	var files []string
	for _, s := range []*synthesized{defaultStack(t), customStack(t)} {
		b, err := json.MarshalIndent(s.doc, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, *s.l.Stack.StackName()+".template.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	args := []string{"--format", "parseable"}
	for rule := range cfnLintIgnored {
		args = append(args, "--ignore-checks="+rule)
	}
	out, err := exec.Command(bin, append(args, files...)...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("cfn-lint (%v):\n%s", err, out)
	}
}
