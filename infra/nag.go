package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"lcauth/internal/config"
)

// Suppression is one accepted cdk-nag finding and why this project accepts it.
type Suppression struct {
	Rule, Reason string
	// AppliesTo narrows the suppression to one finding of the rule (for example "Resource::*").
	AppliesTo []string
}

// Suppressions, keyed by what they apply to. They are listed here, not scattered, so the docs and
// the review see all of them at once.
var (
	// xraySuppression: active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*".
	xraySuppression = Suppression{
		Rule:      "AwsSolutions-IAM5",
		AppliesTo: []string{"Resource::*"},
		Reason: "Only X-Ray's PutTraceSegments/PutTelemetryRecords (added by active tracing) use Resource *: " +
			"these actions support no resource-level permissions. Every other statement of this role names one resource " +
			"(its own log group, the client secret, the table, the due index, the data key).",
	}
	// publicRouteSuppressions explains why each route has no API Gateway authorizer.
	publicRouteSuppressions = map[string]Suppression{
		config.FunctionInstall: {Rule: "AwsSolutions-APIG4",
			Reason: "GET /install is the public start of the OAuth install: a LiveChat user's browser (or the Marketplace Direct installation URL) opens it without credentials; it only issues a signed state cookie and redirects to accounts.livechat.com."},
		config.FunctionCallback: {Rule: "AwsSolutions-APIG4",
			Reason: "GET /callback is LiveChat's OAuth redirect target and must be public; it is protected by the signed, expiring state bound to the browser cookie and by the single-use code, verified before anything else."},
		config.FunctionChats: {Rule: "AwsSolutions-APIG4",
			Reason: "/chats authenticates every request inside the function with the per-installation API key (Authorization: Bearer lca_..., stored hashed, one GetItem); an API Gateway authorizer would repeat that lookup in a second function for no gain."},
	}
	// secretRotationSuppression: the client secret is LiveChat's, not ours to rotate.
	secretRotationSuppression = Suppression{
		Rule: "AwsSolutions-SMG4",
		Reason: "The secret holds the LiveChat app's client secret, which only LiveChat issues (Developer Console, Authorization block); " +
			"no API exists for a rotation Lambda to call. Rotate it by regenerating it in the console and running make secret.",
	}
)

// AddNagChecks runs cdk-nag's AwsSolutions pack over everything in scope; its errors fail synthesis.
func AddNagChecks(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// suppressNagFindings attaches every accepted finding to the construct it concerns.
func suppressNagFindings(l *Lcauth) {
	for _, role := range l.Roles {
		// The X-Ray statement lands in the role's default policy; the role itself has no inline policy.
		suppress(role.Node().FindChild(jsii.String("DefaultPolicy")), xraySuppression)
	}
	for _, r := range l.RouteList {
		if s, ok := publicRouteSuppressions[r.Function]; ok {
			suppress(r.Route, s)
		}
	}
	suppress(l.Secret, secretRotationSuppression)
}

// suppress attaches s to c's own CloudFormation resource only, never to its children, so a
// suppression cannot silently cover resources added under c later.
func suppress(c constructs.IConstruct, s Suppression) {
	sup := &cdknag.NagPackSuppression{Id: jsii.String(s.Rule), Reason: jsii.String(s.Reason)}
	if len(s.AppliesTo) > 0 {
		applies := make([]interface{}, len(s.AppliesTo))
		for i, a := range s.AppliesTo {
			applies[i] = a
		}
		sup.AppliesTo = &applies
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c.Node().DefaultChild(), &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(false))
}
