//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"lcauth/internal/proc"
)

// LambdaBuildFlags are the `go build` flags of the Makefile's Lambda rule (build/%/bootstrap), so
// that what the tests run and measure is what `make build` ships. TestBuildFlagsMatchMakefile keeps
// the two in step.
var LambdaBuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid="}

// RIEPackage is the Runtime Interface Emulator's main package, a tool in go.mod.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// RepoRoot returns the directory holding go.mod, searching upwards from the working directory.
func RepoRoot() (string, error) { return proc.RepoRoot() }

// BuildLambdas compiles Lambda main packages (import paths or paths relative to root, such as
// "./functions/install") for linux and the host architecture with LambdaBuildFlags, static
// (CGO_ENABLED=0), in one `go build` so the packages compile in parallel. Each binary is written to
// dir/<last path element>; the map returned is keyed by that name.
func BuildLambdas(ctx context.Context, root, dir string, pkgs ...string) (map[string]string, error) {
	args := append([]string{"build"}, LambdaBuildFlags...)
	return build(ctx, root, dir, args, pkgs)
}

// BuildTools compiles host programs the tests run (the emulator, cmd/lcauth) into dir, static and
// trimmed like the Lambdas but without the Lambda build tag.
func BuildTools(ctx context.Context, root, dir string, pkgs ...string) (map[string]string, error) {
	return build(ctx, root, dir, []string{"build", "-trimpath"}, pkgs)
}

func build(ctx context.Context, root, dir string, args, pkgs []string) (map[string]string, error) {
	if len(pkgs) == 0 {
		return nil, errors.New("e2e: build: no packages")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("e2e: build: %w", err)
	}
	// A trailing separator makes -o a directory even for a single package.
	args = append(args, "-o", dir+string(filepath.Separator))
	args = append(args, pkgs...)
	// `go test` puts GOROOT/bin first on PATH, so "go" is the toolchain running the tests.
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("e2e: go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := filepath.Base(p)
		bin := filepath.Join(dir, name)
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("e2e: build %s: no binary at %s: %w", p, bin, err)
		}
		bins[name] = bin
	}
	return bins, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
