package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/store"
)

// runKeys manages API keys: `keys create --service --name N | --installation ID [--name N]`,
// `keys list [--installation ID]`, `keys revoke ID`. It reads the same configuration as
// `lcauth installations` (table and sealing key, AWS or local). A created key is printed once, alone, on stdout; everything
// else goes to stderr, so `KEY=$(lcauth keys create ...)` captures exactly the key.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, "usage: lcauth keys create --service --name NAME")
		fmt.Fprintln(stderr, "       lcauth keys create --installation ID [--name NAME]")
		fmt.Fprintln(stderr, "       lcauth keys list [--installation ID]")
		fmt.Fprintln(stderr, "       lcauth keys revoke KEY_ID")
		fmt.Fprintln(stderr, "A service key (lcs_...) reaches every installation and lists them: the most powerful credential; keep it in your backend's secret store.")
	}
	if len(args) == 0 {
		usage()
		return errors.New("missing subcommand")
	}
	fs := newFlags("lcauth keys "+args[0], stderr)
	fs.Usage = usage
	service := fs.Bool("service", false, "create a service key")
	installation := fs.String("installation", "", "the installation id")
	name := fs.String("name", "", "a name for the key (who uses it)")
	stateDir := fs.String("state", ".lcauth", "folder of the sealing key `lcauth dev` keeps, used when "+config.EnvSealingKey+" and "+config.EnvKMSKeyID+" are unset")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var check error
	switch args[0] {
	case "create":
		switch {
		case *service == (*installation != ""):
			check = errors.New("create needs exactly one of --service and --installation ID")
		case *service && *name == "":
			check = errors.New("a service key needs --name (who uses it), so it can be recognized and revoked later")
		case fs.NArg() > 0:
			check = fmt.Errorf("unexpected arguments: %v", fs.Args())
		}
	case "list":
		if *service || *name != "" || fs.NArg() > 0 {
			check = errors.New("list takes only --installation ID")
		}
	case "revoke":
		if fs.NArg() != 1 || *service || *installation != "" || *name != "" {
			check = errors.New("revoke takes exactly one key id (see lcauth keys list)")
		}
	default:
		check = fmt.Errorf("unknown subcommand %q", args[0])
	}
	if check != nil {
		usage()
		return check
	}
	st, err := keysStore(ctx, getenv, *stateDir, stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		return createKey(ctx, st, *service, *installation, *name, stdout, stderr)
	case "list":
		return listKeys(ctx, st, *installation, stdout)
	default:
		if err := st.RevokeKey(ctx, fs.Arg(0)); err != nil {
			return keysError(err)
		}
		fmt.Fprintf(stderr, "revoked %s; requests with it are refused from now on\n", fs.Arg(0))
		return nil
	}
}

// keysStore is the store of the operator commands' App (the same configuration as
// `lcauth installations`).
func keysStore(ctx context.Context, getenv func(string) string, stateDir string, stderr io.Writer) (*store.Store, error) {
	a, err := operatorApp(ctx, getenv, stateDir, stderr)
	if err != nil {
		return nil, err
	}
	return a.Store(), nil
}

func createKey(ctx context.Context, st *store.Store, service bool, installation, name string, stdout, stderr io.Writer) error {
	var (
		k   store.Key
		key string
		err error
	)
	if service {
		k, key, err = st.CreateServiceKey(ctx, name)
	} else {
		k, key, err = st.CreateInstallationKey(ctx, installation, name)
	}
	if err != nil {
		return keysError(err)
	}
	fmt.Fprintf(stderr, "created %s key %s (%q); it is shown once, below on stdout:\n", k.Kind, k.ID, k.Name)
	fmt.Fprintln(stdout, key)
	return nil
}

func listKeys(ctx context.Context, st *store.Store, installation string, stdout io.Writer) error {
	keys, err := st.ListKeys(ctx, installation)
	if err != nil {
		return keysError(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tINSTALLATION\tCREATED\tLAST USED")
	for _, k := range keys {
		inst := k.InstallationID
		if inst == "" {
			inst = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Kind, orDash(k.Name), inst, stamp(k.CreatedAt), stamp(k.LastUsedAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keysError turns the store's errors into sentences for an operator.
func keysError(err error) error {
	switch {
	case errors.Is(err, store.ErrKeyNotFound):
		return errors.New("no such key (see lcauth keys list)")
	case errors.Is(err, store.ErrNotFound):
		return errors.New("no such installation")
	case errors.Is(err, store.ErrUninstalled):
		return errors.New("the installation is uninstalled; it gets a key again when the app is installed again")
	case errors.Is(err, store.ErrTooManyKeys):
		return fmt.Errorf("already %d keys; revoke one first", store.MaxKeysPerHolder)
	}
	return err
}
