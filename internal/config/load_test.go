package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func fullEnv() map[string]string {
	return map[string]string{
		EnvClientID:     "client-1",
		EnvRedirectURL:  "https://abc.execute-api.eu-west-1.amazonaws.com/callback",
		EnvClientSecret: "s3cr3t-value",
		EnvTable:        "lcauth",
		EnvSealingKey:   testKey,
	}
}

func TestLoad_AppliesDefaultsFromVars(t *testing.T) {
	c, err := LoadFor(env(fullEnv()), FunctionInstall, FunctionCallback, FunctionChats, FunctionRefresh)
	if err != nil {
		t.Fatalf("LoadFor: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"AccountsURL", c.AccountsURL, "https://accounts.livechat.com"},
		{"APIURL", c.APIURL, "https://api.livechatinc.com"},
		{"InstallURL", c.InstallURL, "https://abc.execute-api.eu-west-1.amazonaws.com/install"},
		{"PKCE", c.PKCE, PKCEOff},
		{"Addr", c.Addr, "127.0.0.1:8080"},
		{"SecretTTL", c.SecretTTL, 5 * time.Minute},
		{"RefreshWindow", c.RefreshWindow, time.Hour},
		{"RefreshConcurrency", c.RefreshConcurrency, 16},
		{"RefreshRate", c.RefreshRate, 0.0},
		{"RefreshInterval", c.RefreshInterval, time.Minute},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"SealingKey length", len(c.SealingKey), SealingKeySize},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoad_ReportsEveryProblemInOneError(t *testing.T) {
	m := map[string]string{
		EnvRedirectURL:       "https://x.example/callback?x=1",
		EnvPKCE:              "S512",
		EnvSecretTTL:         "forever",
		EnvRefreshConcurrent: "0",
		EnvRefreshRate:       "-1",
		EnvLogLevel:          "loud",
		EnvAddr:              "nope",
		EnvAccountsURL:       "ftp://accounts",
		EnvSealingKey:        "dG9vLXNob3J0",
		EnvKMSKeyID:          "alias/x",
	}
	_, err := LoadFor(env(m), FunctionChats)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	for _, name := range []string{EnvClientID, EnvClientSecretARN, EnvRedirectURL, EnvPKCE, EnvSecretTTL,
		EnvRefreshConcurrent, EnvRefreshRate, EnvLogLevel, EnvAddr, EnvAccountsURL, EnvSealingKey, EnvTable} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestLoad_RequirementsDependOnFunction(t *testing.T) {
	base := map[string]string{EnvClientID: "c", EnvClientSecretARN: "arn:aws:secretsmanager:eu-west-1:1:secret:x"}
	tests := []struct {
		name    string
		fns     []string
		wantErr []string
	}{
		{"plain Load needs only id and secret", nil, nil},
		{"install needs the redirect URL", []string{FunctionInstall}, []string{EnvRedirectURL}},
		{"refresh needs table and sealing", []string{FunctionRefresh}, []string{EnvTable, EnvKMSKeyID}},
		{"chats needs all three", []string{FunctionChats}, []string{EnvRedirectURL, EnvTable, EnvKMSKeyID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFor(env(base), tt.fns...)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one naming %v", tt.wantErr)
			}
			for _, name := range tt.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
		})
	}
}

func TestLoad_RejectsBothSecretSources(t *testing.T) {
	m := fullEnv()
	m[EnvClientSecretARN] = "arn:aws:secretsmanager:eu-west-1:1:secret:x"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("got %v, want an error asking to set only one", err)
	}
}

func TestLoad_NeverEchoesSecretValues(t *testing.T) {
	m := fullEnv()
	m[EnvSealingKey] = "super-secret-but-not-base64!!"
	_, err := Load(env(m))
	if err == nil {
		t.Fatal("want an error for the bad sealing key")
	}
	if strings.Contains(err.Error(), "super-secret") {
		t.Fatalf("error echoes the sealing key: %v", err)
	}
	c, err := Load(env(fullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", c)} {
		if strings.Contains(s, "s3cr3t-value") || strings.Contains(s, testKey) {
			t.Fatalf("formatted config leaks a secret: %s", s)
		}
	}
}

func TestLoad_NormalisesPKCE(t *testing.T) {
	for in, want := range map[string]string{"": PKCEOff, "OFF": PKCEOff, "s256": PKCES256, "S256": PKCES256, "plain": PKCEPlain} {
		m := fullEnv()
		m[EnvPKCE] = in
		c, err := Load(env(m))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.PKCE != want {
			t.Errorf("LCAUTH_PKCE=%q gives %q, want %q", in, c.PKCE, want)
		}
	}
}

func TestDefaultInstallURL_ReplacesLastSegment(t *testing.T) {
	tests := map[string]string{
		"https://h.example/callback":          "https://h.example/install",
		"https://h.example/prod/callback":     "https://h.example/prod/install",
		"https://h.example/prod/callback/":    "https://h.example/prod/install",
		"http://127.0.0.1:8080/callback":      "http://127.0.0.1:8080/install",
		"https://h.example/":                  "https://h.example/install",
		"https://h.example/oauth/lc/callback": "https://h.example/oauth/lc/install",
	}
	for in, want := range tests {
		if got := DefaultInstallURL(in); got != want {
			t.Errorf("DefaultInstallURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVars_EveryEnvConstantIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars() {
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
		seen[v.Name] = true
	}
	for _, name := range []string{EnvClientID, EnvRedirectURL, EnvAccountsURL, EnvAPIURL, EnvClientSecretARN,
		EnvClientSecret, EnvTable, EnvDynamoDBEndpoint, EnvPKCE, EnvAddr, EnvKMSKeyID, EnvSealingKey, EnvInstallURL,
		EnvSecretTTL, EnvRefreshWindow, EnvRefreshConcurrent, EnvRefreshRate, EnvRefreshInterval, EnvLogLevel, EnvDataDir} {
		if !seen[name] {
			t.Errorf("%s missing from Vars()", name)
		}
	}
}

func TestLoad_MetricsServiceDefaultsAndIsValidated(t *testing.T) {
	c, err := Load(env(fullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsService != "lcauth" {
		t.Errorf("default %s = %q, want lcauth", EnvMetricsService, c.MetricsService)
	}
	for value, ok := range map[string]bool{"LcauthDev": true, "lcauth-prod.eu_1": true, `x"y`: false, "a b": false, strings.Repeat("a", 256): false} {
		m := fullEnv()
		m[EnvMetricsService] = value
		c, err := Load(env(m))
		if ok && (err != nil || c.MetricsService != value) {
			t.Errorf("%s=%q: got %q, %v; want it accepted", EnvMetricsService, value, c.MetricsService, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), EnvMetricsService)) {
			t.Errorf("%s=%q: got %v, want an error naming the variable", EnvMetricsService, value, err)
		}
	}
}

func TestLoadFor_KnowsEveryFunctionAndRejectsOthers(t *testing.T) {
	for _, fn := range Functions() {
		if _, err := LoadFor(env(fullEnv()), fn); err != nil && strings.Contains(err.Error(), "unknown function") {
			t.Errorf("LoadFor(%s): %v", fn, err)
		}
	}
	if _, err := LoadFor(env(fullEnv()), "cron"); err == nil || !strings.Contains(err.Error(), `unknown function "cron"`) {
		t.Errorf("LoadFor(cron): got %v, want unknown function", err)
	}
}
