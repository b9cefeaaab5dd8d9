package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
)

// PassDurationShare is the share of the refresh function's timeout above which a pass's duration alarms.
const PassDurationShare = 0.8

var (
	five    = awscdk.Duration_Minutes(jsii.Number(5))
	atLeast = awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above   = awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	quiet   = awscloudwatch.TreatMissingData_NOT_BREACHING
)

// alarmSpec is one alarm: it fires when the metric compares with threshold for periods periods in a row.
type alarmSpec struct {
	id, description string
	metric          awscloudwatch.IMetric
	op              awscloudwatch.ComparisonOperator
	threshold       float64
	periods         int
	missing         awscloudwatch.TreatMissingData
}

// addAlarms creates the alarm topic and every alarm, each notifying the topic when it fires and when
// it clears.
func (l *Lcauth) addAlarms(stack awscdk.Stack, s Settings) {
	l.addAlarmTopic(stack, s)
	action := awscloudwatchactions.NewSnsAction(l.Topic)
	var specs []alarmSpec
	specs = append(specs, l.functionAlarms()...)
	specs = append(specs, l.refreshAlarms(s)...)
	for _, a := range specs {
		alarm := awscloudwatch.NewAlarm(stack, jsii.String(a.id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(s.StackName + "-" + a.id),
			AlarmDescription:   jsii.String(a.description),
			Metric:             a.metric,
			ComparisonOperator: a.op,
			Threshold:          jsii.Number(a.threshold),
			EvaluationPeriods:  jsii.Number(float64(max(a.periods, 1))),
			DatapointsToAlarm:  jsii.Number(float64(max(a.periods, 1))),
			TreatMissingData:   a.missing,
		})
		alarm.AddAlarmAction(action)
		alarm.AddOkAction(action)
		l.Alarms[a.id] = alarm
	}
}

// addAlarmTopic creates the topic, encrypted with its own key that CloudWatch may use.
func (l *Lcauth) addAlarmTopic(stack awscdk.Stack, s Settings) {
	l.AlarmKey = awskms.NewKey(stack, jsii.String("AlarmKey"), &awskms.KeyProps{
		Description:       jsii.String("lcauth: encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		// The key only protects notifications in flight, so it never outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	cloudwatch := []awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)}
	// CloudWatch publishes to an encrypted topic with its own service principal, which the account-root
	// statement of the key policy does not cover.
	l.AlarmKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &cloudwatch,
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
		Principals: &cloudwatch,
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*l.Topic.TopicArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	if s.AlarmEmail != "" {
		l.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.AlarmEmail), nil))
	}
}

// functionAlarms: errors and throttles of every function, and the API's 5xx.
func (l *Lcauth) functionAlarms() []alarmSpec {
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	var out []alarmSpec
	for _, spec := range functionSpecs {
		fn := l.Functions[spec.Name]
		id := titleCase(spec.Name)
		out = append(out,
			alarmSpec{id: id + "Errors", metric: fn.MetricErrors(sum), op: atLeast, threshold: 1, missing: quiet,
				description: fmt.Sprintf("The %s function failed (crash, timeout or returned error) at least once in 5 minutes. Read its log group for the error.", spec.Name)},
			alarmSpec{id: id + "Throttles", metric: fn.MetricThrottles(sum), op: atLeast, threshold: 1, missing: quiet,
				description: fmt.Sprintf("Lambda throttled the %s function in the last 5 minutes: the account's concurrency limit (or a reserved concurrency) turned requests away. Check aws lambda get-account-settings.", spec.Name)})
	}
	return append(out, alarmSpec{id: "Api5xx", metric: l.API.MetricServerError(sum), op: atLeast, threshold: 1, missing: quiet,
		description: "The HTTP API answered 5xx at least once in 5 minutes: a function failed, timed out, or reported LiveChat/AWS unavailable or the client secret not configured (503)."})
}

// emf is one of the refresher's metrics of this stack (Service = the stack name), per interval.
func (l *Lcauth) emf(s Settings, name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{MetricDimension: jsii.String(s.StackName)},
		Statistic:     jsii.String(statistic),
		Period:        awscdk.Duration_Seconds(jsii.Number(s.RefreshEvery.Seconds())),
	})
}

// refreshAlarms watch the refresh passes: failed, lost grants, overruns, slow, not running, and
// invocations that went to the failure queue.
func (l *Lcauth) refreshAlarms(s Settings) []alarmSpec {
	timeoutMs := specOf(config.FunctionRefresh).Timeout.Seconds() * 1000
	// Nothing at all (no invocation) is the failure the other alarms cannot see: a disabled rule or a
	// broken target. Two intervals without an invocation, so one late event does not page.
	silence := clamp(2*s.RefreshEvery, 5*time.Minute, 24*time.Hour)
	return []alarmSpec{
		{id: "RefreshPassFailed", metric: l.emf(s, MetricPassFailed, "Sum"), op: atLeast, threshold: 1, missing: quiet,
			description: "A refresh pass failed as a whole (for example it stopped because LiveChat rejected the client credentials for many installations: check the client id and the secret). Tokens are not being refreshed."},
		{id: "ReauthorizationRequired", metric: l.emf(s, MetricReauthorizationRequired, "Sum"), op: atLeast, threshold: 1, missing: quiet,
			description: "At least one installation lost its grant (invalid_grant/missing_grant): that LiveChat account must open the install URL again. Not an outage; act per customer."},
		{id: "RefreshLeftForNextPass", metric: l.emf(s, MetricLeftForNextPass, "Sum"), op: above, threshold: 0, periods: 2, missing: quiet,
			description: "Two refresh passes in a row ended with due installations left over: passes run out of time or stop early. Raise refreshFanOut or LCAUTH_REFRESH_CONCURRENCY, or look for LiveChat rate limits (FailedRateLimited)."},
		{id: "RefreshPassSlow", metric: l.emf(s, MetricDurationMs, "Maximum"), op: above, threshold: PassDurationShare * timeoutMs, missing: quiet,
			description: fmt.Sprintf("A refresh pass took more than %d%% of the function's timeout: soon passes will be cut short. Raise refreshFanOut, or LCAUTH_REFRESH_CONCURRENCY if LiveChat allows.", int(PassDurationShare*100))},
		{id: "RefreshNotRunning", metric: l.Functions[config.FunctionRefresh].MetricInvocations(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Seconds(jsii.Number(silence.Seconds())), Statistic: jsii.String("Sum"),
		}), op: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, threshold: 1, missing: awscloudwatch.TreatMissingData_BREACHING,
			description: fmt.Sprintf("The refresh function was not invoked for %s: the schedule is disabled or cannot invoke it. Tokens will expire.", silence)},
		{id: "RefreshFailuresQueued", metric: l.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: five, Statistic: jsii.String("Maximum"),
		}), op: atLeast, threshold: 1, missing: quiet,
			description: "A scheduled refresh pass failed, was dropped, or could not be delivered by EventBridge, and landed in the RefreshFailures queue: read the message (Lambda's requestContext.condition, or EventBridge's ERROR_CODE attribute), fix the cause, then purge the queue."},
	}
}
