package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"lcauth/internal/config"
)

// ctxOf turns a map into the context lookup and key list LoadSettings takes.
func ctxOf(m map[string]string) (ContextLookup, []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }, keys
}

func noEnv(string) string { return "" }

func TestLoadSettings_MissingClientIDSaysHowToPassIt(t *testing.T) {
	lookup, keys := ctxOf(nil)
	_, err := LoadSettings(lookup, keys, noEnv)
	if err == nil {
		t.Fatal("LoadSettings without a client id succeeded, want an error")
	}
	for _, want := range []string{"-c livechatClientId=", "LIVECHAT_CLIENT_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadSettings_ClientIDSources(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]string
		env  map[string]string
		want string
	}{
		{"context key", map[string]string{CtxClientID: "ctxid"}, map[string]string{config.EnvClientID: "envid"}, "ctxid"},
		{"context under the variable's name", map[string]string{config.EnvClientID: "varid"}, nil, "varid"},
		{"environment", nil, map[string]string{config.EnvClientID: " envid "}, "envid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, keys := ctxOf(tt.ctx)
			s, err := LoadSettings(lookup, keys, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("LoadSettings: %v", err)
			}
			if s.ClientID != tt.want {
				t.Errorf("ClientID = %q, want %q", s.ClientID, tt.want)
			}
		})
	}
}

func TestLoadSettings_Defaults(t *testing.T) {
	lookup, keys := ctxOf(map[string]string{CtxClientID: "abc"})
	s, err := LoadSettings(lookup, keys, noEnv)
	if err != nil {
		t.Fatalf("LoadSettings: %v", err)
	}
	if s.StackName != "Lcauth" || s.AssetDir != "build" || s.RefreshEvery != 15*time.Minute || s.LogRetentionDays != 30 ||
		s.Throwaway || s.DomainName != "" || s.AlarmEmail != "" || s.ThrottleRate != 50 || s.ThrottleBurst != 100 || len(s.FunctionEnv) != 0 {
		t.Errorf("defaults = %+v", s)
	}
}

// TestCDKJSON_ContextLoadsAsTheDefaults reads the repository's cdk.json: what `make synth` uses must
// parse, and its values must be the documented defaults.
func TestCDKJSON_ContextLoadsAsTheDefaults(t *testing.T) {
	ctx := cdkJSONContext(t)
	m := map[string]string{CtxClientID: "abc"}
	for k, v := range ctx {
		m[k] = contextString(v)
	}
	lookup, keys := ctxOf(m)
	s, err := LoadSettings(lookup, keys, noEnv)
	if err != nil {
		t.Fatalf("LoadSettings(cdk.json context): %v", err)
	}
	if s.StackName != DefaultStackName || s.RefreshEvery != DefaultRefreshMinutes*time.Minute || s.Throwaway ||
		s.LogRetentionDays != DefaultLogRetentionDays || s.AssetDir != DefaultAssetDir {
		t.Errorf("cdk.json settings = %+v, want the defaults", s)
	}
	if _, ok := ctx[CtxClientID]; ok {
		t.Error("cdk.json carries a client id; it must come from the operator")
	}
}

