package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

func runKeysWith(env map[string]string, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runKeys(context.Background(), args, lookup(env), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestKeysCommand_CreateListRevokeServiceAndInstallationKeys(t *testing.T) {
	t.Parallel()
	s := harness.New(t, harness.Options{})
	env := s.ProcessEnv()
	ctx := context.Background()

	out, errOut, err := runKeysWith(env, "create", "--service", "--name", "analytics")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	key := strings.TrimSpace(out)
	if out != key+"\n" || !strings.HasPrefix(key, store.ServiceKeyPrefix) || strings.Contains(errOut, key) {
		t.Fatalf("stdout %q must hold exactly the key (and stderr never)", out)
	}
	sk, err := s.Store.AuthenticateService(ctx, key)
	if err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}

	inst, _, _ := s.InstallDirect(livechatsim.Account{})
	out, errOut, err = runKeysWith(env, "create", "--installation", inst.ID, "--name", "ci")
	if err != nil {
		t.Fatalf("create --installation: %v\n%s", err, errOut)
	}
	ikey := strings.TrimSpace(out)
	if got, err := s.Store.Authenticate(ctx, ikey); err != nil || got.ID != inst.ID {
		t.Fatalf("installation key: %v", err)
	}

	out, _, err = runKeysWith(env, "list")
	if err != nil || !strings.Contains(out, sk.ID) || !strings.Contains(out, "analytics") || strings.Contains(out, key) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = runKeysWith(env, "list", "--installation", inst.ID)
	if err != nil || !strings.Contains(out, "ci") || strings.Contains(out, ikey) || strings.Count(out, inst.ID+".") != 2 {
		t.Fatalf("list --installation: %v\n%s", err, out)
	}

	if _, errOut, err = runKeysWith(env, "revoke", sk.ID); err != nil {
		t.Fatalf("revoke: %v\n%s", err, errOut)
	}
	if _, err := s.Store.AuthenticateService(ctx, key); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("revoked key: err = %v", err)
	}
	if _, _, err = runKeysWith(env, "revoke", sk.ID); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Fatalf("second revoke: %v", err)
	}
}

func TestKeysCommand_RefusesBadArguments(t *testing.T) {
	t.Parallel()
	env := map[string]string{} // never reached: arguments are checked first
	for _, args := range [][]string{
		{}, {"create"}, {"create", "--service"}, {"create", "--service", "--name", "x", "--installation", "abc"},
		{"list", "--service"}, {"revoke"}, {"revoke", "a", "b"}, {"rotate"},
	} {
		if _, _, err := runKeysWith(env, args...); err == nil {
			t.Errorf("lcauth keys %v: no error", args)
		}
	}
}
