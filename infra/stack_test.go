package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// Values the test environment holds while the stacks are synthesized: the template must contain
// neither, whatever the operator's shell exports.
const secretSentinel = "sentinel-client-secret-3f9a1c77"

var sealingSentinel = base64.StdEncoding.EncodeToString([]byte("sentinel-sealing-key-0123456789!"))

var (
	// assetDir holds stand-in function binaries for the test only: the stack needs files to stage,
	// not working programs, and the real ones may not be built yet.
	assetDir string
	// outRoot collects the cloud assemblies of every synthesis in this package.
	outRoot string
)

// appModeEnv makes the test binary behave as the CDK app itself (main's run), so the CDK CLI test
// can point `cdk synth --app` at it without compiling the app a second time.
const appModeEnv = "LCAUTH_INFRA_TEST_AS_CDK_APP"

func TestMain(m *testing.M) {
	if os.Getenv(appModeEnv) == "1" {
		main()
		os.Exit(0)
	}
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "lcauth-infra-test-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	assetDir, outRoot = filepath.Join(dir, "build"), filepath.Join(dir, "out")
	for _, spec := range functionSpecs {
		p := filepath.Join(assetDir, spec.Name, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 1, err
		}
		// Distinct content per function, so each gets its own asset and the test can tell them apart.
		body := "#!/bin/sh\n# test stand-in for functions/" + spec.Name + "\nexit 1\n"
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			return 1, err
		}
	}
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		// The Makefile exports this too: the pinned Node is the team's choice, not news per test run.
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	}
	os.Setenv(config.EnvClientSecret, secretSentinel)
	os.Setenv(config.EnvSealingKey, sealingSentinel)
	defer jsii.Close()
	return m.Run(), nil
}

// synthesized is one synthesized stack, shared by the tests that read it.
type synthesized struct {
	l      *Lcauth
	tpl    assertions.Template
	doc    map[string]any
	outdir string
}

var (
	synthOnce                 sync.Once
	defaultSynth, customSynth *synthesized
	synthErr                  error
)

// testClientID is the client id the shared stacks use.
const testClientID = "0123456789abcdef0123456789abcdef"

// customContext turns every option on: throwaway, custom domain, e-mail, another schedule, overrides.
var customContext = map[string]any{
	CtxStackName: "LcauthStaging", CtxThrowaway: "true",
	CtxDomainName: "auth.example.com", CtxCertificateARN: "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
	CtxAlarmEmail: "ops@example.com", CtxRefreshMinutes: "10", CtxLogRetentionDays: "90",
	CtxThrottleRate: "20", CtxThrottleBurst: "40", CtxPublicRate: "5", CtxPublicBurst: "7", CtxClientRate: "30", CtxClientBurst: "60",
	CtxRefreshFanOut: "8", CtxRefreshReserved: "2",
	CtxStages:      `{"LcauthStaging": {"stage": "staging", "account": "123456789012", "region": "eu-west-1"}}`,
	config.EnvPKCE: "S256", config.EnvLogLevel: "debug",
}

// defaultStack is the stack with cdk.json's defaults: what `make deploy LIVECHAT_CLIENT_ID=...` builds.
func defaultStack(t *testing.T) *synthesized {
	t.Helper()
	synthAll(t)
	return defaultSynth
}

// customStack is the stack built with customContext on top of cdk.json.
func customStack(t *testing.T) *synthesized {
	t.Helper()
	synthAll(t)
	return customSynth
}

// synthAll synthesizes both stacks in one app, once per test binary: a synthesis costs seconds
// (the jsii kernel, cdk-nag), a template lookup microseconds.
func synthAll(t *testing.T) {
	t.Helper()
	synthOnce.Do(func() { defaultSynth, customSynth, synthErr = synth(t) })
	if synthErr != nil {
		t.Fatalf("synthesize: %v", synthErr)
	}
}

// synth builds the app the way main does (cdk.json context, settings from context and the process
// environment, cdk-nag on) with a second stack whose settings add customContext.
func synth(t *testing.T) (def, custom *synthesized, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synthesis panicked: %v", r)
		}
	}()
	ctx := map[string]any{}
	for k, v := range cdkJSONContext(t) {
		ctx[k] = v
	}
	ctx[CtxClientID] = testClientID
	ctx[CtxAssetDir] = assetDir
	// The CDK CLI turns these on; so does the test, to see each function's asset and each path.
	ctx["aws:cdk:enable-asset-metadata"] = true
	ctx["aws:cdk:enable-path-metadata"] = true
	outdir := filepath.Join(outRoot, "cdk.out")
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)})

	defSettings, err := LoadSettings(appContext(app), appContextKeys(app), os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	merged := map[string]string{}
	for k, v := range ctx {
		merged[k] = contextString(v)
	}
	for k, v := range customContext {
		merged[k] = contextString(v)
	}
	lookup, keys := ctxOf(merged)
	customSettings, err := LoadSettings(lookup, keys, os.Getenv)
	if err != nil {
		return nil, nil, err
	}

	var ls []*Lcauth
	for _, s := range []Settings{defSettings, customSettings} {
		l, err := NewLcauth(app, s)
		if err != nil {
			return nil, nil, err
		}
		ls = append(ls, l)
	}
	AddNagChecks(app)
	var out []*synthesized
	for _, l := range ls {
		tpl := assertions.Template_FromStack(l.Stack, nil)
		out = append(out, &synthesized{l: l, tpl: tpl, doc: norm(*tpl.ToJSON()).(map[string]any), outdir: outdir})
	}
	return out[0], out[1], nil
}

// --- template helpers ---

