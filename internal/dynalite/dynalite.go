package dynalite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"lcauth/internal/proc"
)

// ErrNotInstalled is returned by Start when node_modules/.bin/dynalite (or node itself) is missing;
// `make setup` installs it.
var ErrNotInstalled = errors.New("dynalite: not installed: run `make setup`")

// Region is the AWS region the clients built by this package use; dynalite ignores it.
const Region = "us-east-1"

// startTimeout bounds how long Start waits for dynalite to answer. Node starts in well under a second on
// an idle machine; a loaded CI box with two cores can take several.
const startTimeout = 30 * time.Second

// Options configures Start.
type Options struct {
	// Dir is the directory dynalite keeps its LevelDB data in; "" keeps everything in memory.
	Dir string
	// RepoRoot is the directory holding node_modules; "" searches upwards from the working directory
	// for go.mod.
	RepoRoot string
	// Log receives dynalite's own stdout and stderr; nil discards them (the last few KiB are still
	// quoted in startup errors).
	Log io.Writer
}

// Server is a running dynalite child process.
type Server struct {
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has been reaped
	waitErr  error         // valid after exited is closed
	out      *proc.TailBuffer

	closeOnce sync.Once
	closeErr  error
}

// Start runs dynalite on a free 127.0.0.1 port and returns once it answers DynamoDB requests. The
// caller must Close it. ctx bounds the startup only, not the server's lifetime.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynalite: start: %w", err)
	}
	bin, err := binary(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("dynalite: data directory: %w", err)
		}
	}
	// dynalite cannot listen on port 0 (it treats 0 as "use the default 4567"), so a free port is picked
	// here and handed over. Another process may grab it in between; a few attempts make that harmless.
	return proc.Start(ctx, func() (*Server, error) { return startOnce(ctx, bin, opts) })
}

func startOnce(ctx context.Context, bin string, opts Options) (*Server, error) {
	ports, err := proc.FreePorts(1)
	if err != nil {
		return nil, fmt.Errorf("dynalite: pick a port: %w", err)
	}
	port := ports[0]
	args := []string{
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		// Tables and indexes become ACTIVE at once: CREATING delays only slow tests and local mode.
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
	}
	if opts.Dir != "" {
		args = append(args, "--path", opts.Dir)
	}
	out := &proc.TailBuffer{Max: 8 << 10, W: opts.Log}
	// Not exec.CommandContext: ctx bounds the startup, and the server must outlive it.
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = os.Environ()
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
		}
		return nil, fmt.Errorf("dynalite: start %s: %w", bin, err)
	}
	s := &Server{
		endpoint: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:      cmd,
		exited:   make(chan struct{}),
		out:      out,
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls ListTables until dynalite answers, the process dies, or time runs out.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	db := NewClient(s.endpoint)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, time.Second)
		_, err := db.ListTables(callCtx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}, func(o *dynamodb.Options) {
			o.RetryMaxAttempts = 1
		})
		callCancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dynalite: exited during startup (%v); output: %q (run `make setup` if it is not installed)", s.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("dynalite: not answering on %s after %s: %w; output: %q", s.endpoint, startTimeout, err, s.out.String())
		case <-tick.C:
		}
	}
}

// Endpoint is the server's base URL, e.g. "http://127.0.0.1:38211", for DYNAMODB_ENDPOINT.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a DynamoDB client for the server. ctx is accepted for symmetry with the AWS config
// loaders; the client reads no environment or shared configuration.
func (s *Server) Client(ctx context.Context) *dynamodb.Client {
	_ = ctx
	return NewClient(s.endpoint)
}

// Close stops the server (its whole process group) and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		terminate(s.cmd)
		select {
		case <-s.exited:
		case <-time.After(3 * time.Second):
			kill(s.cmd)
			select {
			case <-s.exited:
			case <-time.After(3 * time.Second):
				s.closeErr = fmt.Errorf("dynalite: pid %d did not exit", s.cmd.Process.Pid)
			}
		}
	})
	return s.closeErr
}

// NewClient returns a DynamoDB client for a DynamoDB-compatible endpoint such as dynalite, with static
// fake credentials and region us-east-1; it reads no environment or shared configuration.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("lcauth-local", "lcauth-local", ""),
	})
}

// binary finds node_modules/.bin/dynalite under the repository root.
func binary(root string) (string, error) {
	if root == "" {
		var err error
		if root, err = proc.RepoRoot(); err != nil {
			return "", fmt.Errorf("dynalite: %w (set Options.RepoRoot)", err)
		}
	}
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%w: %s is missing", ErrNotInstalled, bin)
	}
	return bin, nil
}
