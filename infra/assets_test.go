package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lcauth/internal/config"
)

// TestBuild_SameCodeAtAnotherCommitGivesTheSameBootstrap builds one function with the Makefile's own
// rule in a copy of the repository, commits an unrelated change, clones that to another path and
// builds again: the bootstraps must be byte-identical, or every commit would redeploy every function
// (the asset hash is the file's hash).
func TestBuild_SameCodeAtAnotherCommitGivesTheSameBootstrap(t *testing.T) {
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for this test: %v", tool, err)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(t.TempDir(), "first")
	copyTracked(t, root, first, "go.mod", "go.sum", "Makefile", "functions", "internal")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(first, "init", "-q")
	git(first, "add", "-A")
	git(first, "commit", "-q", "-m", "one")
	a := buildBootstrap(t, first, config.FunctionInstall)

	if err := os.WriteFile(filepath.Join(first, "NOTES.md"), []byte("an unrelated change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(first, "add", "-A")
	git(first, "commit", "-q", "-m", "two")
	second := filepath.Join(t.TempDir(), "second")
	git(filepath.Dir(second), "clone", "-q", first, second)
	b := buildBootstrap(t, second, config.FunctionInstall)
	if !bytes.Equal(a, b) {
		t.Errorf("bootstraps differ between two commits of the same code (%d and %d bytes): VCS stamping or paths reach the binary", len(a), len(b))
	}
}

// buildBootstrap runs the Makefile's build rule for one function in dir and returns the binary.
func buildBootstrap(t *testing.T, dir, fn string) []byte {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "build/"+fn+"/bootstrap")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build/%s/bootstrap in %s: %v\n%s", fn, dir, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "build", fn, "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTracked copies the files git tracks under the given paths from src to dst.
func copyTracked(t *testing.T, src, dst string, paths ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"ls-files", "-z", "--"}, paths...)...)
	cmd.Dir = src
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
