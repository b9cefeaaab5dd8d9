//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/testrig/dynalitetest"
)

// buildDir holds the binaries built for this test run; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lcauth-e2e-build-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	dynalitetest.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// functionNames are the Lambda functions the stack deploys, in flow order.
var functionNames = []string{config.FunctionInstall, config.FunctionCallback, config.FunctionChats, config.FunctionRefresh, config.FunctionWebhook, config.FunctionInstallations}

// helloName is the hello-world Lambda under testdata.
const helloName = "hello"

type onceBuild struct {
	once sync.Once
	bins map[string]string
	err  error
}

var lambdaBuild, toolBuild onceBuild

// get runs build once per test run and returns the binaries it built by name; what names them in
// the failure.
func (b *onceBuild) get(tb testing.TB, what string, build func(ctx context.Context, root string) (map[string]string, error)) map[string]string {
	tb.Helper()
	b.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		b.bins, b.err = build(ctx, root)
	})
	if b.err != nil {
		tb.Fatalf("build %s: %v", what, b.err)
	}
	return b.bins
}

// lambdas builds the functions and the hello-world Lambda once per test run, the way `make
// build` does but for the host architecture, and returns their paths by name.
func lambdas(tb testing.TB) map[string]string {
	tb.Helper()
	return lambdaBuild.get(tb, "the Lambda functions", func(ctx context.Context, root string) (map[string]string, error) {
		pkgs := []string{"./e2e/testdata/" + helloName}
		for _, fn := range functionNames {
			pkgs = append(pkgs, "./functions/"+fn)
		}
		return BuildLambdas(ctx, root, filepath.Join(buildDir, "lambda"), pkgs...)
	})
}

// tools builds the Runtime Interface Emulator and cmd/lcauth once per test run.
func tools(tb testing.TB) (rie, lcauth string) {
	tb.Helper()
	bins := toolBuild.get(tb, "the emulator and lcauth", func(ctx context.Context, root string) (map[string]string, error) {
		return BuildTools(ctx, root, filepath.Join(buildDir, "tools"), RIEPackage, "./cmd/lcauth")
	})
	return bins["aws-lambda-rie"], bins["lcauth"]
}
