package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/config"
	"lcauth/internal/httpapi"
)

// Routes are the HTTP API's routes and the function serving each: httpapi.Routes, the one list the
// local server serves too.
func Routes() []httpapi.Route { return httpapi.Routes() }

// publicFunctions serve routes anyone may call (a browser, LiveChat); their routes share the public
// throttle. The others authenticate a key and share the client throttle.
var publicFunctions = []string{config.FunctionInstall, config.FunctionCallback, config.FunctionWebhook}

// addAPI creates the HTTP API, its optional custom domain, the $default stage with its access logs,
// and returns the public base URL.
func (l *Lcauth) addAPI(stack awscdk.Stack, s Settings, keep awscdk.RemovalPolicy) *string {
	l.API = awsapigatewayv2.NewHttpApi(stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(s.StackName),
		Description:        jsii.String("lcauth: /install, /callback, /chats, /installations, /webhooks/livechat"),
		CreateDefaultStage: jsii.Bool(false),
		// With a custom domain the execute-api URL is switched off: an install started there would
		// fail at the callback on the custom domain (the state cookie is per host).
		DisableExecuteApiEndpoint: jsii.Bool(s.DomainName != ""),
	})
	var mapping *awsapigatewayv2.DomainMappingOptions
	var baseURL *string
	if s.DomainName == "" {
		baseURL = l.API.ApiEndpoint()
	} else {
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
		Retention:     retentionOf(s.LogRetentionDays),
		RemovalPolicy: keep,
	})
	// The escape hatch keeps the format ours: it logs the route key and path but never the query
	// string (/callback carries the authorization code there, the webhook its secret) nor any header
	// (the API keys travel in Authorization: Bearer). The destination is the log group's ARN without the
	// ":*" that LogGroupArn ends with: API Gateway stores it without, which would be drift forever.
	cfnStage := l.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"),
			ResourceName: l.AccessLogs.LogGroupName(), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}),
		Format: jsii.String(accessLogFormat),
	})
	return baseURL
}

// accessLogFormat is one JSON object per request. $context.path excludes the query string;
// $context.error.messageString is the message already quoted for JSON (a plain $context.error.message
// containing a quote would break the line).
const accessLogFormat = `{"requestId":"$context.requestId","time":"$context.requestTime","ip":"$context.identity.sourceIp",` +
	`"method":"$context.httpMethod","routeKey":"$context.routeKey","path":"$context.path","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength","latency":"$context.responseLatency",` +
	`"integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","error":$context.error.messageString}`

// addRoutes adds every route with one integration per function, and its throttle: public routes
// (install, callback, webhook) and key-authenticated ones (chats, installations) have separate limits,
// so a flood on one class never starves the other.
func (l *Lcauth) addRoutes(s Settings) error {
	integrations := map[string]awsapigatewayv2.HttpRouteIntegration{}
	settings := map[string]any{}
	var deps []constructs.IDependable
	for _, r := range Routes() {
		fn, ok := l.Functions[r.Function]
		if !ok {
			return fmt.Errorf("route %s %s names function %q, which the stack does not build", r.Method, r.Path, r.Function)
		}
		in, ok := integrations[r.Function]
		if !ok {
			in = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(titleCase(r.Function)+"Integration"), fn, nil)
			integrations[r.Function] = in
		}
		routes := l.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: in,
		})
		for _, rt := range *routes {
			l.RouteList = append(l.RouteList, RouteRef{Method: r.Method, Path: r.Path, Function: r.Function, Route: rt})
			deps = append(deps, rt)
		}
		t := routeThrottle(s, r.Function)
		settings[r.Method+" "+r.Path] = map[string]any{"ThrottlingRateLimit": t.Rate, "ThrottlingBurstLimit": t.Burst}
	}
	cfnStage := l.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetRouteSettings(settings)
	// Route settings name routes by key; the stage must be updated after they exist.
	l.Stage.Node().AddDependency(deps...)
	return nil
}

// routeThrottle is the limit of the routes a function serves.
func routeThrottle(s Settings, function string) Throttle {
	for _, f := range publicFunctions {
		if f == function {
			return s.PublicThrottle
		}
	}
	return s.ClientThrottle
}
