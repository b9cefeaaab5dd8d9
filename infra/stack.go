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
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
	"lcauth/internal/refresh"
	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// Names of the custom metrics the refresher emits in CloudWatch embedded metric format (EMF) and the
// alarms watch, taken from internal/refresh so the two cannot drift: namespace "lcauth", one
// dimension Service=lcauth, unit Count.
const (
	MetricNamespace = refresh.MetricsNamespace
	// MetricPassFailed is 1 for every refresh pass that fails as a whole.
	MetricPassFailed = refresh.MetricPassFailed
	// MetricReauthorizationRequired counts installations newly marked as needing re-authorization.
	MetricReauthorizationRequired = refresh.MetricReauthorizationRequired
	// MetricDimension and MetricService are the one dimension on both metrics.
	MetricDimension = refresh.MetricDimension
	MetricService   = refresh.MetricService
)

// Routes are the HTTP API's routes and the function serving each.
var Routes = []struct{ Method, Path, Function string }{
	{"GET", "/install", config.FunctionInstall},
	{"GET", "/callback", config.FunctionCallback},
	{"GET", "/chats", config.FunctionChats},
	{"POST", "/chats", config.FunctionChats},
}

// functionSpec sizes one Lambda function and lists exactly what its role may do.
type functionSpec struct {
	Name, Description string
	MemoryMB          int
	Timeout           time.Duration
	// ReservedConcurrency > 0 caps concurrent executions.
	ReservedConcurrency int
	// TableActions are DynamoDB actions on the table itself; IndexActions on the "due" index.
	TableActions, IndexActions []string
	// UsesKey: the function seals/opens tokens and reads the table, both under the data key.
	UsesKey bool
}

// DynamoDB actions the store issues (internal/store.DynamoDBAPI): reads with GetItem, every write is
// a conditional UpdateItem, the refresher Queries the due index. DeleteItem is used only by operator
// tooling, never by a function, so no role gets it.
var (
	itemActions  = []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}
	queryActions = []string{"dynamodb:Query"}
	// keyActions cover both uses of the data key: envelope sealing of tokens (GenerateDataKey for a
	// data key, Decrypt to open it) and DynamoDB server-side encryption under the same customer managed
	// key, which needs Decrypt/Encrypt/GenerateDataKey/DescribeKey of the caller. No ReEncrypt*, no
	// wildcards.
	keyActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
)

// functionSpecs: the HTTP functions get 256 MB for CPU (Lambda scales CPU with memory; Go is small
// either way) and timeouts below API Gateway's 30 s integration limit, long enough for LiveChat's
// 10 s per-call timeout plus KMS and DynamoDB. The refresher has minutes for a whole pass and runs
// alone (reserved concurrency 1), so two passes never refresh the same tokens at once.
var functionSpecs = []functionSpec{
	{Name: config.FunctionInstall, Description: "lcauth GET /install: starts the LiveChat OAuth flow", MemoryMB: 256, Timeout: 10 * time.Second},
	{Name: config.FunctionCallback, Description: "lcauth GET /callback: exchanges the code and saves the installation", MemoryMB: 256, Timeout: 25 * time.Second,
		TableActions: itemActions, UsesKey: true},
	{Name: config.FunctionChats, Description: "lcauth GET/POST /chats: List Chats for an installation", MemoryMB: 256, Timeout: 28 * time.Second,
		TableActions: itemActions, UsesKey: true},
	{Name: config.FunctionRefresh, Description: "lcauth scheduled refresh pass: keeps every installation's tokens valid", MemoryMB: 512, Timeout: 5 * time.Minute,
		ReservedConcurrency: 1, TableActions: itemActions, IndexActions: queryActions, UsesKey: true},
}

// RouteRef is one route of the API and the function behind it.
type RouteRef struct {
	Method, Path, Function string
	Route                  awsapigatewayv2.HttpRoute
}