// norm round-trips v through JSON so templates and expectations compare with reflect.DeepEqual.
func norm(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func (s *synthesized) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.doc["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

func (s *synthesized) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources() {
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func (s *synthesized) props(id string) map[string]any {
	r, ok := s.resources()[id]
	if !ok {
		panic("no resource " + id)
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// id is the logical id of a construct's CloudFormation resource.
func (s *synthesized) id(c constructs.IConstruct) string {
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		panic("construct " + *c.Node().Path() + " has no CloudFormation resource")
	}
	return *s.l.Stack.GetLogicalId(el)
}

func ref(id string) any          { return norm(map[string]any{"Ref": id}) }
func getAtt(id, attr string) any { return norm(map[string]any{"Fn::GetAtt": []any{id, attr}}) }
func joinOf(parts ...any) any    { return norm(map[string]any{"Fn::Join": []any{"", parts}}) }
func equal(got, want any) bool   { return reflect.DeepEqual(norm(got), norm(want)) }
func show(v any) string          { b, _ := json.Marshal(v); return string(b) }
func strs(v any) []string        { return toStrings(v) }
func sortedStrs(v any) []string  { s := toStrings(v); sort.Strings(s); return s }
func toStrings(v any) (out []string) {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	}
	return out
}

// must runs an assertions call, turning its panic (a failed assertion) into a test error.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// --- tests ---

func TestStack_TableIsBuiltFromTheStoreSchema(t *testing.T) {
	s := defaultStack(t)
	schema := store.Schema()
	defs := map[string]string{schema.PartitionKey.Name: schema.PartitionKey.Type}
	var gsis []any
	for _, ix := range schema.Indexes {
		defs[ix.PartitionKey.Name] = ix.PartitionKey.Type
		keys := []any{map[string]any{"AttributeName": ix.PartitionKey.Name, "KeyType": "HASH"}}
		if ix.SortKey.Name != "" {
			defs[ix.SortKey.Name] = ix.SortKey.Type
			keys = append(keys, map[string]any{"AttributeName": ix.SortKey.Name, "KeyType": "RANGE"})
		}
		gsis = append(gsis, map[string]any{"IndexName": ix.Name, "KeySchema": keys, "Projection": map[string]any{"ProjectionType": ix.Projection}})
	}
	tables := s.ofType("AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("got %d tables, want 1", len(tables))
	}
	id := s.id(s.l.Table)
	p := s.props(id)
	if !equal(p["KeySchema"], []any{map[string]any{"AttributeName": store.AttrPK, "KeyType": "HASH"}}) {
		t.Errorf("KeySchema = %s", show(p["KeySchema"]))
	}
	got := map[string]string{}
	for _, d := range p["AttributeDefinitions"].([]any) {
		m := d.(map[string]any)
		got[m["AttributeName"].(string)] = m["AttributeType"].(string)
	}
	if !reflect.DeepEqual(got, defs) {
		t.Errorf("AttributeDefinitions = %v, want %v", got, defs)
	}
	if !equal(p["GlobalSecondaryIndexes"], gsis) {
		t.Errorf("GlobalSecondaryIndexes = %s, want %s", show(p["GlobalSecondaryIndexes"]), show(gsis))
	}
	if ix := p["GlobalSecondaryIndexes"].([]any)[0].(map[string]any); ix["IndexName"] != store.DueIndexName {
		t.Errorf("index name = %v, want %q", ix["IndexName"], store.DueIndexName)
	}
	if _, ok := p["TimeToLiveSpecification"]; ok != (schema.TTLAttribute != "") {
		t.Errorf("TimeToLiveSpecification present = %v, schema TTL attribute = %q", ok, schema.TTLAttribute)
	}
	must(t, "table settings", func() {
		s.tpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy":      "RetainExceptOnCreate",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"DeletionProtectionEnabled":        true,
				"SSESpecification": map[string]any{
					"SSEEnabled": true, "SSEType": "KMS",
					"KMSMasterKeyId": getAtt(s.id(s.l.DataKey), "Arn"),
				},
			},
		})
	})
}

func TestStack_DataIsRetainedUnlessThrowaway(t *testing.T) {
	tests := []struct {
		name                    string
		s                       *synthesized
		deletion, updateReplace string
		protection              bool
	}{
		// RetainExceptOnCreate: kept on update and delete, removed when the create that made it rolls back.
		{"default", defaultStack(t), "RetainExceptOnCreate", "Retain", true},
		{"throwaway", customStack(t), "Delete", "Delete", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			stateful := []constructs.IConstruct{s.l.Table, s.l.DataKey, s.l.Secret, s.l.WebhookSecret, s.l.StateKey, s.l.AccessLogs}
			for _, lg := range s.l.LogGroups {
				stateful = append(stateful, lg)
			}
			for _, c := range stateful {
				r := s.resources()[s.id(c)]
				if r["DeletionPolicy"] != tt.deletion || r["UpdateReplacePolicy"] != tt.updateReplace {
					t.Errorf("%s: DeletionPolicy %v / UpdateReplacePolicy %v, want %s / %s", *c.Node().Path(), r["DeletionPolicy"], r["UpdateReplacePolicy"], tt.deletion, tt.updateReplace)
				}
			}
			// Nothing in the stack is plainly Retain: that is what left paid resources behind failed creates.
			for id, r := range s.resources() {
				if r["DeletionPolicy"] == "Retain" {
					t.Errorf("%s (%v) is Retain, want RetainExceptOnCreate", id, r["Type"])
				}
			}
			if got := s.props(s.id(s.l.Table))["DeletionProtectionEnabled"]; got != tt.protection {
				t.Errorf("DeletionProtectionEnabled = %v, want %v", got, tt.protection)
			}
		})
	}
}

func TestStack_KeysAreCustomerManagedWithRotation(t *testing.T) {
	s := defaultStack(t)
	keys := s.ofType("AWS::KMS::Key")
	if len(keys) != 2 {
		t.Fatalf("got %d KMS keys, want 2 (data, alarm topic)", len(keys))
	}
	for id, k := range keys {
		if k["Properties"].(map[string]any)["EnableKeyRotation"] != true {
			t.Errorf("key %s: rotation is off", id)
		}
	}
	// The data key's policy is the account's alone: functions get it through their roles, and no
	// service principal may use it directly.
	stmts := s.props(s.id(s.l.DataKey))["KeyPolicy"].(map[string]any)["Statement"].([]any)
	if len(stmts) != 1 || !strings.Contains(show(stmts[0]), ":root") {
		t.Errorf("data key policy = %s, want only the account-root statement", show(stmts))
	}
}

func TestStack_SecretHoldsOnlyThePlaceholder(t *testing.T) {
	s := defaultStack(t)
	sec := s.ofType("AWS::SecretsManager::Secret")
	if len(sec) != 3 {
		t.Fatalf("got %d secrets, want 3 (client secret, webhook secret, state key)", len(sec))
	}
	for _, gen := range []constructs.IConstruct{s.l.WebhookSecret, s.l.StateKey} {
		p := s.props(s.id(gen))
		want := map[string]any{"PasswordLength": 64, "ExcludePunctuation": true, "IncludeSpace": false}
		if _, ok := p["SecretString"]; ok || !equal(p["GenerateSecretString"], want) {
			t.Errorf("%s: %s, want only a generated value %s", *gen.Node().Path(), show(p), show(want))
		}
	}
	p := s.props(s.id(s.l.Secret))
	if p["SecretString"] != secrets.Placeholder || secrets.Placeholder != "REPLACE_WITH_LIVECHAT_CLIENT_SECRET" {
		t.Errorf("SecretString = %v, want the placeholder %q", p["SecretString"], "REPLACE_WITH_LIVECHAT_CLIENT_SECRET")
	}
	if _, ok := p["GenerateSecretString"]; ok {
		t.Error("the secret also generates a value; it must hold only the placeholder")
	}
}

