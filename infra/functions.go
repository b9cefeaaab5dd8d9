package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
	"lcauth/internal/store"
)

// Names of the variables that carry the stack's generated secrets (issues 11 and 12). The state key's
// is mapped by name, so the stack sets it as soon as internal/config lists it for a function.
const (
	EnvWebhookSecretARN = config.EnvWebhookSecretARN
	EnvStateKeyARN      = "LCAUTH_STATE_KEY_ARN"
)

// functionSpec sizes one Lambda function and lists exactly what its role may do on the table. Which
// secrets it may read follows its environment (see secretGrants).
type functionSpec struct {
	Name, Description string
	MemoryMB          int
	Timeout           time.Duration
	// TableActions are DynamoDB actions on the table itself; IndexActions on one index each.
	TableActions []string
	IndexActions map[string][]string
	// UsesKey: the function reads the table (encrypted under the data key) or seals/opens tokens.
	UsesKey bool
}

// DynamoDB actions the store issues (internal/store.DynamoDBAPI): reads with GetItem, every write is
// a conditional UpdateItem, the refresher Queries the due index, the webhook the organization index.
// DeleteItem is used only by operator tooling, never by a function, so no role gets it.
var (
	itemActions  = []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}
	queryActions = []string{"dynamodb:Query"}
	// listActions: GET /installations reads one page of the table per request (a Scan page bounded by
	// its limit) besides the service key's GetItem/UpdateItem.
	listActions = []string{"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"}
	// keyActions cover both uses of the data key: envelope sealing of tokens (GenerateDataKey for a
	// data key, Decrypt to open it) and DynamoDB server-side encryption under the same customer managed
	// key, which needs Decrypt/Encrypt/GenerateDataKey/DescribeKey of the caller. No ReEncrypt*, no
	// wildcards.
	keyActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
)

// functionSpecs: the HTTP functions get 256 MB for CPU (Lambda scales CPU with memory; Go is small
// either way) and timeouts below API Gateway's 30 s integration limit, long enough for LiveChat's
// 10 s per-call timeout plus KMS and DynamoDB. The refresher has minutes for a whole pass; concurrent
// passes are safe (leases, version-checked writes), so it reserves no concurrency by default.
var functionSpecs = []functionSpec{
	{Name: config.FunctionInstall, Description: "lcauth GET /install: starts the LiveChat OAuth flow", MemoryMB: 256, Timeout: 10 * time.Second},
	{Name: config.FunctionCallback, Description: "lcauth GET /callback: exchanges the code and saves the installation", MemoryMB: 256, Timeout: 25 * time.Second,
		TableActions: itemActions, UsesKey: true},
	{Name: config.FunctionChats, Description: "lcauth GET/POST /chats: List Chats for an installation", MemoryMB: 256, Timeout: 28 * time.Second,
		TableActions: itemActions, UsesKey: true},
	{Name: config.FunctionRefresh, Description: "lcauth scheduled refresh pass: keeps every installation's tokens valid", MemoryMB: 512, Timeout: 5 * time.Minute,
		TableActions: itemActions, IndexActions: map[string][]string{store.DueIndexName: queryActions}, UsesKey: true},
	{Name: config.FunctionWebhook, Description: "lcauth POST /webhooks/livechat: LiveChat App Webhooks (uninstall)", MemoryMB: 256, Timeout: 28 * time.Second,
		TableActions: itemActions, IndexActions: map[string][]string{store.OrganizationIndexName: queryActions}, UsesKey: true},
	{Name: config.FunctionInstallations, Description: "lcauth GET /installations: lists installations for a service key", MemoryMB: 256, Timeout: 15 * time.Second,
		TableActions: listActions, UsesKey: true},
}

func specOf(name string) functionSpec {
	for _, s := range functionSpecs {
		if s.Name == name {
			return s
		}
	}
	panic("no function spec " + name)
}

