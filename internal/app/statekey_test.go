package app_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/testrig/smfake"
)

const stateKeyARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lcauth-state-key"

// The install function signs the state with the state key from Secrets Manager and needs no client
// secret; the callback verifies it with the same key.
func TestNew_StateKeyFromSecretsManagerInstallWithoutClientSecret(t *testing.T) {
	s := newStack(t)
	fake := smfake.New()
	fake.Set(stateKeyARN, "Qm9yaW5nUmFuZG9tU3RhdGVLZXlGcm9tVGhlU3RhY2s")
	sm := smfake.Start(t, fake)
	s.Env[config.EnvStateKeyARN] = stateKeyARN

	installEnv := map[string]string{}
	for _, v := range config.ForFunction(config.FunctionInstall) {
		if val, ok := s.Env[v.Name]; ok {
			installEnv[v.Name] = val
		}
	}
	if _, ok := installEnv[config.EnvClientSecret]; ok {
		t.Fatal("the install function's variables include the client secret")
	}
	if _, ok := installEnv[config.EnvClientSecretARN]; ok {
		t.Fatal("the install function's variables include the client secret ARN")
	}
	icfg, err := config.LoadFor(func(k string) string { return installEnv[k] }, config.FunctionInstall)
	if err != nil {
		t.Fatalf("install function config without a client secret: %v", err)
	}
	install, err := app.New(t.Context(), icfg, app.WithClock(s.Sim.Now), app.WithSecretsManager(sm), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := app.New(t.Context(), s.load(t, config.FunctionCallback, config.FunctionChats),
		app.WithClock(s.Sim.Now), app.WithSecretsManager(sm), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/install", install.InstallHandler())
	mux.Handle("/", rest.Handler())
	s.SetHandler(mux)
	if got := s.flow(t); got != http.StatusOK {
		t.Fatalf("/chats: %d, want 200", got)
	}

	// A callback whose server derives its state keys from anything else refuses the state.
	s.Env[config.EnvStateKey] = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	delete(s.Env, config.EnvStateKeyARN)
	other, err := app.New(t.Context(), s.load(t, config.FunctionCallback, config.FunctionChats),
		app.WithClock(s.Sim.Now), app.WithLogger(app.NewJSONLogger(io.Discard, 0)))
	if err != nil {
		t.Fatal(err)
	}
	mux = http.NewServeMux()
	mux.Handle("/install", install.InstallHandler())
	mux.Handle("/", other.Handler())
	s.SetHandler(mux)
	b := s.Browser()
	b.Accept = "application/json"
	r := b.Get(s.Consent(s.StartInstall(b), s.Account.AccountID))
	r.JSONError(t, http.StatusBadRequest, "invalid_state")
}

func TestConfig_StateKeyMustBe32BytesAndNotBoth(t *testing.T) {
	s := newStack(t)
	s.Env[config.EnvStateKey] = "c2hvcnQ="
	if _, err := config.Load(func(k string) string { return s.Env[k] }); err == nil || !strings.Contains(err.Error(), config.EnvStateKey) || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("short state key: err = %v", err)
	}
	s.Env[config.EnvStateKey] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	s.Env[config.EnvStateKeyARN] = stateKeyARN
	if _, err := config.Load(func(k string) string { return s.Env[k] }); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both set: err = %v", err)
	}
}