// TestStack_TemplateContainsNoSecretValue synthesizes with a client secret and a sealing key in the
// process environment (TestMain sets them) and searches every file of the cloud assembly for them.
func TestStack_TemplateContainsNoSecretValue(t *testing.T) {
	for _, s := range []*synthesized{defaultStack(t), customStack(t)} {
		err := filepath.Walk(s.outdir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, secret := range []string{secretSentinel, sealingSentinel} {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s contains a secret value from the environment", p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, fn := range s.ofType("AWS::Lambda::Function") {
			vars, _ := fn["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, v := range config.Vars() {
				if _, ok := vars[v.Name]; ok && v.Secret {
					t.Errorf("function %s has the secret variable %s in its environment", id, v.Name)
				}
			}
		}
	}
}

func TestStack_FunctionsRuntimeSizingLoggingTracing(t *testing.T) {
	want := map[string]struct {
		memory, timeout float64
		reserved        any
	}{
		config.FunctionInstall:       {256, 10, nil},
		config.FunctionCallback:      {256, 25, nil},
		config.FunctionChats:         {256, 28, nil},
		config.FunctionRefresh:       {512, 300, nil},
		config.FunctionWebhook:       {256, 28, nil},
		config.FunctionInstallations: {256, 15, nil},
	}
	s := defaultStack(t)
	if n := len(s.ofType("AWS::Lambda::Function")); n != len(want) {
		t.Fatalf("got %d functions, want %d", n, len(want))
	}
	assets := map[string]bool{}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			id := s.id(s.l.Functions[name])
			p := s.props(id)
			checks := map[string][2]any{
				"Runtime":       {p["Runtime"], "provided.al2023"},
				"Architectures": {p["Architectures"], []any{"arm64"}},
				"Handler":       {p["Handler"], "bootstrap"},
				"MemorySize":    {p["MemorySize"], w.memory},
				"Timeout":       {p["Timeout"], w.timeout},
				"TracingConfig": {p["TracingConfig"], map[string]any{"Mode": "Active"}},
				"LoggingConfig": {p["LoggingConfig"], map[string]any{"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "LogGroup": ref(s.id(s.l.LogGroups[name]))}},
				"Role":          {p["Role"], getAtt(s.id(s.l.Roles[name]), "Arn")},
				"Reserved":      {p["ReservedConcurrentExecutions"], w.reserved},
			}
			for what, c := range checks {
				if !equal(c[0], c[1]) {
					t.Errorf("%s = %s, want %s", what, show(c[0]), show(c[1]))
				}
			}
			if got := s.props(s.id(s.l.LogGroups[name]))["RetentionInDays"]; got != float64(30) {
				t.Errorf("log retention = %v days, want 30", got)
			}
			// The asset is build/<name>: the staged directory holds that function's bootstrap.
			asset, _ := s.resources()[id]["Metadata"].(map[string]any)["aws:asset:path"].(string)
			b, err := os.ReadFile(filepath.Join(s.outdir, asset, "bootstrap"))
			if err != nil || !strings.Contains(string(b), "functions/"+name+"\n") {
				t.Errorf("asset %q is not build/%s (read: %v)", asset, name, err)
			}
			assets[asset] = true
		})
	}
	if len(assets) != len(want) {
		t.Errorf("functions share assets: %v", assets)
	}
	// No reservation by default (a new account's 10 concurrent executions cannot spare one); the
	// setting reserves exactly what it says.
	if got := customStack(t).props(customStack(t).id(customStack(t).l.Functions[config.FunctionRefresh]))["ReservedConcurrentExecutions"]; got != float64(2) {
		t.Errorf("refreshReservedConcurrency=2: ReservedConcurrentExecutions = %v", got)
	}
}

func TestStack_FunctionEnvironmentComesFromConfig(t *testing.T) {
	s := defaultStack(t)
	api := s.id(s.l.API)
	stackValues := map[string]any{
		config.EnvClientID:        testClientID,
		config.EnvRedirectURL:     joinOf(getAtt(api, "ApiEndpoint"), "/callback"),
		config.EnvInstallURL:      joinOf(getAtt(api, "ApiEndpoint"), "/install"),
		config.EnvClientSecretARN: ref(s.id(s.l.Secret)),
		EnvWebhookSecretARN:       ref(s.id(s.l.WebhookSecret)),
		EnvStateKeyARN:            ref(s.id(s.l.StateKey)),
		config.EnvTable:           ref(s.id(s.l.Table)),
		config.EnvKMSKeyID:        getAtt(s.id(s.l.DataKey), "Arn"),
		config.EnvMetricsService:  "Lcauth",
	}
	for _, spec := range functionSpecs {
		vars := s.props(s.id(s.l.Functions[spec.Name]))["Environment"].(map[string]any)["Variables"].(map[string]any)
		want := map[string]any{}
		for _, v := range config.ForFunction(spec.Name) {
			if val, ok := stackValues[v.Name]; ok {
				want[v.Name] = val
				continue
			}
			if v.Default == "" {
				val, ok := stackValues[v.Name]
				if !ok {
					t.Fatalf("config gives %s the variable %s without a default, and this test does not know its value", spec.Name, v.Name)
				}
				want[v.Name] = val
			}
		}
		if !equal(vars, want) {
			t.Errorf("%s environment = %s\nwant %s", spec.Name, show(vars), show(want))
		}
	}
}