// addFunctions builds every function with its environment, checked by the code's own configuration.
func (l *Lcauth) addFunctions(stack awscdk.Stack, s Settings, stackValues map[string]*string, keep awscdk.RemovalPolicy) error {
	examples := exampleValues(s)
	for _, spec := range functionSpecs {
		env, err := functionEnv(spec.Name, config.ForFunction(spec.Name), stackValues, s.FunctionEnv)
		if err != nil {
			return err
		}
		if err := validateEnv(spec.Name, env, examples); err != nil {
			return err
		}
		l.Environment[spec.Name] = env
		l.addFunction(stack, spec, s, env, keep)
	}
	return nil
}

// addFunction creates one function with its own role, log group and exactly the grants its spec and
// environment call for. The role is ours (not the CDK default) so it carries no AWS managed policy:
// logging is granted on the function's own log group only.
func (l *Lcauth) addFunction(stack awscdk.Stack, spec functionSpec, s Settings, env map[string]*string, keep awscdk.RemovalPolicy) {
	id := titleCase(spec.Name)
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retentionOf(s.LogRetentionDays),
		RemovalPolicy: keep,
	})
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("lcauth " + spec.Name + " function"),
	})
	allow := func(sid string, actions []string, resources ...string) {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
		}))
	}
	allow("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, *logs.LogGroupArn())
	for _, g := range l.secretGrants() {
		if _, ok := env[g.envName]; ok {
			allow(g.sid, []string{"secretsmanager:GetSecretValue"}, *g.arn)
		}
	}
	if len(spec.TableActions) > 0 {
		allow("Installations", spec.TableActions, *l.Table.TableArn())
	}
	for _, ix := range sortedKeys(spec.IndexActions) {
		allow(titleCase(ix)+"Index", spec.IndexActions[ix], *join(l.Table.TableArn(), "/index/"+ix))
	}
	if spec.UsesKey {
		allow("DataKey", keyActions, *l.DataKey.KeyArn())
	}
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), l.functionProps(spec, s, env, role, logs))
	l.Functions[spec.Name] = fn
	l.Roles[spec.Name] = role
	l.LogGroups[spec.Name] = logs
}

// secretGrant is one of the stack's secrets and the variable through which a function learns its ARN.
type secretGrant struct {
	sid, envName string
	arn          *string
}

// secretGrants: a function may read a secret exactly when its environment names it, so the grants
// follow internal/config (install stops reading the client secret when config stops giving it).
func (l *Lcauth) secretGrants() []secretGrant {
	return []secretGrant{
		{"ReadClientSecret", config.EnvClientSecretARN, l.Secret.SecretArn()},
		{"ReadWebhookSecret", EnvWebhookSecretARN, l.WebhookSecret.SecretArn()},
		{"ReadStateKey", EnvStateKeyARN, l.StateKey.SecretArn()},
	}
}

func (l *Lcauth) functionProps(spec functionSpec, s Settings, env map[string]*string, role awsiam.Role, logs awslogs.LogGroup) *awslambda.FunctionProps {
	props := &awslambda.FunctionProps{
		Description:   jsii.String(spec.Description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(s.AssetDir, spec.Name)), nil),
		MemorySize:    jsii.Number(float64(spec.MemoryMB)),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(spec.Timeout.Seconds())),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		// The code filters its own lines by LCAUTH_LOG_LEVEL. Lambda's own filter never goes above
		// INFO: the metric lines (EMF) carry no level, count as INFO, and must never be dropped.
		ApplicationLogLevelV2: lambdaLogLevel(s.FunctionEnv[config.EnvLogLevel]),
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           &env,
	}
	if spec.Name != config.FunctionRefresh {
		return props
	}
	if s.RefreshReserved > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(s.RefreshReserved))
	}
	// Asynchronous invocations (the schedule): a failed pass is not retried, because the next scheduled
	// pass re-reads whatever is still due and a retry would only add LiveChat calls. An event older than
	// one interval is dropped (the next pass supersedes it). A failed or dropped invocation goes to the
	// failure queue instead of disappearing.
	props.RetryAttempts = jsii.Number(0)
	props.MaxEventAge = awscdk.Duration_Seconds(jsii.Number(clamp(s.RefreshEvery, time.Minute, 6*time.Hour).Seconds()))
	props.OnFailure = awslambdadestinations.NewSqsDestination(l.FailureQueue)
	return props
}