// Lcauth is the stack and the constructs its tests look into. Maps are keyed by function name
// (config.FunctionInstall, ...).
type Lcauth struct {
	// Stack holds everything below.
	Stack awscdk.Stack
	// Table is the installations table; DataKey encrypts it and seals the tokens in it.
	Table   awsdynamodb.Table
	DataKey awskms.Key
	// AlarmKey encrypts the alarm Topic.
	AlarmKey awskms.Key
	// Secret holds the LiveChat client secret (a placeholder until `make secret`).
	Secret awssecretsmanager.Secret
	// Functions, their Roles and LogGroups.
	Functions map[string]awslambda.Function
	Roles     map[string]awsiam.Role
	LogGroups map[string]awslogs.LogGroup
	// API, its $default Stage, the stage's AccessLogs and the routes (RouteList).
	API        awsapigatewayv2.HttpApi
	Stage      awsapigatewayv2.HttpStage
	AccessLogs awslogs.LogGroup
	RouteList  []RouteRef
	// Domain is the custom domain, nil without one.
	Domain awsapigatewayv2.DomainName
	// Schedule invokes the refresh function.
	Schedule awsevents.Rule
	// Topic receives every alarm in Alarms (keyed by construct id).
	Topic  awssns.Topic
	Alarms map[string]awscloudwatch.Alarm
	// Environment is each function's environment as set in the template.
	Environment map[string]map[string]*string
}

// NewLcauth builds the whole product into one stack. It returns an error, rather than a broken
// template, when the settings and the code base disagree (missing build output, a configuration
// variable a function needs that the stack cannot provide).
func NewLcauth(scope constructs.Construct, s Settings) (*Lcauth, error) {
	if err := checkAssets(s.AssetDir); err != nil {
		return nil, err
	}
	l := &Lcauth{
		Functions:   map[string]awslambda.Function{},
		Roles:       map[string]awsiam.Role{},
		LogGroups:   map[string]awslogs.LogGroup{},
		Alarms:      map[string]awscloudwatch.Alarm{},
		Environment: map[string]map[string]*string{},
	}
	stack := awscdk.NewStack(scope, jsii.String(s.StackName), &awscdk.StackProps{
		// Environment-agnostic on purpose: synth needs no credentials and no lookups; `cdk deploy`
		// picks the account and region of the caller's credentials.
		Description: jsii.String("lcauth: OAuth installs and token refresh for a LiveChat app"),
	})
	l.Stack = stack

	// Durable state (table, its key, the secret) is kept when the stack is deleted, unless the
	// operator asked for a throwaway stack.
	keep := awscdk.RemovalPolicy_RETAIN
	if s.Throwaway {
		keep = awscdk.RemovalPolicy_DESTROY
	}
	retention := retentionOf(s.LogRetentionDays)

	l.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("lcauth: encrypts the installations table and seals the tokens in it"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     keep,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})

	table, err := newTable(stack, store.Schema(), l.DataKey, s.Throwaway, keep)
	if err != nil {
		return nil, err
	}
	l.Table = table

	// The secret is created holding a placeholder the code recognizes as "not configured"; the real
	// value is put after deploy (make secret) and never passes through CDK. The placeholder must stay
	// constant: CloudFormation rewrites the secret only when this property changes, so redeploys keep
	// the value the operator put.
	l.Secret = awssecretsmanager.NewSecret(stack, jsii.String("ClientSecret"), &awssecretsmanager.SecretProps{
		Description:       jsii.String("lcauth: the LiveChat app's client secret (set with make secret)"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String(secrets.Placeholder)),
		RemovalPolicy:     keep,
	})

	// The API comes first: the functions' environment needs its URL, and the routes need the functions.
	l.API = awsapigatewayv2.NewHttpApi(stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(s.StackName),
		Description:        jsii.String("lcauth: /install, /callback, /chats"),
		CreateDefaultStage: jsii.Bool(false),
	})
	var mapping *awsapigatewayv2.DomainMappingOptions
	baseURL := l.API.ApiEndpoint()
	if s.DomainName != "" {
		l.Domain = awsapigatewayv2.NewDomainName(stack, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
			DomainName:     jsii.String(s.DomainName),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(stack, jsii.String("Certificate"), jsii.String(s.CertificateARN)),
			SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
		})
		mapping = &awsapigatewayv2.DomainMappingOptions{DomainName: l.Domain}
		baseURL = jsii.String("https://" + s.DomainName)
	}
	l.Stage = awsapigatewayv2.NewHttpStage(stack, jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:       l.API,
		StageName:     jsii.String("$default"),
		AutoDeploy:    jsii.Bool(true),
		DomainMapping: mapping,
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(s.ThrottleRate),
			BurstLimit: jsii.Number(float64(s.ThrottleBurst)),
		},
	})
	l.AccessLogs = awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: keep,
	})
	// The escape hatch keeps the format ours: it logs the route key and path but never the query
	// string (/callback carries the authorization code there) nor any header (the API key travels in Authorization: Bearer).
	cfnStage := l.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: l.AccessLogs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})

	callbackURL := join(baseURL, "/callback")
	installURL := join(baseURL, "/install")
	stackValues := map[string]*string{
		config.EnvClientID:        jsii.String(s.ClientID),
		config.EnvRedirectURL:     callbackURL,
		config.EnvInstallURL:      installURL,
		config.EnvClientSecretARN: l.Secret.SecretArn(),
		config.EnvTable:           l.Table.TableName(),
		config.EnvKMSKeyID:        l.DataKey.KeyArn(),
	}
	examples := exampleValues(s)

	for _, spec := range functionSpecs {
		env, err := functionEnv(spec.Name, config.ForFunction(spec.Name), stackValues, s.FunctionEnv)
		if err != nil {
			return nil, err
		}
		if err := validateEnv(spec.Name, env, examples); err != nil {
			return nil, err
		}
		l.Environment[spec.Name] = env
		if err := l.addFunction(stack, spec, s, env, keep, retention); err != nil {
			return nil, err
		}
	}

	// One integration per function: GET and POST /chats share the chats integration.
	integrations := map[string]awsapigatewayv2.HttpRouteIntegration{}
	for _, r := range Routes {
		in, ok := integrations[r.Function]
		if !ok {
			in = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(titleCase(r.Function)+"Integration"), l.Functions[r.Function], nil)
			integrations[r.Function] = in
		}
		routes := l.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: in,
		})
		for _, rt := range *routes {
			l.RouteList = append(l.RouteList, RouteRef{Method: r.Method, Path: r.Path, Function: r.Function, Route: rt})
		}
	}

	l.addSchedule(stack, s)
	l.addAlarms(stack, s)

	out := func(id, desc string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(desc), Value: value})
	}
	out("ApiUrl", "Base URL of the HTTP API", l.Stage.Url())
	out("InstallUrl", "Open (or share) this link to install the app into a LiveChat account", installURL)
	out("RedirectUri", "Whitelist exactly this redirect URI in the LiveChat Developer Console (Authorization block); it is also the Direct installation URL", callbackURL)
	out("ClientSecretArn", "Secrets Manager secret that must hold the LiveChat client secret", l.Secret.SecretArn())
	out("SetSecretCommand", "Pipe the client secret into this command (or run make secret)", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("aws secretsmanager put-secret-value --region "), awscdk.Aws_REGION(),
		jsii.String(" --secret-id "), l.Secret.SecretArn(),
		jsii.String(" --secret-string file:///dev/stdin"),
	}))
	out("TableName", "DynamoDB table of installations", l.Table.TableName())
	out("AlarmTopicArn", "SNS topic every alarm notifies", l.Topic.TopicArn())
	if l.Domain != nil {
		out("CustomDomainTarget", "Point a CNAME (or Route 53 alias) for "+s.DomainName+" at this name", l.Domain.RegionalDomainName())
	}

	suppressNagFindings(l)
	return l, nil
}