func TestStack_ContextOverridesAndCustomDomainReachTheFunctions(t *testing.T) {
	s := customStack(t)
	for _, spec := range functionSpecs {
		p := s.props(s.id(s.l.Functions[spec.Name]))
		vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		needsPKCE := false
		for _, v := range config.ForFunction(spec.Name) {
			needsPKCE = needsPKCE || v.Name == config.EnvPKCE
		}
		if got, ok := vars[config.EnvPKCE]; ok != needsPKCE || (ok && got != "S256") {
			t.Errorf("%s: LCAUTH_PKCE = %v (set %v), want S256 only where config lists it", spec.Name, got, ok)
		}
		if vars[config.EnvLogLevel] != "debug" {
			t.Errorf("%s: LCAUTH_LOG_LEVEL = %v, want debug", spec.Name, vars[config.EnvLogLevel])
		}
		if lvl := p["LoggingConfig"].(map[string]any)["ApplicationLogLevel"]; lvl != "DEBUG" {
			t.Errorf("%s: Lambda application log level = %v, want DEBUG so debug logs are not dropped", spec.Name, lvl)
		}
		if _, ok := vars[config.EnvRedirectURL]; ok && vars[config.EnvRedirectURL] != "https://auth.example.com/callback" {
			t.Errorf("%s: redirect URL = %v, want the custom domain's /callback", spec.Name, vars[config.EnvRedirectURL])
		}
		if _, ok := vars[config.EnvInstallURL]; ok && vars[config.EnvInstallURL] != "https://auth.example.com/install" {
			t.Errorf("%s: install URL = %v, want the custom domain's /install", spec.Name, vars[config.EnvInstallURL])
		}
	}
	if got := s.props(s.id(s.l.LogGroups[config.FunctionChats]))["RetentionInDays"]; got != float64(90) {
		t.Errorf("log retention = %v, want 90", got)
	}
}

func TestValidateEnv_RejectsAnOverrideTheCodeWouldReject(t *testing.T) {
	env := map[string]*string{
		config.EnvClientID: jsii.String("abc"), config.EnvClientSecretARN: jsii.String("arn:aws:secretsmanager:us-east-1:1:secret:x"),
		config.EnvRedirectURL: jsii.String("https://x.example/callback"), config.EnvPKCE: jsii.String("sha1"),
	}
	err := validateEnv(config.FunctionInstall, env, nil)
	if err == nil || !strings.Contains(err.Error(), config.EnvPKCE) {
		t.Fatalf("validateEnv = %v, want an error naming %s", err, config.EnvPKCE)
	}
	env[config.EnvPKCE] = jsii.String("S256")
	if err := validateEnv(config.FunctionInstall, env, nil); err != nil {
		t.Fatalf("validateEnv with a valid override: %v", err)
	}
}

// statement is one IAM statement reduced to what least privilege is about.
type statement struct {
	Sid      string
	Actions  []string
	Resource any
}

func TestStack_EachRoleHasExactlyItsGrants(t *testing.T) {
	s := defaultStack(t)
	table, key := s.id(s.l.Table), s.id(s.l.DataKey)
	secretStmts := map[string]statement{
		config.EnvClientSecretARN: {"ReadClientSecret", []string{"secretsmanager:GetSecretValue"}, ref(s.id(s.l.Secret))},
		EnvWebhookSecretARN:       {"ReadWebhookSecret", []string{"secretsmanager:GetSecretValue"}, ref(s.id(s.l.WebhookSecret))},
		EnvStateKeyARN:            {"ReadStateKey", []string{"secretsmanager:GetSecretValue"}, ref(s.id(s.l.StateKey))},
	}
	// common: its own logs, X-Ray, and each secret whose ARN config gives the function (nothing else).
	common := func(fn string) []statement {
		out := []statement{
			{"WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, getAtt(s.id(s.l.LogGroups[fn]), "Arn")},
			{"", []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}, "*"},
		}
		for _, v := range config.ForFunction(fn) {
			if st, ok := secretStmts[v.Name]; ok {
				out = append(out, st)
			}
		}
		return out
	}
	items := statement{"Installations", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, getAtt(table, "Arn")}
	list := statement{"Installations", []string{"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"}, getAtt(table, "Arn")}
	kms := statement{"DataKey", []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}, getAtt(key, "Arn")}
	due := statement{"DueIndex", []string{"dynamodb:Query"}, joinOf(getAtt(table, "Arn"), "/index/"+store.DueIndexName)}
	org := statement{"OrganizationIndex", []string{"dynamodb:Query"}, joinOf(getAtt(table, "Arn"), "/index/"+store.OrganizationIndexName)}
	failures := statement{"", []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}, getAtt(s.id(s.l.FailureQueue), "Arn")}
	want := map[string][]statement{
		// /install touches no table and no data key.
		config.FunctionInstall:       common(config.FunctionInstall),
		config.FunctionCallback:      append(common(config.FunctionCallback), items, kms),
		config.FunctionChats:         append(common(config.FunctionChats), items, kms),
		config.FunctionRefresh:       append(common(config.FunctionRefresh), items, due, kms, failures),
		config.FunctionWebhook:       append(common(config.FunctionWebhook), items, org, kms),
		config.FunctionInstallations: append(common(config.FunctionInstallations), list, kms),
	}
	policies := s.ofType("AWS::IAM::Policy")
	for fn, wantStmts := range want {
		t.Run(fn, func(t *testing.T) {
			roleID := s.id(s.l.Roles[fn])
			role := s.props(roleID)
			if _, ok := role["ManagedPolicyArns"]; ok {
				t.Errorf("role has managed policies: %s", show(role["ManagedPolicyArns"]))
			}
			if _, ok := role["Policies"]; ok {
				t.Errorf("role has inline policies: %s", show(role["Policies"]))
			}
			if !strings.Contains(show(role["AssumeRolePolicyDocument"]), `"Service":"lambda.amazonaws.com"`) {
				t.Errorf("role trust = %s, want lambda.amazonaws.com", show(role["AssumeRolePolicyDocument"]))
			}
			var got []statement
			for _, p := range policies {
				props := p["Properties"].(map[string]any)
				if !equal(props["Roles"], []any{ref(roleID)}) {
					if strings.Contains(show(props["Roles"]), roleID) {
						t.Errorf("policy shared with other roles: %s", show(props["Roles"]))
					}
					continue
				}
				for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					m := st.(map[string]any)
					if m["Effect"] != "Allow" || m["Condition"] != nil || m["NotAction"] != nil || m["NotResource"] != nil {
						t.Errorf("unexpected statement shape: %s", show(m))
					}
					sid, _ := m["Sid"].(string)
					got = append(got, statement{sid, sortedStrs(m["Action"]), m["Resource"]})
				}
			}
			sortStatements(got)
			sortStatements(wantStmts)
			if !equal(got, wantStmts) {
				t.Errorf("statements:\n got %s\nwant %s", show(got), show(wantStmts))
			}
		})
	}
}

