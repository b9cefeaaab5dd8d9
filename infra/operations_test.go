package main

import (
	"encoding/json"
	"strings"
	"testing"

	"lcauth/internal/config"
	"lcauth/internal/refresh"
)

// TestStack_StagesPinTheEnvironmentAndTagEverything: the stages entry of a stack name pins its
// account and region, and every taggable resource carries app=lcauth and stage=<stage>.
func TestStack_StagesPinTheEnvironmentAndTagEverything(t *testing.T) {
	for _, tt := range []struct {
		s                      *synthesized
		stage, account, region string
	}{{defaultStack(t), "prod", "", ""}, {customStack(t), "staging", "123456789012", "eu-west-1"}} {
		env := tt.s.l.Stack.Environment()
		if tt.account != "" && !strings.Contains(*env, tt.account+"/"+tt.region) {
			t.Errorf("%s: environment %s, want aws://%s/%s", *tt.s.l.Stack.StackName(), *env, tt.account, tt.region)
		}
		if tt.account == "" && !strings.Contains(*env, "unknown-account/unknown-region") {
			t.Errorf("%s: environment %s, want environment-agnostic", *tt.s.l.Stack.StackName(), *env)
		}
		for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::SecretsManager::Secret", "AWS::KMS::Key", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::IAM::Role"} {
			for id, r := range tt.s.ofType(typ) {
				tags := show(r["Properties"].(map[string]any)["Tags"])
				for _, want := range []string{`{"Key":"app","Value":"lcauth"}`, `{"Key":"stage","Value":"` + tt.stage + `"}`} {
					if !strings.Contains(tags, want) {
						t.Errorf("%s (%s) tags %s lack %s", id, typ, tags, want)
					}
				}
			}
		}
		// API Gateway v2 takes tags as a map.
		if tags := show(tt.s.props(tt.s.id(tt.s.l.API))["Tags"]); !strings.Contains(tags, `"stage":"`+tt.stage+`"`) {
			t.Errorf("API tags %s lack stage %s", tags, tt.stage)
		}
	}
}

func TestStack_FailureQueueIsEncryptedAndTLSOnly(t *testing.T) {
	s := defaultStack(t)
	p := s.props(s.id(s.l.FailureQueue))
	if p["SqsManagedSseEnabled"] != true || p["MessageRetentionPeriod"] != float64(14*24*3600) {
		t.Errorf("queue = %s, want SSE and 14 days", show(p))
	}
	var policy string
	for _, qp := range s.ofType("AWS::SQS::QueuePolicy") {
		policy = show(qp)
	}
	if !strings.Contains(policy, `"aws:SecureTransport":"false"`) {
		t.Errorf("queue policy %s does not deny plain HTTP", policy)
	}
	// EventBridge may send only for this stack's schedule rules.
	if !strings.Contains(policy, `"Service":"events.amazonaws.com"`) || !strings.Contains(policy, `"aws:SourceArn"`) {
		t.Errorf("queue policy %s does not let exactly the schedule's rules dead-letter into it", policy)
	}
}

// TestStack_LambdaNeverFiltersMetricLines: whatever LCAUTH_LOG_LEVEL, Lambda's own filter stays at
// INFO (DEBUG when asked for debug), so the EMF lines (no level, counted as INFO) reach CloudWatch.
func TestStack_LambdaNeverFiltersMetricLines(t *testing.T) {
	for level, want := range map[string]string{"": "INFO", "info": "INFO", "warn": "INFO", "error": "INFO", "debug": "DEBUG"} {
		if got := string(lambdaLogLevel(level)); got != want {
			t.Errorf("LCAUTH_LOG_LEVEL=%q: Lambda application log level %s, want %s", level, got, want)
		}
	}
	s := defaultStack(t)
	for _, spec := range functionSpecs {
		lc := s.props(s.id(s.l.Functions[spec.Name]))["LoggingConfig"].(map[string]any)
		if lc["ApplicationLogLevel"] != "INFO" {
			t.Errorf("%s: ApplicationLogLevel %v, want INFO", spec.Name, lc["ApplicationLogLevel"])
		}
	}
}