// accessLogFormat is one JSON object per request. $context.path excludes the query string.
const accessLogFormat = `{"requestId":"$context.requestId","time":"$context.requestTime","ip":"$context.identity.sourceIp",` +
	`"method":"$context.httpMethod","routeKey":"$context.routeKey","path":"$context.path","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength","latency":"$context.responseLatency",` +
	`"integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","error":"$context.error.message"}`

// newTable builds the table from the store's schema: the store package is the one source of truth.
func newTable(stack awscdk.Stack, schema store.TableSchema, key awskms.Key, throwaway bool, keep awscdk.RemovalPolicy) (awsdynamodb.Table, error) {
	pk, err := attribute(schema.PartitionKey)
	if err != nil {
		return nil, err
	}
	props := &awsdynamodb.TableProps{
		PartitionKey: pk,
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(!throwaway),
		RemovalPolicy:      keep,
		Encryption:         awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:      key,
	}
	if schema.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(schema.TTLAttribute)
	}
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), props)
	for _, ix := range schema.Indexes {
		ipk, err := attribute(ix.PartitionKey)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", ix.Name, err)
		}
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{IndexName: jsii.String(ix.Name), PartitionKey: ipk}
		if ix.SortKey.Name != "" {
			if gsi.SortKey, err = attribute(ix.SortKey); err != nil {
				return nil, fmt.Errorf("index %s: %w", ix.Name, err)
			}
		}
		switch ix.Projection {
		case "ALL":
			gsi.ProjectionType = awsdynamodb.ProjectionType_ALL
		case "KEYS_ONLY":
			gsi.ProjectionType = awsdynamodb.ProjectionType_KEYS_ONLY
		case "INCLUDE":
			gsi.ProjectionType = awsdynamodb.ProjectionType_INCLUDE
			gsi.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
		default:
			return nil, fmt.Errorf("index %s: unknown projection %q in store.Schema", ix.Name, ix.Projection)
		}
		table.AddGlobalSecondaryIndex(gsi)
	}
	return table, nil
}

