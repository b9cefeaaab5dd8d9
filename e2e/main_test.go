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
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// functionNames are the Lambda functions the stack deploys, in flow order.
var functionNames = []string{config.FunctionInstall, config.FunctionCallback, config.FunctionChats, config.FunctionRefresh}

// helloName is the hello-world Lambda under testdata.
const helloName = "hello"

type onceBuild struct {
	once sync.Once
	bins map[string]string
	err  error
}

var lambdaBuild, toolBuild onceBuild

// lambdas builds the four functions and the hello-world Lambda once per test run, the way `make
// build` does but for the host architecture, and returns their paths by name.
func lambdas(tb testing.TB) map[string]string {
	tb.Helper()
	lambdaBuild.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			lambdaBuild.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		pkgs := []string{"./e2e/testdata/" + helloName}
		for _, fn := range functionNames {
			pkgs = append(pkgs, "./functions/"+fn)
		}
		lambdaBuild.bins, lambdaBuild.err = BuildLambdas(ctx, root, filepath.Join(buildDir, "lambda"), pkgs...)
	})
	if lambdaBuild.err != nil {
		tb.Fatalf("build the Lambda functions: %v", lambdaBuild.err)
	}
	return lambdaBuild.bins
}

// tools builds the Runtime Interface Emulator and cmd/lcauth once per test run.
func tools(tb testing.TB) (rie, lcauth string) {
	tb.Helper()
	toolBuild.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			toolBuild.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		toolBuild.bins, toolBuild.err = BuildTools(ctx, root, filepath.Join(buildDir, "tools"), RIEPackage, "./cmd/lcauth")
	})
	if toolBuild.err != nil {
		tb.Fatalf("build the emulator and lcauth: %v", toolBuild.err)
	}
	return toolBuild.bins["aws-lambda-rie"], toolBuild.bins["lcauth"]
}