func TestLoadSettings_RejectsBadValues(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]string
		want string
	}{
		{"throwaway not a bool", map[string]string{CtxThrowaway: "yes please"}, CtxThrowaway},
		{"schedule zero", map[string]string{CtxRefreshMinutes: "0"}, CtxRefreshMinutes},
		{"schedule not a number", map[string]string{CtxRefreshMinutes: "15m"}, CtxRefreshMinutes},
		{"schedule too slow for the refresh window", map[string]string{CtxRefreshMinutes: "45"}, "fewer than two refresh passes"},
		{"retention CloudWatch does not accept", map[string]string{CtxLogRetentionDays: "31"}, CtxLogRetentionDays},
		{"e-mail with a name", map[string]string{CtxAlarmEmail: "Ops <ops@example.com>"}, CtxAlarmEmail},
		{"domain without certificate", map[string]string{CtxDomainName: "auth.example.com"}, CtxCertificateARN},
		{"certificate without domain", map[string]string{CtxCertificateARN: "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, CtxDomainName},
		{"certificate not an ACM ARN", map[string]string{CtxDomainName: "auth.example.com", CtxCertificateARN: "arn:aws:iam::123456789012:server-certificate/x"}, "ACM certificate ARN"},
		{"domain with a scheme", map[string]string{CtxDomainName: "https://auth.example.com", CtxCertificateARN: "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, "DNS name"},
		{"stack name with underscore", map[string]string{CtxStackName: "my_stack"}, CtxStackName},
		{"client id with spaces", map[string]string{CtxClientID: "a b"}, CtxClientID},
		{"throttle rate zero", map[string]string{CtxThrottleRate: "0"}, CtxThrottleRate},
		{"throttle burst huge", map[string]string{CtxThrottleBurst: "99999"}, CtxThrottleBurst},
		{"client secret in context", map[string]string{config.EnvClientSecret: "s3cr3t-value"}, "must never be passed to the stack"},
		{"sealing key in context", map[string]string{config.EnvSealingKey: "a2V5"}, "must never be passed to the stack"},
		{"stack-derived variable", map[string]string{config.EnvTable: "other"}, "set by the stack itself"},
		{"misspelt variable", map[string]string{"LCAUTH_PKC": "S256"}, "LCAUTH_PKC is not a variable"},
		{"local-only variable", map[string]string{config.EnvDynamoDBEndpoint: "http://127.0.0.1:8000"}, "DYNAMODB_ENDPOINT is not a variable"},
		{"misspelt setting", map[string]string{"alarmEmial": "ops@example.com"}, `unknown context key "alarmEmial"`},
		{"refresh window not a duration", map[string]string{config.EnvRefreshWindow: "an hour"}, config.EnvRefreshWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{CtxClientID: "abc"}
			for k, v := range tt.ctx {
				m[k] = v
			}
			lookup, keys := ctxOf(m)
			_, err := LoadSettings(lookup, keys, noEnv)
			if err == nil {
				t.Fatalf("LoadSettings(%v) succeeded, want an error mentioning %q", tt.ctx, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error %q repeats the secret value", err)
			}
		})
	}
}

func TestLoadSettings_ReportsEveryProblemAtOnce(t *testing.T) {
	lookup, keys := ctxOf(map[string]string{CtxRefreshMinutes: "0", CtxLogRetentionDays: "2"})
	_, err := LoadSettings(lookup, keys, noEnv)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{CtxClientID, CtxRefreshMinutes, CtxLogRetentionDays} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadSettings_AcceptsOverridesAndOptions(t *testing.T) {
	lookup, keys := ctxOf(map[string]string{
		CtxClientID: "abc", CtxThrowaway: "true", CtxRefreshMinutes: "10", CtxAlarmEmail: "ops@example.com",
		CtxDomainName: "Auth.Example.com", CtxCertificateARN: "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c-2d3e",
		CtxLogRetentionDays: "90", config.EnvPKCE: "S256", config.EnvRefreshWindow: "30m", "@aws-cdk/core:checkSecretUsage": "true",
	})
	s, err := LoadSettings(lookup, keys, noEnv)
	if err != nil {
		t.Fatalf("LoadSettings: %v", err)
	}
	if !s.Throwaway || s.RefreshEvery != 10*time.Minute || s.AlarmEmail != "ops@example.com" || s.DomainName != "auth.example.com" ||
		s.LogRetentionDays != 90 || s.FunctionEnv[config.EnvPKCE] != "S256" || s.FunctionEnv[config.EnvRefreshWindow] != "30m" || len(s.FunctionEnv) != 2 {
		t.Errorf("settings = %+v", s)
	}
}

func TestFunctionEnv_FailsWhenAVariableHasNoValueAndNoDefault(t *testing.T) {
	vars := []config.Var{
		{Name: "LCAUTH_TABLE", Functions: []string{"x"}},
		{Name: "LCAUTH_NEW_REQUIRED", Functions: []string{"x"}},
		{Name: "LCAUTH_WITH_DEFAULT", Default: "1", Functions: []string{"x"}},
	}
	table := "t"
	_, err := functionEnv("x", vars, map[string]*string{"LCAUTH_TABLE": &table}, nil)
	if err == nil || !strings.Contains(err.Error(), "LCAUTH_NEW_REQUIRED") || strings.Contains(err.Error(), "LCAUTH_WITH_DEFAULT") {
		t.Fatalf("functionEnv error = %v, want one naming LCAUTH_NEW_REQUIRED only", err)
	}
}

func TestFunctionEnv_DefaultsOmittedUnlessOverridden(t *testing.T) {
	vars := []config.Var{
		{Name: "A", Functions: []string{"x"}},
		{Name: "B", Default: "1", Functions: []string{"x"}},
		{Name: "C", Default: "2", Functions: []string{"x"}},
	}
	a := "from-stack"
	env, err := functionEnv("x", vars, map[string]*string{"A": &a}, map[string]string{"C": "3", "D": "unrelated"})
	if err != nil {
		t.Fatalf("functionEnv: %v", err)
	}
	if len(env) != 2 || *env["A"] != "from-stack" || *env["C"] != "3" {
		t.Errorf("env = %v, want A from the stack and the C override only", deref(env))
	}
}

func TestFunctionEnv_RefusesSecretVariables(t *testing.T) {
	vars := []config.Var{{Name: "LIVECHAT_CLIENT_SECRET", Secret: true, Functions: []string{"x"}}}
	v := "x"
	if _, err := functionEnv("x", vars, map[string]*string{"LIVECHAT_CLIENT_SECRET": &v}, nil); err == nil {
		t.Fatal("functionEnv put a secret variable into a function's environment")
	}
}

func TestCheckAssets_NamesTheMissingBinaryAndTheFix(t *testing.T) {
	_, err := NewLcauth(nil, Settings{AssetDir: t.TempDir()})
	if err == nil {
		t.Fatal("NewLcauth without built functions succeeded")
	}
	for _, want := range []string{"install/bootstrap", "refresh/bootstrap", "make build"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func cdkJSONContext(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	if doc.App != "go run ./infra" {
		t.Errorf("cdk.json app = %q, want %q", doc.App, "go run ./infra")
	}
	return doc.Context
}

func deref(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}