func attribute(k store.KeyAttribute) (*awsdynamodb.Attribute, error) {
	types := map[string]awsdynamodb.AttributeType{
		"S": awsdynamodb.AttributeType_STRING,
		"N": awsdynamodb.AttributeType_NUMBER,
		"B": awsdynamodb.AttributeType_BINARY,
	}
	t, ok := types[k.Type]
	if !ok || k.Name == "" {
		return nil, fmt.Errorf("store.Schema: key attribute %q has type %q, want S, N or B", k.Name, k.Type)
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: t}, nil
}

// addFunction creates one function with its own role, log group and exactly the grants its spec
// lists. The role is ours (not the CDK default) so it carries no AWS managed policy: logging is
// granted on the function's own log group only.
func (l *Lcauth) addFunction(stack awscdk.Stack, spec functionSpec, s Settings, env map[string]*string, keep awscdk.RemovalPolicy, retention awslogs.RetentionDays) error {
	id := titleCase(spec.Name)
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: keep,
	})
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("lcauth " + spec.Name + " function"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	// Every function reads the client secret: install derives its state-signing key from it, the
	// others call the token endpoint with it.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadClientSecret"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*l.Secret.SecretArn()),
	}))
	if len(spec.TableActions) > 0 {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("Installations"),
			Actions:   jsii.Strings(spec.TableActions...),
			Resources: jsii.Strings(*l.Table.TableArn()),
		}))
	}
	if len(spec.IndexActions) > 0 {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DueIndex"),
			Actions:   jsii.Strings(spec.IndexActions...),
			Resources: jsii.Strings(*join(l.Table.TableArn(), "/index/"+store.DueIndexName)),
		}))
	}
	if spec.UsesKey {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DataKey"),
			Actions:   jsii.Strings(keyActions...),
			Resources: jsii.Strings(*l.DataKey.KeyArn()),
		}))
	}

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
		// Lambda filters JSON application logs by their "level"; match the code's own level so
		// LCAUTH_LOG_LEVEL=debug is not silently cut at INFO.
		ApplicationLogLevelV2: lambdaLogLevel(s.FunctionEnv[config.EnvLogLevel]),
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           &env,
	}
	if spec.ReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(spec.ReservedConcurrency))
	}
	if spec.Name == config.FunctionRefresh {
		// Asynchronous invocations (the schedule): a failed pass is not retried, because the next
		// scheduled pass re-reads whatever is still due and a retry would only add LiveChat calls. An
		// event older than one interval is dropped: when a long pass holds the single reserved
		// execution, Lambda would otherwise keep retrying the throttled event for up to six hours and
		// stack passes behind each other.
		props.RetryAttempts = jsii.Number(0)
		props.MaxEventAge = awscdk.Duration_Seconds(jsii.Number(clamp(s.RefreshEvery, time.Minute, 6*time.Hour).Seconds()))
	}
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), props)
	l.Functions[spec.Name] = fn
	l.Roles[spec.Name] = role
	l.LogGroups[spec.Name] = logs
	return nil
}

// addSchedule invokes the refresher every s.RefreshEvery.
func (l *Lcauth) addSchedule(stack awscdk.Stack, s Settings) {
	l.Schedule = awsevents.NewRule(stack, jsii.String("RefreshSchedule"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("lcauth: refresh pass every %d minutes", int(s.RefreshEvery/time.Minute))),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(float64(s.RefreshEvery / time.Minute)))),
		Targets: &[]awsevents.IRuleTarget{
			// EventBridge retries only when it cannot hand the event to Lambda at all (the invoke is
			// asynchronous, so a failing pass is not an EventBridge failure). A few retries ride out a
			// Lambda API blip; after one interval the next scheduled event supersedes this one.
			awseventstargets.NewLambdaFunction(l.Functions[config.FunctionRefresh], &awseventstargets.LambdaFunctionProps{
				RetryAttempts: jsii.Number(3),
				MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(clamp(s.RefreshEvery, time.Minute, 24*time.Hour).Seconds())),
			}),
		},
	})
}

