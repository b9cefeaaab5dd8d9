package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/lifecycle"
	"lcauth/internal/refresh"
)

// MetricUninstalled counts installations the uninstall webhook (or the operator CLI) marked
// uninstalled, MetricRevokeFailed revocations at LiveChat that failed during an uninstall; both in the
// same namespace and dimension as the refresher's metrics.
const (
	MetricUninstalled  = lifecycle.MetricUninstalled
	MetricRevokeFailed = lifecycle.MetricRevokeFailed
)

// passMetrics are the refresh pass metrics the dashboard graphs, one widget per row entry.
var passMetrics = [][]string{
	{refresh.MetricDue, refresh.MetricRefreshed, refresh.MetricLeftForNextPass, refresh.MetricSkipped},
	{refresh.MetricFailed, refresh.MetricFailedMisconfiguration, refresh.MetricFailedRateLimited, refresh.MetricFailedTransient, refresh.MetricFailedStore},
	{refresh.MetricPassFailed, refresh.MetricReauthorizationRequired, MetricUninstalled, MetricRevokeFailed},
}

// routeQuery breaks the access logs down per route and status (so 4xx and 5xx per route), with each
// one's latency (the access log's responseLatency, ms). The API's own metrics are per API; per-route
// metrics would need detailed metrics (paid per metric).
const routeQuery = `fields routeKey, status, latency
| filter ispresent(routeKey)
| stats count(*) as requests, pct(latency, 50) as p50_ms, pct(latency, 99) as p99_ms by routeKey, status
| sort routeKey, status`

// addDashboard builds one CloudWatch dashboard named after the stack: the API (requests, 4xx, 5xx,
// latency, and per route from the access logs), every function (errors, duration, concurrency,
// throttles), the refresh passes and the failure queue.
func (l *Lcauth) addDashboard(stack awscdk.Stack, s Settings) {
	l.Dashboard = awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(s.StackName),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
	})
	opts := func(stat string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat)}
	}
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &metrics, Width: jsii.Number(6)})
	}
	l.Dashboard.AddWidgets(
		graph("API requests", l.API.MetricCount(opts("Sum"))),
		graph("API 4xx / 5xx", l.API.MetricClientError(opts("Sum")), l.API.MetricServerError(opts("Sum"))),
		graph("API latency p50 / p99", l.API.MetricLatency(opts("p50")), l.API.MetricLatency(opts("p99"))),
		awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title: jsii.String("Requests per route (access logs)"), LogGroupNames: jsii.Strings(*l.AccessLogs.LogGroupName()),
			QueryString: jsii.String(routeQuery), View: awscloudwatch.LogQueryVisualizationType_TABLE, Width: jsii.Number(6),
		}),
	)
	per := func(f func(name string) awscloudwatch.IMetric) []awscloudwatch.IMetric {
		var out []awscloudwatch.IMetric
		for _, spec := range functionSpecs {
			out = append(out, f(spec.Name))
		}
		return out
	}
	fn := l.Functions
	l.Dashboard.AddWidgets(
		graph("Function errors", per(func(n string) awscloudwatch.IMetric { return fn[n].MetricErrors(labelled(n, "Sum")) })...),
		graph("Function duration p99", per(func(n string) awscloudwatch.IMetric { return fn[n].MetricDuration(labelled(n, "p99")) })...),
		graph("Function concurrent executions", per(func(n string) awscloudwatch.IMetric {
			return fn[n].Metric(jsii.String("ConcurrentExecutions"), labelled(n, "Maximum"))
		})...),
		graph("Function throttles", per(func(n string) awscloudwatch.IMetric { return fn[n].MetricThrottles(labelled(n, "Sum")) })...),
	)
	var row []awscloudwatch.IWidget
	for _, names := range passMetrics {
		var ms []awscloudwatch.IMetric
		for _, n := range names {
			ms = append(ms, l.emf(s, n, "Sum"))
		}
		row = append(row, graph("Refresh: "+names[0]+" ...", ms...))
	}
	row = append(row, graph("Refresh pass duration (ms, max) / failure queue",
		l.emf(s, refresh.MetricDurationMs, "Maximum"),
		l.FailureQueue.MetricApproximateNumberOfMessagesVisible(opts("Maximum"))))
	l.Dashboard.AddWidgets(row...)
}

func labelled(label, stat string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat), Label: jsii.String(label)}
}
