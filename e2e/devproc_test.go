//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lcauth/internal/testrig/harness"
)

// devProcess is `lcauth dev` running as a child process, as `make dev` runs it.
type devProcess struct {
	cmd        *exec.Cmd
	installURL string // from the banner's "open ..." line
	baseURL    string // scheme://host:port of the server
	simURL     string // the LiveChat simulator, from the banner
	dynamoURL  string // dynalite, from the banner
	exited     chan struct{}
	waitErr    error

	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
}

var (
	bannerInstall  = regexp.MustCompile(`open (http://\S+/install)`)
	bannerSim      = regexp.MustCompile(`simulator at (http://\S+)`)
	bannerDynalite = regexp.MustCompile(`dynalite at (http://\S+)`)
)

// devBannerTimeout bounds how long lcauth dev may take to start (dynalite is a Node process; on a
// loaded two-core CI machine it can take several seconds).
const devBannerTimeout = 90 * time.Second

// devOptions adjusts startDev.
type devOptions struct {
	// Args are extra arguments after `lcauth dev -state <StateDir>`.
	Args []string
	// Env adds variables (NAME=value).
	Env []string
	// StateDir is the -state folder; default a fresh one, so a sealing key is generated.
	StateDir string
}

// startDev starts `lcauth dev` from the repository root on a free loopback port with no LiveChat
// credentials (so the simulator runs), and waits for its banner. Nothing of the test's environment
// reaches it but PATH and HOME. The process is stopped (SIGKILL to everything it started) when the
// test ends, if the test did not stop it.
func startDev(t *testing.T, opts devOptions) *devProcess {
	t.Helper()
	_, lcauth := tools(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !fileExists(root + "/node_modules/.bin/dynalite") {
		t.Fatalf("dynalite is missing from %s/node_modules: run `make setup`", root)
	}
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	cmd := exec.Command(lcauth, append([]string{"dev", "-state", opts.StateDir}, opts.Args...)...)
	cmd.Dir = root
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"LCAUTH_ADDR=127.0.0.1:0",
	}, opts.Env...)
	d := &devProcess{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout = writerFunc(func(p []byte) (int, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.stdout.Write(p)
	})
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.stderr.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lcauth dev: %v", err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.kill(t) })

	deadline := time.After(devBannerTimeout)
	for {
		out := d.out()
		if m := bannerInstall.FindStringSubmatch(out); m != nil {
			d.installURL = m[1]
			if m := bannerSim.FindStringSubmatch(out); m != nil {
				d.simURL = m[1]
			}
			if m := bannerDynalite.FindStringSubmatch(out); m != nil {
				d.dynamoURL = m[1]
			}
			break
		}
		select {
		case <-d.exited:
			t.Fatalf("lcauth dev exited (%v) before printing its banner\nstdout:\n%s\nstderr:\n%s", d.waitErr, d.out(), d.errOut())
		case <-deadline:
			t.Fatalf("lcauth dev printed no install URL within %s\nstdout:\n%s\nstderr:\n%s", devBannerTimeout, d.out(), d.errOut())
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.baseURL = strings.TrimSuffix(d.installURL, "/install")
	t.Logf("lcauth dev (pid %d) at %s", cmd.Process.Pid, d.baseURL)
	return d
}

// site is the running lcauth dev as the shared harness reaches it (consent over the simulator's page).
func (d *devProcess) site(t *testing.T) *harness.Site { return &harness.Site{T: t, URL: d.baseURL} }

func (d *devProcess) out() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stdout.String()
}

func (d *devProcess) errOut() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// stop sends sig to lcauth dev (only to it: stopping what it started is its job) and waits for it.
func (d *devProcess) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-d.exited:
		return d.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("lcauth dev did not exit within %s of %v", timeout, sig)
	}
}

// kill makes sure nothing of this lcauth dev survives the test, whatever happened.
func (d *devProcess) kill(t *testing.T) {
	pids := append([]int{d.cmd.Process.Pid}, descendants(d.cmd.Process.Pid)...)
	for _, pid := range pids {
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		t.Errorf("lcauth dev (pid %d) did not exit after SIGKILL", d.cmd.Process.Pid)
	}
	if t.Failed() {
		t.Logf("lcauth dev stdout:\n%s\nstderr:\n%s", d.out(), d.errOut())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
