// Package config is the one place that knows lcauth's configuration: the environment variables every
// program reads (Lambda functions, cmd/lcauth), their defaults, which function needs which, and the
// validation that turns them into a Config. The CDK stack builds each function's environment from Vars,
// and docs/configuration.md documents exactly this list (TestDocsListEveryVariable keeps them one).
package config

// Function names, as under functions/. They key which variables a Lambda receives.
const (
	FunctionInstall  = "install"
	FunctionCallback = "callback"
	FunctionChats    = "chats"
	FunctionRefresh  = "refresh"
	// FunctionWebhook serves POST /webhooks/livechat (LiveChat's App Webhooks).
	FunctionWebhook = "webhook"
	// FunctionInstallations serves GET /installations (service keys).
	FunctionInstallations = "installations"
)

// Functions lists every Lambda function, in the order the stack builds them.
func Functions() []string {
	return []string{FunctionInstall, FunctionCallback, FunctionChats, FunctionRefresh, FunctionWebhook, FunctionInstallations}
}

// Names of the environment variables.
const (
	EnvClientID          = "LIVECHAT_CLIENT_ID"
	EnvRedirectURL       = "LIVECHAT_REDIRECT_URL"
	EnvAccountsURL       = "LIVECHAT_ACCOUNTS_URL"
	EnvAPIURL            = "LIVECHAT_API_URL"
	EnvClientSecretARN   = "LIVECHAT_CLIENT_SECRET_ARN"
	EnvClientSecret      = "LIVECHAT_CLIENT_SECRET"
	EnvTable             = "LCAUTH_TABLE"
	EnvDynamoDBEndpoint  = "DYNAMODB_ENDPOINT"
	EnvPKCE              = "LCAUTH_PKCE"
	EnvAddr              = "LCAUTH_ADDR"
	EnvKMSKeyID          = "LCAUTH_KMS_KEY_ID"
	EnvSealingKey        = "LCAUTH_SEALING_KEY"
	EnvInstallURL        = "LCAUTH_INSTALL_URL"
	EnvSecretTTL         = "LCAUTH_SECRET_TTL"
	EnvRefreshWindow     = "LCAUTH_REFRESH_WINDOW"
	EnvRefreshConcurrent = "LCAUTH_REFRESH_CONCURRENCY"
	EnvRefreshRate       = "LCAUTH_REFRESH_RATE"
	EnvRefreshInterval   = "LCAUTH_REFRESH_INTERVAL"
	EnvLogLevel          = "LCAUTH_LOG_LEVEL"
	EnvDataDir           = "LCAUTH_DATA_DIR"
	EnvMetricsService    = "LCAUTH_METRICS_SERVICE"
	EnvWebhookSecretARN  = "LCAUTH_WEBHOOK_SECRET_ARN"
	EnvWebhookSecret     = "LCAUTH_WEBHOOK_SECRET"
	EnvStateKeyARN       = "LCAUTH_STATE_KEY_ARN"
	EnvStateKey          = "LCAUTH_STATE_KEY"
)

// Var documents one environment variable.
type Var struct {
	// Name is the environment variable's name.
	Name string
	// Default is used when the variable is unset; empty means no default.
	Default string
	// Description is one line for docs/configuration.md and error messages.
	Description string
	// Functions lists the Lambda functions whose environment carries the variable. Empty means the
	// variable is for local runs only (cmd/lcauth) and never set by the stack.
	Functions []string
	// Secret marks values that must never be logged or put in a template (local-only variables).
	Secret bool
}

var (
	httpFns = []string{FunctionInstall, FunctionCallback, FunctionChats, FunctionWebhook, FunctionInstallations}
	allFns  = Functions()
	dataFns = []string{FunctionCallback, FunctionChats, FunctionRefresh, FunctionWebhook, FunctionInstallations}
	// secretFns call the token endpoint with the client secret. The install function signs the OAuth
	// state with the state key instead, the webhook revokes with the token alone and /installations
	// reads only the table.
	secretFns = []string{FunctionCallback, FunctionChats, FunctionRefresh}
	// stateFns sign and verify the OAuth state (and the new-key grant after a reinstall).
	stateFns = []string{FunctionInstall, FunctionCallback}
)