func sortStatements(st []statement) {
	sort.Slice(st, func(i, j int) bool {
		return st[i].Sid+strings.Join(st[i].Actions, ",") < st[j].Sid+strings.Join(st[j].Actions, ",")
	})
}

func TestStack_NoWildcardActionsAnywhere(t *testing.T) {
	for _, s := range []*synthesized{defaultStack(t), customStack(t)} {
		for id, r := range s.resources() {
			var walk func(v any)
			walk = func(v any) {
				switch x := v.(type) {
				case map[string]any:
					for k, e := range x {
						if k == "Action" || k == "NotAction" {
							for _, a := range strs(e) {
								// The account-root statement of a key policy (kms:*) is CDK's default and
								// what lets IAM policies grant the key at all; nothing else may wildcard.
								// A Deny (the TLS-only policies of the topic and the queue) may cover everything.
								if strings.Contains(a, "*") && x["Effect"] != "Deny" && !(a == "kms:*" && strings.Contains(show(x["Principal"]), ":root")) {
									t.Errorf("%s: wildcard action %q", id, a)
								}
							}
						}
						walk(e)
					}
				case []any:
					for _, e := range x {
						walk(e)
					}
				}
			}
			walk(r["Properties"])
		}
	}
}

// TestStack_EachSecretIsReadableOnlyByItsFunctions: the webhook secret by the webhook function only, the
// state key by install and callback only, the client secret by the functions that call the token
// endpoint (callback, chats, refresh) only: never install, the webhook or /installations.
func TestStack_EachSecretIsReadableOnlyByItsFunctions(t *testing.T) {
	s := defaultStack(t)
	allowed := map[string][]string{
		s.id(s.l.WebhookSecret): {config.FunctionWebhook},
		s.id(s.l.StateKey):      {config.FunctionInstall, config.FunctionCallback},
		s.id(s.l.Secret):        {config.FunctionCallback, config.FunctionChats, config.FunctionRefresh},
	}
	readers := map[string][]string{}
	for id, p := range s.ofType("AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			if !strings.Contains(show(m["Action"]), "secretsmanager:") {
				continue
			}
			fn := ""
			for name, role := range s.l.Roles {
				if equal(props["Roles"], []any{ref(s.id(role))}) {
					fn = name
				}
			}
			if fn == "" {
				t.Errorf("policy %s grants a secret to something other than one function's role", id)
			}
			for secret := range allowed {
				if equal(m["Resource"], ref(secret)) {
					readers[secret] = append(readers[secret], fn)
				}
			}
		}
	}
	for secret, want := range allowed {
		got := slices.Sorted(slices.Values(readers[secret]))
		if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s is readable by %v, want exactly %v", secret, got, want)
		}
	}
	// Issue 12: the install function signs the state with its own key and cannot read the client secret.
	if slices.Contains(readers[s.id(s.l.Secret)], config.FunctionInstall) {
		t.Error("install can read the client secret")
	}
}

func TestStack_RoutesMapToTheirFunctions(t *testing.T) {
	s := defaultStack(t)
	fnByIntegration := map[string]string{}
	for id, in := range s.ofType("AWS::ApiGatewayV2::Integration") {
		p := in["Properties"].(map[string]any)
		if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" {
			t.Errorf("integration %s: type %v payload %v, want AWS_PROXY 2.0", id, p["IntegrationType"], p["PayloadFormatVersion"])
		}
		for name, fn := range s.l.Functions {
			if equal(p["IntegrationUri"], getAtt(s.id(fn), "Arn")) {
				fnByIntegration[id] = name
			}
		}
	}
	got := map[string]string{}
	for id, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		p := r["Properties"].(map[string]any)
		if p["AuthorizationType"] != "NONE" {
			t.Errorf("route %s: AuthorizationType %v", id, p["AuthorizationType"])
		}
		var target string
		for integ := range fnByIntegration {
			if equal(p["Target"], joinOf("integrations/", ref(integ))) {
				target = fnByIntegration[integ]
			}
		}
		got[p["RouteKey"].(string)] = target
	}
	want := map[string]string{}
	for _, r := range httpapi.Routes() {
		want[r.Method+" "+r.Path] = r.Function
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes = %v, want %v", got, want)
	}
}

func TestStack_DefaultStageThrottlesAndLogsWithoutSecrets(t *testing.T) {
	for _, tt := range []struct {
		name        string
		s           *synthesized
		rate, burst float64
	}{{"default", defaultStack(t), 50, 100}, {"custom", customStack(t), 20, 40}} {
		t.Run(tt.name, func(t *testing.T) {
			stages := tt.s.ofType("AWS::ApiGatewayV2::Stage")
			if len(stages) != 1 {
				t.Fatalf("got %d stages, want 1", len(stages))
			}
			p := tt.s.props(tt.s.id(tt.s.l.Stage))
			if p["StageName"] != "$default" || p["AutoDeploy"] != true {
				t.Errorf("stage %v autoDeploy %v, want $default, true", p["StageName"], p["AutoDeploy"])
			}
			if !equal(p["DefaultRouteSettings"], map[string]any{"ThrottlingRateLimit": tt.rate, "ThrottlingBurstLimit": tt.burst}) {
				t.Errorf("DefaultRouteSettings = %s", show(p["DefaultRouteSettings"]))
			}
			logs := p["AccessLogSettings"].(map[string]any)
			// The log group's ARN without the ":*" (API Gateway stores it without: drift otherwise).
			dest := show(logs["DestinationArn"])
			if !strings.Contains(dest, `:log-group:",{"Ref":"`+tt.s.id(tt.s.l.AccessLogs)+`"}]]}`) || strings.Contains(dest, ":*") {
				t.Errorf("access logs go to %s, want the access log group's ARN ending in its name", dest)
			}
			format := logs["Format"].(string)
			// $context.error.messageString is already a quoted JSON string (a raw message could break
			// the line); stand in a string for it to parse the rest.
			if !strings.Contains(format, `"error":$context.error.messageString}`) || strings.Contains(format, "$context.error.message\"") {
				t.Errorf("access log format does not use the JSON-safe $context.error.messageString: %s", format)
			}
			var fields map[string]string
			if err := json.Unmarshal([]byte(strings.ReplaceAll(format, "$context.error.messageString", `"m"`)), &fields); err != nil {
				t.Fatalf("access log format is not JSON: %v", err)
			}
			if fields["requestId"] != "$context.requestId" || fields["status"] != "$context.status" {
				t.Errorf("access log format lacks requestId/status: %s", format)
			}
			for _, leak := range []string{"querystring", "header", "authorizer", "$context.identity.apiKey"} {
				if strings.Contains(strings.ToLower(format), strings.ToLower(leak)) {
					t.Errorf("access log format logs %s, which can carry the code or the API key", leak)
				}
			}
		})
	}
}