// addAlarms creates the alarm topic (encrypted with its own key that CloudWatch may use) and every
// alarm, each notifying the topic when it fires and when it clears.
func (l *Lcauth) addAlarms(stack awscdk.Stack, s Settings) {
	l.AlarmKey = awskms.NewKey(stack, jsii.String("AlarmKey"), &awskms.KeyProps{
		Description:       jsii.String("lcauth: encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		// The key only protects notifications in flight, so it never outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	// CloudWatch publishes to an encrypted topic with its own service principal, which the account-root
	// statement of the key policy does not cover.
	l.AlarmKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
	}), nil)
	l.Topic = awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("lcauth alarms"),
		MasterKey:   l.AlarmKey,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy CDK writes for EnforceSSL replaces SNS's default policy, so the alarms of this
	// account need an explicit allow.
	l.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*l.Topic.TopicArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	if s.AlarmEmail != "" {
		l.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.AlarmEmail), nil))
	}

	action := awscloudwatchactions.NewSnsAction(l.Topic)
	alarm := func(id, description string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, threshold float64, missing awscloudwatch.TreatMissingData) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(s.StackName + "-" + id),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			ComparisonOperator: op,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		l.Alarms[id] = a
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))
	sum := jsii.String("Sum")
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	quiet := awscloudwatch.TreatMissingData_NOT_BREACHING

	for _, spec := range functionSpecs {
		fn := l.Functions[spec.Name]
		id := titleCase(spec.Name)
		alarm(id+"Errors",
			fmt.Sprintf("The %s function failed (crash, timeout or returned error) at least once in 5 minutes. Read its log group for the error.", spec.Name),
			fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: sum}), atLeast, 1, quiet)
		alarm(id+"Throttles",
			fmt.Sprintf("Lambda throttled the %s function in the last 5 minutes: the account's concurrency limit (or, for refresh, its single reserved execution while a pass overran) turned requests away.", spec.Name),
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: sum}), atLeast, 1, quiet)
	}
	alarm("Api5xx",
		"The HTTP API answered 5xx at least once in 5 minutes: a function failed, timed out, or reported LiveChat/AWS unavailable or the client secret not configured (503).",
		l.API.MetricServerError(&awscloudwatch.MetricOptions{Period: five, Statistic: sum}), atLeast, 1, quiet)

	interval := awscdk.Duration_Seconds(jsii.Number(s.RefreshEvery.Seconds()))
	emf := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(MetricNamespace),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{MetricDimension: jsii.String(MetricService)},
			Statistic:     sum,
			Period:        interval,
		})
	}
	alarm("RefreshPassFailed",
		"A refresh pass failed as a whole (for example it stopped because LiveChat rejected the client credentials for many installations: check the client id and the secret). Tokens are not being refreshed.",
		emf(MetricPassFailed), atLeast, 1, quiet)
	alarm("ReauthorizationRequired",
		"At least one installation lost its grant (invalid_grant/missing_grant): that LiveChat account must open the install URL again. Not an outage; act per customer.",
		emf(MetricReauthorizationRequired), atLeast, 1, quiet)
	// Nothing at all (no invocation) is the failure the other alarms cannot see: a disabled rule or a
	// broken target. Two intervals without an invocation, so one late event does not page.
	silence := clamp(2*s.RefreshEvery, 5*time.Minute, 24*time.Hour)
	alarm("RefreshNotRunning",
		fmt.Sprintf("The refresh function was not invoked for %s: the schedule is disabled or cannot invoke it. Tokens will expire.", silence),
		l.Functions[config.FunctionRefresh].MetricInvocations(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Seconds(jsii.Number(silence.Seconds())), Statistic: sum,
		}), awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 1, awscloudwatch.TreatMissingData_BREACHING)
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

func lambdaLogLevel(level string) awslambda.ApplicationLogLevel {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		return awslambda.ApplicationLogLevel_DEBUG
	case "warn", "warning":
		return awslambda.ApplicationLogLevel_WARN
	case "error":
		return awslambda.ApplicationLogLevel_ERROR
	default:
		return awslambda.ApplicationLogLevel_INFO
	}
}

func retentionOf(days int) awslogs.RetentionDays {
	m := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
	if r, ok := m[days]; ok {
		return r
	}
	return awslogs.RetentionDays_ONE_MONTH
}

func join(parts ...interface{}) *string {
	list := make([]*string, 0, len(parts))
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			list = append(list, jsii.String(v))
		case *string:
			list = append(list, v)
		}
	}
	return awscdk.Fn_Join(jsii.String(""), &list)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(hi, d))
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
