package main

import (
	"os"
	"path/filepath"
	"testing"

	"lcauth/internal/config"
)

func TestDevStateKey_GeneratedOnceIntoTheStateFolderUnlessSet(t *testing.T) {
	dir := t.TempDir()
	none := func(string) string { return "" }
	d := &devRun{getenv: none, env: map[string]string{}}
	if err := d.stateKey(dir); err != nil {
		t.Fatal(err)
	}
	first := d.env[config.EnvStateKey]
	if first == "" {
		t.Fatal("no state key set")
	}
	if _, err := os.Stat(filepath.Join(dir, stateKeyFile)); err != nil {
		t.Fatalf("state key file: %v", err)
	}
	cfg, err := config.Load(func(k string) string {
		if k == config.EnvClientSecret {
			return "x"
		}
		if k == config.EnvClientID {
			return "id"
		}
		return d.env[k]
	})
	if err != nil || len(cfg.StateKey) != config.SealingKeySize {
		t.Fatalf("generated key does not load: %v", err)
	}
	again := &devRun{getenv: none, env: map[string]string{}}
	if err := again.stateKey(dir); err != nil || again.env[config.EnvStateKey] != first {
		t.Fatalf("a restart did not reuse the state key (err %v)", err)
	}
	set := &devRun{getenv: lookup(map[string]string{config.EnvStateKeyARN: "arn:aws:secretsmanager:us-east-1:1:secret:s"}), env: map[string]string{}}
	if err := set.stateKey(t.TempDir()); err != nil || set.env[config.EnvStateKey] != "" {
		t.Fatalf("a configured state key was overridden (err %v)", err)
	}
}