// TestStack_DashboardShowsAPIFunctionsAndPasses checks the dashboard's body names what an operator
// looks at: the API's metrics, every function's, every pass metric and the failure queue.
func TestStack_DashboardShowsAPIFunctionsAndPasses(t *testing.T) {
	s := defaultStack(t)
	p := s.props(s.id(s.l.Dashboard))
	if p["DashboardName"] != "Lcauth" {
		t.Errorf("DashboardName = %v, want the stack name", p["DashboardName"])
	}
	body := show(p["DashboardBody"])
	wants := []string{`\"AWS/ApiGateway\",\"Count\"`, `\"4xx\"`, `\"5xx\"`, `\"Latency\"`, "stats count(*) as requests, pct(latency, 50) as p50_ms, pct(latency, 99) as p99_ms by routeKey, status",
		`\"ConcurrentExecutions\"`, `\"Duration\"`, `\"Throttles\"`, `\"Errors\"`, "ApproximateNumberOfMessagesVisible", MetricUninstalled}
	for _, m := range []string{refresh.MetricDue, refresh.MetricRefreshed, refresh.MetricLeftForNextPass, refresh.MetricFailed,
		refresh.MetricFailedMisconfiguration, refresh.MetricFailedRateLimited, refresh.MetricFailedTransient, refresh.MetricFailedStore,
		refresh.MetricDurationMs, refresh.MetricPassFailed, refresh.MetricReauthorizationRequired, MetricUninstalled, MetricRevokeFailed} {
		wants = append(wants, `\"`+m+`\",\"Service\",\"Lcauth\"`)
	}
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("dashboard body lacks %s", w)
		}
	}
	for _, spec := range functionSpecs {
		if !strings.Contains(body, `\"label\":\"`+spec.Name+`\"`) {
			t.Errorf("dashboard has no line for function %s", spec.Name)
		}
	}
}

func TestLoadSettings_StagesAndNewSettings(t *testing.T) {
	stages := `{"Lcauth": {"stage": "prod", "alarmEmail": "ops@example.com"}, "LcauthDev": {"stage": "dev", "throwaway": true, "account": "123456789012", "region": "eu-central-1"}}`
	load := func(extra map[string]string) (Settings, error) {
		m := map[string]string{CtxClientID: "abc", CtxStages: stages}
		for k, v := range extra {
			m[k] = v
		}
		lookup, keys := ctxOf(m)
		return LoadSettings(lookup, keys, noEnv)
	}
	s, err := load(nil)
	if err != nil || s.Stage != "prod" || s.AlarmEmail != "ops@example.com" || s.Throwaway || s.Account != "" || s.RefreshFanOut != 1 || s.RefreshReserved != 0 {
		t.Errorf("Lcauth: %+v, %v", s, err)
	}
	s, err = load(map[string]string{CtxStackName: "LcauthDev", CtxAlarmEmail: "dev@example.com", CtxRefreshFanOut: "4", CtxRefreshReserved: "1"})
	if err != nil || s.Stage != "dev" || !s.Throwaway || s.Account != "123456789012" || s.Region != "eu-central-1" || s.AlarmEmail != "dev@example.com" ||
		s.RefreshFanOut != 4 || s.RefreshReserved != 1 {
		t.Errorf("LcauthDev: %+v, %v", s, err)
	}
	s, err = load(map[string]string{CtxStackName: "LcauthOther"})
	if err != nil || s.Stage != "LcauthOther" {
		t.Errorf("stack without a stage entry: stage %q, %v; want the stack name", s.Stage, err)
	}
	for _, bad := range []struct{ key, value, want string }{
		{CtxStages, `{"Lcauth": {"stag": "prod"}}`, "stag"},
		{CtxStages, `{"Lcauth": {"account": "12345"}}`, "12-digit"},
		{CtxStages, `{"Lcauth": {"region": "Europe"}}`, "region"},
		{CtxStages, `[1]`, CtxStages},
		{CtxRefreshFanOut, "3", CtxRefreshFanOut},
		{CtxRefreshReserved, "-1", "get-account-settings"},
		{CtxPublicRate, "0", CtxPublicRate},
		{CtxClientBurst, "9999", CtxClientBurst},
		{config.EnvMetricsService, "other", "set by the stack itself"},
	} {
		m := map[string]string{CtxClientID: "abc", bad.key: bad.value}
		lookup, keys := ctxOf(m)
		if _, err := LoadSettings(lookup, keys, noEnv); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: got %v, want an error mentioning %q", bad.key, bad.value, err, bad.want)
		}
	}
}

// TestContextString_RendersObjectsAsJSON: cdk.json's stages map reaches LoadSettings as JSON.
func TestContextString_RendersObjectsAsJSON(t *testing.T) {
	got := contextString(map[string]interface{}{"Lcauth": map[string]interface{}{"stage": "prod"}})
	var back map[string]Stage
	if err := json.Unmarshal([]byte(got), &back); err != nil || back["Lcauth"].Stage != "prod" {
		t.Errorf("contextString = %s (%v)", got, err)
	}
}
