package main

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"lcauth/internal/config"
)

// Context keys the stack reads (cdk.json "context", `-c key=value`, or cdk.context.json). Every
// function environment variable of internal/config that has a default can also be overridden with a
// context key named exactly like the variable, for example `-c LCAUTH_PKCE=S256`.
const (
	CtxStackName        = "stackName"
	CtxClientID         = "livechatClientId"
	CtxThrowaway        = "throwaway"
	CtxAssetDir         = "assetDir"
	CtxRefreshMinutes   = "refreshScheduleMinutes"
	CtxAlarmEmail       = "alarmEmail"
	CtxDomainName       = "domainName"
	CtxCertificateARN   = "certificateArn"
	CtxLogRetentionDays = "logRetentionDays"
	CtxThrottleRate     = "apiThrottleRateLimit"
	CtxThrottleBurst    = "apiThrottleBurstLimit"
)

// Defaults of the settings that have one.
const (
	DefaultStackName        = "Lcauth"
	DefaultAssetDir         = "build"
	DefaultRefreshMinutes   = 15
	DefaultLogRetentionDays = 30
	DefaultThrottleRate     = 50
	DefaultThrottleBurst    = 100
)

// Settings is everything the stack needs from its operator, validated. It holds no secret: the
// LiveChat client secret never passes through CDK (it is put into Secrets Manager after deploy).
type Settings struct {
	// StackName is the CloudFormation stack name.
	StackName string
	// ClientID is the LiveChat app's client id (public; it appears in every authorize URL).
	ClientID string
	// Throwaway relaxes the data-protection defaults (table deletion protection, RETAIN policies) so a
	// test stack can be destroyed completely.
	Throwaway bool
	// AssetDir holds <function>/bootstrap for every function (`make build` writes build/).
	AssetDir string
	// RefreshEvery is the interval of the refresh schedule.
	RefreshEvery time.Duration
	// AlarmEmail, when set, subscribes this address to the alarm topic.
	AlarmEmail string
	// DomainName and CertificateARN, when set, give the API a custom domain so the redirect URI
	// whitelisted in LiveChat survives a rebuild of the stack.
	DomainName, CertificateARN string
	// LogRetentionDays applies to the functions' and the API's log groups.
	LogRetentionDays int
	// ThrottleRate (requests/s) and ThrottleBurst are the API's default stage limits.
	ThrottleRate  float64
	ThrottleBurst int
	// FunctionEnv overrides environment variables that have a default in internal/config.
	FunctionEnv map[string]string
}

// ContextLookup returns the value of a context key and whether it is set.
type ContextLookup func(key string) (string, bool)

// retentionDays are the values CloudWatch Logs accepts, which is what logRetentionDays may be.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	// stackNamePattern is CloudFormation's rule for stack names.
	stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	// clientIDPattern accepts LiveChat client ids (hex today) without pinning their exact shape.
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	// domainPattern is a lower-case DNS name with at least two labels.
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	// certificatePattern is an ACM certificate ARN in any partition.
	certificatePattern = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	// envNamePattern recognizes a context key meant as an environment variable override.
	envNamePattern = regexp.MustCompile(`^(LCAUTH|LIVECHAT|DYNAMODB)_[A-Z0-9_]+$`)
	// settingPattern recognizes a context key meant as one of ours (CDK's own keys carry ':', '@',
	// '/' or '-'), so a misspelt setting is an error instead of a silently ignored value.
	settingPattern = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// knownSettings are the context keys LoadSettings reads.
var knownSettings = []string{CtxStackName, CtxClientID, CtxThrowaway, CtxAssetDir, CtxRefreshMinutes, CtxAlarmEmail,
	CtxDomainName, CtxCertificateARN, CtxLogRetentionDays, CtxThrottleRate, CtxThrottleBurst}