// TestStack_EachRouteHasItsClassThrottle: the unauthenticated routes (install, callback, webhook) and
// the key-authenticated ones (chats, installations) have separate limits, so one class cannot starve
// the other; the stage waits for the routes its settings name.
func TestStack_EachRouteHasItsClassThrottle(t *testing.T) {
	for _, tt := range []struct {
		name           string
		s              *synthesized
		public, client Throttle
	}{{"default", defaultStack(t), Throttle{10, 20}, Throttle{40, 80}}, {"custom", customStack(t), Throttle{5, 7}, Throttle{30, 60}}} {
		t.Run(tt.name, func(t *testing.T) {
			stageID := tt.s.id(tt.s.l.Stage)
			got := tt.s.props(stageID)["RouteSettings"]
			want := map[string]any{}
			for _, r := range httpapi.Routes() {
				th := tt.client
				if slices.Contains([]string{config.FunctionInstall, config.FunctionCallback, config.FunctionWebhook}, r.Function) {
					th = tt.public
				}
				want[r.Method+" "+r.Path] = map[string]any{"ThrottlingRateLimit": th.Rate, "ThrottlingBurstLimit": th.Burst}
			}
			if !equal(got, want) {
				t.Errorf("RouteSettings = %s\nwant %s", show(got), show(want))
			}
			deps := toStrings(tt.s.resources()[stageID]["DependsOn"])
			for _, r := range tt.s.l.RouteList {
				if !slices.Contains(deps, tt.s.id(r.Route)) {
					t.Errorf("stage does not depend on route %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

func TestStack_ScheduleInvokesRefreshDeliberately(t *testing.T) {
	for _, tt := range []struct {
		name           string
		s              *synthesized
		rate           string
		seconds        float64
		fanOut, ruleCt int
	}{{"default", defaultStack(t), "rate(15 minutes)", 900, 1, 1}, {"custom", customStack(t), "rate(10 minutes)", 600, 8, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			refreshFn := s.l.Functions[config.FunctionRefresh]
			if len(s.l.Schedules) != tt.ruleCt || len(s.ofType("AWS::Events::Rule")) != tt.ruleCt {
				t.Fatalf("got %d rules, want %d", len(s.l.Schedules), tt.ruleCt)
			}
			var lists [][]int
			for _, sched := range s.l.Schedules {
				rule := s.props(s.id(sched))
				if rule["ScheduleExpression"] != tt.rate || rule["State"] != "ENABLED" {
					t.Errorf("schedule %v state %v, want %s ENABLED", rule["ScheduleExpression"], rule["State"], tt.rate)
				}
				for _, tg := range rule["Targets"].([]any) {
					target := tg.(map[string]any)
					if !equal(target["Arn"], getAtt(s.id(refreshFn), "Arn")) {
						t.Errorf("target = %s, want the refresh function", show(target["Arn"]))
					}
					if !equal(target["RetryPolicy"], map[string]any{"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": tt.seconds}) {
						t.Errorf("RetryPolicy = %s", show(target["RetryPolicy"]))
					}
					if !equal(target["DeadLetterConfig"], map[string]any{"Arn": getAtt(s.id(s.l.FailureQueue), "Arn")}) {
						t.Errorf("DeadLetterConfig = %s, want the failure queue", show(target["DeadLetterConfig"]))
					}
					input, ok := target["Input"].(string)
					if tt.fanOut == 1 {
						if ok {
							t.Errorf("fan-out 1: target has input %s, want the schedule's own event (every shard)", input)
						}
						continue
					}
					var ev struct{ Shards []int }
					if err := json.Unmarshal([]byte(input), &ev); err != nil {
						t.Fatalf("target input %q: %v", input, err)
					}
					lists = append(lists, ev.Shards)
				}
			}
			if tt.fanOut > 1 {
				checkShardLists(t, lists, tt.fanOut)
			}
			configs := s.ofType("AWS::Lambda::EventInvokeConfig")
			if len(configs) != 1 {
				t.Fatalf("got %d EventInvokeConfigs, want 1 (refresh)", len(configs))
			}
			for _, c := range configs {
				p := c["Properties"].(map[string]any)
				onFailure := map[string]any{"OnFailure": map[string]any{"Destination": getAtt(s.id(s.l.FailureQueue), "Arn")}}
				if !equal(p["FunctionName"], ref(s.id(refreshFn))) || p["MaximumRetryAttempts"] != float64(0) || p["MaximumEventAgeInSeconds"] != tt.seconds ||
					!equal(p["DestinationConfig"], onFailure) {
					t.Errorf("EventInvokeConfig = %s", show(p))
				}
			}
			perms := 0
			for _, p := range s.ofType("AWS::Lambda::Permission") {
				props := p["Properties"].(map[string]any)
				if props["Principal"] == "events.amazonaws.com" {
					perms++
					if !equal(props["FunctionName"], getAtt(s.id(refreshFn), "Arn")) || !strings.Contains(show(props["SourceArn"]), "RefreshSchedule") {
						t.Errorf("events permission = %s", show(props))
					}
				}
			}
			if perms != tt.ruleCt {
				t.Errorf("%d EventBridge permissions, want %d", perms, tt.ruleCt)
			}
		})
	}
}

// checkShardLists: fanOut lists, disjoint, together every shard of the due index once.
func checkShardLists(t *testing.T, lists [][]int, fanOut int) {
	t.Helper()
	if len(lists) != fanOut {
		t.Errorf("%d invocations per pass, want %d", len(lists), fanOut)
	}
	seen := map[int]int{}
	for _, l := range lists {
		if len(l) != store.DueShards/fanOut {
			t.Errorf("shard list %v has %d shards, want %d", l, len(l), store.DueShards/fanOut)
		}
		for _, sh := range l {
			seen[sh]++
		}
	}
	for sh := range store.DueShards {
		if seen[sh] != 1 {
			t.Errorf("shard %d is in %d lists, want exactly 1", sh, seen[sh])
		}
	}
}

func TestShardLists_EveryFanOutSplitsTheShardsDisjointly(t *testing.T) {
	for _, n := range fanOuts {
		checkShardLists(t, ShardLists(n), n)
	}
}

func TestStack_AlarmsWatchFunctionsAPIAndRefreshMetrics(t *testing.T) {
	s := defaultStack(t)
	topic := ref(s.id(s.l.Topic))
	byName := map[string]map[string]any{}
	for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]any)
		byName[p["AlarmName"].(string)] = p
		if !equal(p["AlarmActions"], []any{topic}) || !equal(p["OKActions"], []any{topic}) {
			t.Errorf("alarm %v does not notify the topic on alarm and OK", p["AlarmName"])
		}
		if d, _ := p["AlarmDescription"].(string); len(d) < 40 {
			t.Errorf("alarm %v: description %q does not say what it means", p["AlarmName"], d)
		}
	}
	type want struct {
		Namespace, Metric, Op, Missing, Statistic string
		Dims                                      any
		Period, Threshold, Periods                float64
	}
	fnDims := func(fn string) any {
		return []any{map[string]any{"Name": "FunctionName", "Value": ref(s.id(s.l.Functions[fn]))}}
	}
	// The contract with the refresher, spelled out: namespace lcauth, Service = this stack's name.
	emf := []any{map[string]any{"Name": "Service", "Value": "Lcauth"}}
	const ge, gt = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"
	wants := map[string]want{
		"Lcauth-Api5xx":                  {"AWS/ApiGateway", "5xx", ge, "notBreaching", "Sum", []any{map[string]any{"Name": "ApiId", "Value": ref(s.id(s.l.API))}}, 300, 1, 1},
		"Lcauth-RefreshPassFailed":       {"lcauth", "PassFailed", ge, "notBreaching", "Sum", emf, 900, 1, 1},
		"Lcauth-ReauthorizationRequired": {"lcauth", "ReauthorizationRequired", ge, "notBreaching", "Sum", emf, 900, 1, 1},
		// Two passes in a row with installations left over.
		"Lcauth-RefreshLeftForNextPass": {"lcauth", "LeftForNextPass", gt, "notBreaching", "Sum", emf, 900, 0, 2},
		// 80% of the 300 s timeout, in milliseconds.
		"Lcauth-RefreshPassSlow":       {"lcauth", "DurationMs", gt, "notBreaching", "Maximum", emf, 900, 240000, 1},
		"Lcauth-RefreshNotRunning":     {"AWS/Lambda", "Invocations", "LessThanThreshold", "breaching", "Sum", fnDims(config.FunctionRefresh), 1800, 1, 1},
		"Lcauth-RefreshFailuresQueued": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", ge, "notBreaching", "Maximum", []any{map[string]any{"Name": "QueueName", "Value": getAtt(s.id(s.l.FailureQueue), "QueueName")}}, 300, 1, 1},
	}
	for _, spec := range functionSpecs {
		wants["Lcauth-"+titleCase(spec.Name)+"Errors"] = want{"AWS/Lambda", "Errors", ge, "notBreaching", "Sum", fnDims(spec.Name), 300, 1, 1}
		wants["Lcauth-"+titleCase(spec.Name)+"Throttles"] = want{"AWS/Lambda", "Throttles", ge, "notBreaching", "Sum", fnDims(spec.Name), 300, 1, 1}
	}
	if len(byName) != len(wants) {
		t.Errorf("got %d alarms, want %d", len(byName), len(wants))
	}
	for name, w := range wants {
		p, ok := byName[name]
		if !ok {
			t.Errorf("alarm %s missing", name)
			continue
		}
		got := want{p["Namespace"].(string), p["MetricName"].(string), p["ComparisonOperator"].(string), p["TreatMissingData"].(string),
			fmt.Sprint(p["Statistic"]), p["Dimensions"], p["Period"].(float64), p["Threshold"].(float64), p["EvaluationPeriods"].(float64)}
		if !equal(got, w) || p["DatapointsToAlarm"] != p["EvaluationPeriods"] {
			t.Errorf("alarm %s = %s\nwant %s", name, show(p), show(w))
		}
	}
	// Another stack in the same account watches its own metrics only.
	for _, a := range customStack(t).ofType("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]any)
		if p["Namespace"] == "lcauth" && !equal(p["Dimensions"], []any{map[string]any{"Name": "Service", "Value": "LcauthStaging"}}) {
			t.Errorf("LcauthStaging alarm %v watches %s", p["AlarmName"], show(p["Dimensions"]))
		}
	}
}

func TestStack_AlarmTopicIsEncryptedAndPublishableByCloudWatch(t *testing.T) {
	s := defaultStack(t)
	p := s.props(s.id(s.l.Topic))
	if !equal(p["KmsMasterKeyId"], getAtt(s.id(s.l.AlarmKey), "Arn")) {
		t.Errorf("topic key = %s, want the alarm key", show(p["KmsMasterKeyId"]))
	}
	var policy map[string]any
	for _, tp := range s.ofType("AWS::SNS::TopicPolicy") {
		policy = tp["Properties"].(map[string]any)
	}
	doc := show(policy)
	for _, want := range []string{`"aws:SecureTransport":"false"`, `"Service":"cloudwatch.amazonaws.com"`, `"aws:SourceAccount"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("topic policy %s lacks %s", doc, want)
		}
	}
	keyDoc := show(s.props(s.id(s.l.AlarmKey))["KeyPolicy"])
	if !strings.Contains(keyDoc, `"Service":"cloudwatch.amazonaws.com"`) || !strings.Contains(keyDoc, "kms:GenerateDataKey") {
		t.Errorf("alarm key policy %s does not let CloudWatch publish", keyDoc)
	}
	if n := len(s.ofType("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("default stack has %d subscriptions, want none", n)
	}
	c := customStack(t)
	subs := c.ofType("AWS::SNS::Subscription")
	if len(subs) != 1 {
		t.Fatalf("custom stack has %d subscriptions, want 1", len(subs))
	}
	for _, sub := range subs {
		sp := sub["Properties"].(map[string]any)
		if sp["Protocol"] != "email" || sp["Endpoint"] != "ops@example.com" || !equal(sp["TopicArn"], ref(c.id(c.l.Topic))) {
			t.Errorf("subscription = %s", show(sp))
		}
	}
}

func TestStack_CustomDomainIsOptional(t *testing.T) {
	if n := len(defaultStack(t).ofType("AWS::ApiGatewayV2::DomainName")); n != 0 {
		t.Errorf("default stack has %d domain names, want 0", n)
	}
	s := customStack(t)
	domains := s.ofType("AWS::ApiGatewayV2::DomainName")
	if len(domains) != 1 {
		t.Fatalf("got %d domain names, want 1", len(domains))
	}
	// The execute-api URL is off with a custom domain (the state cookie is per host), on without one.
	if got := s.props(s.id(s.l.API))["DisableExecuteApiEndpoint"]; got != true {
		t.Errorf("custom domain: DisableExecuteApiEndpoint = %v, want true", got)
	}
	if got := defaultStack(t).props(defaultStack(t).id(defaultStack(t).l.API))["DisableExecuteApiEndpoint"]; got == true {
		t.Error("default stack disables its only endpoint")
	}
	p := s.props(s.id(s.l.Domain))
	cfg := p["DomainNameConfigurations"].([]any)[0].(map[string]any)
	if p["DomainName"] != "auth.example.com" || !strings.HasSuffix(cfg["CertificateArn"].(string), "certificate/11111111-2222-3333-4444-555555555555") ||
		cfg["EndpointType"] != "REGIONAL" || cfg["SecurityPolicy"] != "TLS_1_2" {
		t.Errorf("domain = %s", show(p))
	}
	maps := s.ofType("AWS::ApiGatewayV2::ApiMapping")
	if len(maps) != 1 {
		t.Fatalf("got %d API mappings, want 1", len(maps))
	}
	for _, m := range maps {
		mp := m["Properties"].(map[string]any)
		if !equal(mp["ApiId"], ref(s.id(s.l.API))) || mp["Stage"] != "$default" || !equal(mp["DomainName"], ref(s.id(s.l.Domain))) {
			t.Errorf("mapping = %s", show(mp))
		}
	}
	outs := s.doc["Outputs"].(map[string]any)
	if v := outs["RedirectUri"].(map[string]any)["Value"]; v != "https://auth.example.com/callback" {
		t.Errorf("RedirectUri = %s", show(v))
	}
	if v := outs["CustomDomainTarget"].(map[string]any)["Value"]; !equal(v, getAtt(s.id(s.l.Domain), "RegionalDomainName")) {
		t.Errorf("CustomDomainTarget = %s", show(v))
	}
}

func TestStack_OutputsTellTheOperatorWhatToDo(t *testing.T) {
	s := defaultStack(t)
	api, secret := s.id(s.l.API), s.id(s.l.Secret)
	want := map[string]any{
		"InstallUrl":      joinOf(getAtt(api, "ApiEndpoint"), "/install"),
		"RedirectUri":     joinOf(getAtt(api, "ApiEndpoint"), "/callback"),
		"ClientSecretArn": ref(secret),
		"SetSecretCommand": joinOf("aws secretsmanager put-secret-value --region ", ref("AWS::Region"),
			" --secret-id ", ref(secret), " --secret-string file:///dev/stdin"),
		"TableName":              ref(s.id(s.l.Table)),
		"AlarmTopicArn":          ref(s.id(s.l.Topic)),
		"WebhookEndpoint":        joinOf(getAtt(api, "ApiEndpoint"), "/webhooks/livechat"),
		"WebhookSecretArn":       ref(s.id(s.l.WebhookSecret)),
		"RefreshFailureQueueUrl": ref(s.id(s.l.FailureQueue)),
		"DashboardName":          ref(s.id(s.l.Dashboard)),
	}
	outs := s.doc["Outputs"].(map[string]any)
	for name, v := range want {
		o, ok := outs[name].(map[string]any)
		if !ok {
			t.Errorf("output %s missing", name)
			continue
		}
		if !equal(o["Value"], v) {
			t.Errorf("output %s = %s, want %s", name, show(o["Value"]), show(v))
		}
	}
	if u := show(outs["ApiUrl"]); !strings.Contains(u, api) {
		t.Errorf("ApiUrl = %s, want the API's URL", u)
	}
	if _, ok := outs["CustomDomainTarget"]; ok {
		t.Error("default stack outputs a custom domain target")
	}
}

func TestStack_NagAwsSolutionsHasNoUnsuppressedErrors(t *testing.T) {
	for _, s := range []*synthesized{defaultStack(t), customStack(t)} {
		ann := assertions.Annotations_FromStack(s.l.Stack)
		errs := ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("unsuppressed cdk-nag error: %.400s", show(e))
		}
		warns := ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, w := range *warns {
			t.Errorf("cdk-nag warning: %.400s", show(w))
		}
	}
}

// TestStack_NagSuppressionsAreTheReviewedOnes pins the list of suppressions: adding one is a
// deliberate change to this test, each with a rule and a reason specific to lcauth.
func TestStack_NagSuppressionsAreTheReviewedOnes(t *testing.T) {
	s := defaultStack(t)
	got := map[string]string{}
	for _, r := range s.resources() {
		md, _ := r["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		rules, _ := nag["rules_to_suppress"].([]any)
		for _, rule := range rules {
			m := rule.(map[string]any)
			reason, _ := m["reason"].(string)
			if len(reason) < 80 || !strings.Contains(reason, " ") {
				t.Errorf("%s on %s: reason %q is not a real reason", m["id"], md["aws:cdk:path"], reason)
			}
			got[md["aws:cdk:path"].(string)] = m["id"].(string) + " " + strings.Join(toStrings(m["applies_to"]), ",")
		}
	}
	want := map[string]string{
		"Lcauth/ClientSecret/Resource":    "AwsSolutions-SMG4 ",
		"Lcauth/WebhookSecret/Resource":   "AwsSolutions-SMG4 ",
		"Lcauth/StateKey/Resource":        "AwsSolutions-SMG4 ",
		"Lcauth/RefreshFailures/Resource": "AwsSolutions-SQS3 ",
	}
	for _, r := range httpapi.Routes() {
		want["Lcauth/Api/"+r.Method+strings.ReplaceAll(r.Path, "/", "--")+"/Resource"] = "AwsSolutions-APIG4 "
	}
	for _, spec := range functionSpecs {
		want["Lcauth/"+titleCase(spec.Name)+"Role/DefaultPolicy/Resource"] = "AwsSolutions-IAM5 Resource::*"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("suppressions:\n got %v\nwant %v", got, want)
	}
}
