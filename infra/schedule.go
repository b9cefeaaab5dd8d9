package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
	"lcauth/internal/store"
)

// targetsPerRule is how many invocations one schedule rule makes (EventBridge allows 5 targets per
// rule; 4 divides every fan-out evenly).
const targetsPerRule = 4

// addFailureQueue creates the queue where a scheduled pass that never ran or failed lands (for 14 days)
// instead of disappearing: the refresh function's on-failure destination and the schedule targets'
// dead-letter queue. An alarm watches its depth.
func (l *Lcauth) addFailureQueue(stack awscdk.Stack) {
	l.FailureQueue = awssqs.NewQueue(stack, jsii.String("RefreshFailures"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// ShardLists splits the due index's shards into fanOut disjoint, contiguous lists that cover all.
func ShardLists(fanOut int) [][]int {
	per := store.DueShards / fanOut
	out := make([][]int, fanOut)
	for i := range out {
		for sh := i * per; sh < (i+1)*per; sh++ {
			out[i] = append(out[i], sh)
		}
	}
	return out
}

// addSchedule invokes the refresher every s.RefreshEvery: once with the schedule's own event (every
// shard) when the fan-out is 1, else once per shard list, targetsPerRule invocations per rule.
func (l *Lcauth) addSchedule(stack awscdk.Stack, s Settings) {
	minutes := int(s.RefreshEvery / time.Minute)
	lists := ShardLists(s.RefreshFanOut)
	for start := 0; start < len(lists); start += targetsPerRule {
		var targets []awsevents.IRuleTarget
		for _, shards := range lists[start:min(start+targetsPerRule, len(lists))] {
			props := &awseventstargets.LambdaFunctionProps{
				// EventBridge retries only when it cannot hand the event to Lambda at all (the invoke is
				// asynchronous, so a failing pass is not an EventBridge failure). A few retries ride out a
				// Lambda API blip; after one interval the next scheduled event supersedes this one.
				RetryAttempts: jsii.Number(3),
				MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(clamp(s.RefreshEvery, time.Minute, 24*time.Hour).Seconds())),
				// An event EventBridge could not deliver at all lands in the same failure queue.
				DeadLetterQueue: l.FailureQueue,
			}
			if s.RefreshFanOut > 1 {
				props.Event = awsevents.RuleTargetInput_FromObject(map[string]any{"shards": shards})
			}
			targets = append(targets, awseventstargets.NewLambdaFunction(l.Functions[config.FunctionRefresh], props))
		}
		id := "RefreshSchedule"
		desc := fmt.Sprintf("lcauth: refresh pass every %d minutes", minutes)
		if start > 0 {
			id = fmt.Sprintf("RefreshSchedule%d", start/targetsPerRule+1)
		}
		if s.RefreshFanOut > 1 {
			desc += fmt.Sprintf(" (shard lists %d-%d of %d)", start+1, start+len(targets), len(lists))
		}
		l.Schedules = append(l.Schedules, awsevents.NewRule(stack, jsii.String(id), &awsevents.RuleProps{
			Description: jsii.String(desc),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(float64(minutes)))),
			Targets:     &targets,
		}))
	}
}