// Vars returns every variable lcauth reads, in the order docs/configuration.md lists them. It is a function, not a package variable,
// so no caller can change the shared list.
func Vars() []Var {
	return []Var{
		{Name: EnvClientID, Description: "LiveChat app client id (Developer Console, Authorization block).", Functions: allFns},
		{Name: EnvRedirectURL, Description: "Public URL of /callback, exactly as whitelisted in LiveChat.", Functions: httpFns},
		{Name: EnvAccountsURL, Default: "https://accounts.livechat.com", Description: "LiveChat Accounts (OAuth) base URL.", Functions: allFns},
		{Name: EnvAPIURL, Default: "https://api.livechatinc.com", Description: "LiveChat Agent Chat Web API base URL.", Functions: []string{FunctionChats}},
		{Name: EnvClientSecretARN, Description: "ARN of the Secrets Manager secret holding the client secret (plain or JSON {\"client_secret\": ...}). One of this or LIVECHAT_CLIENT_SECRET is required.", Functions: secretFns},
		{Name: EnvClientSecret, Description: "The client secret itself, for local runs only.", Secret: true},
		{Name: EnvTable, Description: "DynamoDB table name.", Functions: dataFns},
		{Name: EnvDynamoDBEndpoint, Description: "DynamoDB endpoint override (local runs: dynalite)."},
		{Name: EnvPKCE, Default: "off", Description: "PKCE on the authorization request: off, S256 or plain.", Functions: []string{FunctionInstall, FunctionCallback}},
		{Name: EnvAddr, Default: "127.0.0.1:8080", Description: "Listen address of the local server (cmd/lcauth serve/dev)."},
		{Name: EnvKMSKeyID, Description: "KMS key id/ARN used to seal tokens at rest (AWS). One of this or LCAUTH_SEALING_KEY is required where tokens are read or written.", Functions: dataFns},
		{Name: EnvSealingKey, Description: "Base64 of a 32-byte key used to seal tokens at rest, for local runs.", Secret: true},
		{Name: EnvInstallURL, Description: "Public URL of /install, shown when re-authorization is needed. Default: LIVECHAT_REDIRECT_URL with its last path segment replaced by install.", Functions: httpFns},
		{Name: EnvSecretTTL, Default: "5m", Description: "How long the client secret is cached in memory before it is read again.", Functions: allFns},
		{Name: EnvRefreshWindow, Default: "60m", Description: "Refresh access tokens that expire within this window.", Functions: []string{FunctionRefresh}},
		{Name: EnvRefreshConcurrent, Default: "16", Description: "LiveChat token calls in flight in one pass, kept full while work remains (leases are taken ahead of the calls and saved after them; store writes in flight are bounded by the same number in each of those two stages).", Functions: []string{FunctionRefresh}},
		{Name: EnvRefreshRate, Default: "0", Description: "Client-side limit on token refreshes per second in one pass; 0 means no limit.", Functions: []string{FunctionRefresh}},
		{Name: EnvRefreshInterval, Default: "1m", Description: "How often cmd/lcauth dev runs a refresh pass (the stack uses its schedule instead)."},
		{Name: EnvDataDir, Description: "Folder where cmd/lcauth dev keeps dynalite's data across restarts (same as its -data flag); default: in memory."},
		{Name: EnvLogLevel, Default: "info", Description: "Log level: debug, info, warn or error.", Functions: allFns},
		{Name: EnvMetricsService, Default: "lcauth", Description: "Value of the Service dimension on every metric (namespace lcauth). The stack sets its own name, so the alarms of two stacks in one account never see each other's metrics.", Functions: allFns},
		{Name: EnvWebhookSecretARN, Description: "ARN of the Secrets Manager secret holding the webhook secret that POST /webhooks/livechat?secret=... must carry (the stack generates it; `make webhook-url` prints the URL). One of this or LCAUTH_WEBHOOK_SECRET is required by the webhook function.", Functions: []string{FunctionWebhook}},
		{Name: EnvStateKeyARN, Description: "ARN of the Secrets Manager secret (random, generated by the stack) from which the keys that sign the OAuth state and encrypt its cookie are derived. Without it (and without LCAUTH_STATE_KEY) they are derived from the client secret.", Functions: stateFns},
		{Name: EnvStateKey, Description: "The state key itself, for local runs: base64 of 32 bytes (lcauth dev generates one into .lcauth/state.key when unset).", Secret: true},
		{Name: EnvWebhookSecret, Description: "The webhook secret itself, for local runs: at least 16 of A-Z a-z 0-9 - _ . ~ (cmd/lcauth generates one into .lcauth/webhook.key when unset).", Secret: true},
	}
}

// ForFunction returns the variables the stack must set for one Lambda function.
func ForFunction(fn string) []Var {
	var out []Var
	for _, v := range Vars() {
		for _, f := range v.Functions {
			if f == fn {
				out = append(out, v)
				break
			}
		}
	}
	return out
}