// LoadSettings reads and validates the settings from CDK context, falling back to the environment
// for the client id (LIVECHAT_CLIENT_ID). It reports every problem at once. contextKeys lists every
// context key that is set, so misspelt variable overrides are reported instead of ignored.
func LoadSettings(ctx ContextLookup, contextKeys []string, getenv func(string) string) (Settings, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(key string) string {
		v, _ := ctx(key)
		return strings.TrimSpace(v)
	}

	s := Settings{
		StackName:        DefaultStackName,
		AssetDir:         DefaultAssetDir,
		RefreshEvery:     DefaultRefreshMinutes * time.Minute,
		LogRetentionDays: DefaultLogRetentionDays,
		ThrottleRate:     DefaultThrottleRate,
		ThrottleBurst:    DefaultThrottleBurst,
		FunctionEnv:      map[string]string{},
	}

	if v := str(CtxStackName); v != "" {
		s.StackName = v
	}
	if !stackNamePattern.MatchString(s.StackName) {
		bad("%s must start with a letter and hold only letters, digits and hyphens (at most 128), not %q", CtxStackName, s.StackName)
	}

	s.ClientID = str(CtxClientID)
	if s.ClientID == "" {
		// `-c LIVECHAT_CLIENT_ID=...` is the same setting under its environment name.
		s.ClientID = str(config.EnvClientID)
	}
	if s.ClientID == "" {
		s.ClientID = strings.TrimSpace(getenv(config.EnvClientID))
	}
	switch {
	case s.ClientID == "":
		bad("the LiveChat client id is missing: pass it with `-c %s=<client id>` (for make: `make deploy LIVECHAT_CLIENT_ID=<client id>`) or set %s in the environment; it is on your app's Authorization block in the LiveChat Developer Console",
			CtxClientID, config.EnvClientID)
	case !clientIDPattern.MatchString(s.ClientID):
		bad("%s must be the client id from the LiveChat Developer Console (letters, digits, - or _)", CtxClientID)
	}

	if v, ok := ctx(CtxThrowaway); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			bad("%s must be true or false, not %q", CtxThrowaway, v)
		}
		s.Throwaway = b
	}

	if v := str(CtxAssetDir); v != "" {
		s.AssetDir = v
	}

	if v := str(CtxRefreshMinutes); v != "" {
		n, err := strconv.Atoi(v)
		// EventBridge rates are whole minutes; a day is the most that still refreshes 8-hour tokens.
		if err != nil || n < 1 || n > 1440 {
			bad("%s must be a whole number of minutes from 1 to 1440, not %q", CtxRefreshMinutes, v)
		} else {
			s.RefreshEvery = time.Duration(n) * time.Minute
		}
	}

	if v := str(CtxAlarmEmail); v != "" {
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			bad("%s must be a plain e-mail address such as ops@example.com, not %q", CtxAlarmEmail, v)
		}
		s.AlarmEmail = v
	}

	s.DomainName = strings.ToLower(str(CtxDomainName))
	s.CertificateARN = str(CtxCertificateARN)
	switch {
	case s.DomainName == "" && s.CertificateARN != "":
		bad("%s is set but %s is not: a custom domain needs both", CtxCertificateARN, CtxDomainName)
	case s.DomainName != "" && s.CertificateARN == "":
		bad("%s is set but %s is not: a custom domain needs an ACM certificate in the stack's region", CtxDomainName, CtxCertificateARN)
	case s.DomainName != "":
		if !domainPattern.MatchString(s.DomainName) {
			bad("%s must be a DNS name such as auth.example.com, not %q", CtxDomainName, s.DomainName)
		}
		if !certificatePattern.MatchString(s.CertificateARN) {
			bad("%s must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>), not %q", CtxCertificateARN, s.CertificateARN)
		}
	}

	if v := str(CtxLogRetentionDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !containsInt(retentionDays, n) {
			bad("%s must be one of %v (what CloudWatch Logs accepts), not %q", CtxLogRetentionDays, retentionDays, v)
		} else {
			s.LogRetentionDays = n
		}
	}

	if v := str(CtxThrottleRate); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 1 || f > 10000 {
			bad("%s must be a number of requests per second from 1 to 10000, not %q", CtxThrottleRate, v)
		} else {
			s.ThrottleRate = f
		}
	}
	if v := str(CtxThrottleBurst); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			bad("%s must be a whole number from 1 to 5000, not %q", CtxThrottleBurst, v)
		} else {
			s.ThrottleBurst = n
		}
	}

	overridable := overridableVars()
	keys := append([]string(nil), contextKeys...)
	sort.Strings(keys)
	for _, k := range keys {
		if settingPattern.MatchString(k) && !slices.Contains(knownSettings, k) {
			bad("unknown context key %q; the settings are %s", k, strings.Join(knownSettings, ", "))
			continue
		}
		if !envNamePattern.MatchString(k) || k == config.EnvClientID {
			continue
		}
		v, ok := overridable[k]
		switch {
		case !ok && isSecretVar(k):
			bad("%s must never be passed to the stack (it would be stored in the template): put the client secret into Secrets Manager with `make secret` after deploying", k)
		case !ok && isStackVar(k):
			bad("%s is set by the stack itself and cannot be overridden from context", k)
		case !ok:
			bad("%s is not a variable the functions read with a default; the overridable ones are %s", k, strings.Join(sortedKeys(overridable), ", "))
		default:
			val, _ := ctx(k)
			s.FunctionEnv[v.Name] = strings.TrimSpace(val)
		}
	}

	if err := checkRefreshWindow(s); err != nil {
		problems = append(problems, err.Error())
	}

	if len(problems) > 0 {
		return Settings{}, errors.New("lcauth stack settings:\n  - " + strings.Join(problems, "\n  - "))
	}
	return s, nil
}

// checkRefreshWindow makes sure every token gets at least two scheduled passes inside its refresh
// window, so one failed pass never lets an access token expire.
func checkRefreshWindow(s Settings) error {
	raw, ok := s.FunctionEnv[config.EnvRefreshWindow]
	if !ok {
		raw = defaultOf(config.EnvRefreshWindow)
	}
	window, err := time.ParseDuration(raw)
	if err != nil || window <= 0 {
		return fmt.Errorf("%s must be a positive duration such as 60m, not %q", config.EnvRefreshWindow, raw)
	}
	if 2*s.RefreshEvery > window {
		return fmt.Errorf("%s=%d gives fewer than two refresh passes inside %s=%s; lower the interval or widen the window",
			CtxRefreshMinutes, int(s.RefreshEvery/time.Minute), config.EnvRefreshWindow, window)
	}
	return nil
}

// overridableVars are the function variables with a default: the stack leaves them unset (the code
// applies the default) unless the operator overrides them from context.
func overridableVars() map[string]config.Var {
	out := map[string]config.Var{}
	for _, v := range config.Vars() {
		if v.Default != "" && len(v.Functions) > 0 && !v.Secret {
			out[v.Name] = v
		}
	}
	return out
}

func isSecretVar(name string) bool {
	for _, v := range config.Vars() {
		if v.Name == name {
			return v.Secret
		}
	}
	return false
}

func isStackVar(name string) bool {
	for _, v := range config.Vars() {
		if v.Name == name {
			return len(v.Functions) > 0 && v.Default == ""
		}
	}
	return false
}

func defaultOf(name string) string {
	for _, v := range config.Vars() {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
