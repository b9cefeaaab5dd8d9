// Command lcauth runs lcauth outside Lambda: `serve` the HTTP handlers, one `refresh` pass, or `dev`,
// the whole product on one machine. All subcommands read the same environment as the Lambdas
// (see internal/config).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"lcauth/internal/app"
	"lcauth/internal/config"
)

// command is one subcommand. It returns when ctx is cancelled (Ctrl-C, SIGTERM) or its work is done.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":         {"serve every route (the Lambda functions' handlers) on LCAUTH_ADDR", runServe},
		"refresh":       {"run one refresh pass and print a JSON summary", runRefresh},
		"dev":           {"run everything locally (dynalite, LiveChat simulator if no credentials, server, refresh timer)", runDev},
		"installations": {"list, show, uninstall or delete installations (lcauth installations help)", runInstallations},
		"keys":          {"create, list and revoke API keys (service keys and installation keys)", runKeys},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lcauth: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := cmd.run(ctx, args[1:], getenv, stdout, stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "lcauth %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: lcauth <command> [flags]")
	for _, name := range []string{"serve", "refresh", "dev", "installations", "keys"} {
		fmt.Fprintf(w, "  %-13s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w, "Configuration is read from the environment; see docs/configuration.md.")
}

// newFlags is a command's flag set: errors go to stderr, and so does the help: the usage lines, then
// the flags' defaults.
func newFlags(name string, stderr io.Writer, usage ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		for _, l := range usage {
			fmt.Fprintln(stderr, l)
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses args into fs and refuses positional arguments (after printing the usage). help
// reports -h: the usage is printed and the command has nothing else to do, which is no error.
func parseArgs(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return false, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return false, nil
}

// newCommandApp loads the configuration of functions from getenv and builds the App the way a
// command runs it: JSON logs on stderr at LCAUTH_LOG_LEVEL and owner as its lease-owner prefix.
func newCommandApp(ctx context.Context, getenv func(string) string, stderr io.Writer, owner string, functions ...string) (*app.App, error) {
	cfg, err := config.LoadFor(getenv, functions...)
	if err != nil {
		return nil, err
	}
	return app.New(ctx, cfg, app.WithLogger(app.NewJSONLogger(stderr, cfg.LogLevel)), app.WithOwnerPrefix(owner))
}
