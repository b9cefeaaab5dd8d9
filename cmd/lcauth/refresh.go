package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"

	"lcauth/internal/config"
)

// runRefresh runs one refresh pass with the same configuration as the refresh Lambda and prints its
// summary as JSON on stdout. Logs (and, with -metrics, the EMF metric lines) go to stderr. It fails
// when the pass counts as failed (circuit breaker, store unavailable), like the Lambda; the summary is
// printed either way.
func runRefresh(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("lcauth refresh", stderr,
		"usage: lcauth refresh [-timeout 5m] [-metrics] [-state .lcauth]",
		"Runs one refresh pass over the installations whose tokens are due and prints a JSON summary.")
	timeout := fs.Duration("timeout", 0, "give the pass this long, as a Lambda timeout would (0: no limit); what is left is reported")
	metrics := fs.Bool("metrics", false, "also write the CloudWatch EMF metric lines to stderr")
	stateDir := fs.String("state", ".lcauth", "folder of the sealing key `lcauth dev` keeps, used when "+config.EnvSealingKey+" and "+config.EnvKMSKeyID+" are unset")
	if help, err := parseArgs(fs, args); help || err != nil {
		return err
	}
	if *timeout < 0 {
		return errors.New("-timeout must not be negative")
	}

	getenv, err := withLocalSealingKey(getenv, *stateDir)
	if err != nil {
		return err
	}
	a, err := newCommandApp(ctx, getenv, stderr, "cli", config.FunctionRefresh)
	if err != nil {
		return err
	}
	var emf io.Writer
	if *metrics {
		emf = stderr
	}
	r := a.PassRefresher(emf)
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	sum, passErr := r.RunPass(ctx)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		return errors.Join(passErr, err)
	}
	return passErr
}

// withLocalSealingKey returns getenv, plus LCAUTH_SEALING_KEY from the key file `lcauth dev` keeps in
// stateDir when neither LCAUTH_SEALING_KEY nor LCAUTH_KMS_KEY_ID is set and that file exists, so that
// `lcauth refresh` started in the same folder reads the tokens dev sealed. It never creates a key: a new
// one could open nothing.
func withLocalSealingKey(getenv func(string) string, stateDir string) (func(string) string, error) {
	if getenv(config.EnvSealingKey) != "" || getenv(config.EnvKMSKeyID) != "" || stateDir == "" {
		return getenv, nil
	}
	path := filepath.Join(stateDir, sealingKeyFile)
	if _, err := os.Stat(path); err != nil {
		return getenv, nil
	}
	key, _, err := loadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	encoded := base64.StdEncoding.EncodeToString(key)
	return func(name string) string {
		if name == config.EnvSealingKey {
			return encoded
		}
		return getenv(name)
	}, nil
}
