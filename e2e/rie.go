//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"lcauth/internal/proc"
)

// InvokePath is the emulator's invoke endpoint (the Lambda Invoke API path; the function is always
// named "function").
const InvokePath = "/2015-03-31/functions/function/invocations"

// emulatorStartTimeout bounds how long StartEmulator waits for the emulator to listen.
const emulatorStartTimeout = 20 * time.Second

// EmulatorOptions configures StartEmulator.
type EmulatorOptions struct {
	// RIE is the path of the aws-lambda-rie binary (BuildTools(..., RIEPackage)).
	RIE string
	// Binary is the Lambda's bootstrap executable.
	Binary string
	// Env is the function's environment. The emulator hands its own environment to the function, so
	// this is all the function sees, plus AWS_LAMBDA_RUNTIME_API and the AWS_LAMBDA_* defaults the
	// emulator adds. Nothing of the test process's environment leaks in except PATH.
	Env map[string]string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT); default 30s.
	Timeout time.Duration
	// Log receives the emulator's and the function's output; nil discards it. The last few KiB are
	// quoted in errors either way.
	Log io.Writer
	// LogLevel is the emulator's own log level (default "warn"); at "info" it logs the init phase's
	// duration (InitDuration).
	LogLevel string
}

// Emulator is one Lambda function running under the AWS Lambda Runtime Interface Emulator. The
// emulator starts the function's process on the first Invoke (a cold start) and reuses it after.
// It serves one invocation at a time and fails on overlapping ones, so Invoke serializes callers.
type Emulator struct {
	invokeURL string
	binary    string
	cmd       *exec.Cmd
	exited    chan struct{}
	waitErr   error
	out       *proc.TailBuffer
	client    *http.Client

	mu        sync.Mutex // one invocation at a time
	closeOnce sync.Once
	closeErr  error
}

// StartEmulator runs opts.Binary under the emulator on two free 127.0.0.1 ports (its invoke API
// and the Runtime API it offers the function) and returns once the invoke API accepts connections.
// The function process itself starts on the first Invoke. The caller must Close the Emulator.
func StartEmulator(ctx context.Context, opts EmulatorOptions) (*Emulator, error) {
	if !fileExists(opts.RIE) {
		return nil, fmt.Errorf("e2e: emulator binary %q not found", opts.RIE)
	}
	if !fileExists(opts.Binary) {
		return nil, fmt.Errorf("e2e: Lambda binary %q not found", opts.Binary)
	}
	bin, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// A free port can be taken by someone else before the emulator binds it; retry with new ones.
	return proc.Start(ctx, func() (*Emulator, error) { return startEmulatorOnce(ctx, opts, bin, timeout) })
}

func startEmulatorOnce(ctx context.Context, opts EmulatorOptions, bin string, timeout time.Duration) (*Emulator, error) {
	ports, err := proc.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("e2e: emulator ports: %w", err)
	}
	invokeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	runtimeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))

	env := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(int(timeout.Seconds())),
	}
	maps.Copy(env, opts.Env)
	out := &proc.TailBuffer{Max: 16 << 10, W: opts.Log}
	// Not CommandContext: ctx bounds the startup only.
	level := opts.LogLevel
	if level == "" {
		level = "warn"
	}
	cmd := exec.Command(opts.RIE,
		"--log-level", level,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bin)
	cmd.Env = envList(env)
	cmd.Dir = filepath.Dir(bin)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, and SIGTERM (which the emulator handles by stopping the function) if
	// the test process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("e2e: start emulator: %w", err)
	}
	e := &Emulator{
		invokeURL: "http://" + invokeAddr + InvokePath,
		binary:    bin,
		cmd:       cmd,
		exited:    make(chan struct{}),
		out:       out,
		client:    &http.Client{Timeout: timeout + 10*time.Second},
	}
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	if err := e.waitListening(ctx, invokeAddr); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Emulator) waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, emulatorStartTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("e2e: emulator exited during startup (%v): %s", e.waitErr, e.out.String())
		case <-ctx.Done():
			return fmt.Errorf("e2e: emulator not listening on %s: %w: %s", addr, ctx.Err(), e.out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// FunctionError is an invocation the function answered with an error (a handler error or a crash),
// as Lambda reports it: {"errorMessage": ..., "errorType": ...}.
type FunctionError struct {
	Type, Message string
	// Output is the tail of the emulator's and function's output, for the test log.
	Output string
}

// Error names the error type and message.
func (e *FunctionError) Error() string {
	return fmt.Sprintf("e2e: function error %s: %s", e.Type, e.Message)
}

// Invoke sends one event to the function and returns its response payload. Invocations are
// serialized. A function error is a *FunctionError; an emulator failure (the function crashed during
// init, timed out) is another error quoting the output.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.exited:
		return nil, fmt.Errorf("e2e: emulator has exited (%v): %s", e.waitErr, e.out.String())
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.invokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("e2e: invoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("e2e: invoke: %w: %s", err, e.out.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("e2e: invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("e2e: invoke: emulator answered %s: %q; output: %s", resp.Status, body, e.out.String())
	}
	var fe struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" {
		return nil, &FunctionError{Type: fe.Type, Message: fe.Message, Output: e.out.String()}
	}
	return body, nil
}

// initReport is the emulator's line (at log level info) for the end of a function's init phase: from
// starting the function's process until it asked for its first event.
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// InitDuration returns the init phase of the function's process (process start until its first
// request for an event), as the emulator logged it; false when it did not (LogLevel not "info", or
// the function has not started).
func (e *Emulator) InitDuration() (time.Duration, bool) {
	m := initReport.FindStringSubmatch(e.Output())
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// Output returns the tail of the emulator's and the function's output.
func (e *Emulator) Output() string { return e.out.String() }

// Close stops the emulator and the function it started, and waits for both. The emulator stops its
// function on SIGTERM; whatever survives (the function runs in a process group of its own) is killed.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		pids := descendants(e.cmd.Process.Pid)
		select {
		case <-e.exited:
		default:
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-e.exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
				<-e.exited
			}
		}
		for _, pid := range pids {
			// Only our function's process: a pid reused by anything else is left alone.
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == e.binary {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, pid := range pids {
			for processAlive(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if processAlive(pid) {
				e.closeErr = fmt.Errorf("e2e: process %d started by the emulator is still running", pid)
			}
		}
	})
	return e.closeErr
}

// Pids returns the ids of the processes the emulator started (the function, once invoked).
func (e *Emulator) Pids() []int { return descendants(e.cmd.Process.Pid) }

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}