// functionEnv maps every variable a function reads to its value in the stack. Stack-derived values
// win; variables with a default are set only when overridden from context (the code applies the
// default). A variable with neither is a synthesis error, so a new required variable in
// internal/config cannot be forgotten here.
func functionEnv(fn string, vars []config.Var, stackValues map[string]*string, overrides map[string]string) (map[string]*string, error) {
	env := map[string]*string{}
	var missing []string
	for _, v := range vars {
		if v.Secret {
			return nil, fmt.Errorf("function %s: variable %s is marked secret and must never be set in a template", fn, v.Name)
		}
		if val, ok := stackValues[v.Name]; ok && val != nil {
			env[v.Name] = val
			continue
		}
		if val, ok := overrides[v.Name]; ok {
			env[v.Name] = jsii.String(val)
			continue
		}
		if v.Default == "" {
			missing = append(missing, v.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("function %s needs %s, which the stack does not provide and which has no default (map it in infra/stack.go)",
			fn, strings.Join(missing, ", "))
	}
	return env, nil
}

// validateEnv runs the code's own configuration check (config.LoadFor) on a function's environment,
// with deploy-time values (tokens) replaced by examples, so a bad override such as LCAUTH_PKCE=sha
// fails `cdk synth` instead of every cold start.
func validateEnv(fn string, env map[string]*string, examples map[string]string) error {
	getenv := func(name string) string {
		v, ok := env[name]
		if !ok || v == nil {
			return ""
		}
		if *awscdk.Token_IsUnresolved(v) {
			if ex, ok := examples[name]; ok {
				return ex
			}
			return "example"
		}
		return *v
	}
	if _, err := config.LoadFor(getenv, fn); err != nil {
		return fmt.Errorf("function %s: %w", fn, err)
	}
	return nil
}

func exampleValues(s Settings) map[string]string {
	base := "https://abcdef1234.execute-api.us-east-1.amazonaws.com"
	if s.DomainName != "" {
		base = "https://" + s.DomainName
	}
	return map[string]string{
		config.EnvRedirectURL:     base + "/callback",
		config.EnvInstallURL:      base + "/install",
		config.EnvClientSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:ClientSecret-abcdef",
		EnvWebhookSecretARN:       "arn:aws:secretsmanager:us-east-1:123456789012:secret:WebhookSecret-abcdef",
		EnvStateKeyARN:            "arn:aws:secretsmanager:us-east-1:123456789012:secret:StateKey-abcdef",
		config.EnvTable:           "Lcauth-Table-ABCDEF",
		config.EnvKMSKeyID:        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
	}
}

// checkAssets fails early, with the command that fixes it, when a function was not built.
func checkAssets(dir string) error {
	var missing []string
	for _, spec := range functionSpecs {
		p := filepath.Join(dir, spec.Name, "bootstrap")
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return errors.New("function binaries not found: " + strings.Join(missing, ", ") + " (run `make build` first, or pass -c " + CtxAssetDir + "=<dir>)")
	}
	return nil
}

// lambdaLogLevel is Lambda's application log level: INFO, or DEBUG when the code logs at debug. Never
// higher, whatever LCAUTH_LOG_LEVEL says: Lambda would drop the metric lines with the INFO lines.
func lambdaLogLevel(level string) awslambda.ApplicationLogLevel {
	if strings.EqualFold(strings.TrimSpace(level), "debug") {
		return awslambda.ApplicationLogLevel_DEBUG
	}
	return awslambda.ApplicationLogLevel_INFO
}
