package main

import (
	"bytes"
	"cmp"
	"encoding/json"
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
	CtxStages           = "stages"
	CtxThrowaway        = "throwaway"
	CtxAssetDir         = "assetDir"
	CtxRefreshMinutes   = "refreshScheduleMinutes"
	CtxRefreshFanOut    = "refreshFanOut"
	CtxRefreshReserved  = "refreshReservedConcurrency"
	CtxAlarmEmail       = "alarmEmail"
	CtxDomainName       = "domainName"
	CtxCertificateARN   = "certificateArn"
	CtxLogRetentionDays = "logRetentionDays"
	CtxThrottleRate     = "apiThrottleRateLimit"
	CtxThrottleBurst    = "apiThrottleBurstLimit"
	CtxPublicRate       = "apiPublicRateLimit"
	CtxPublicBurst      = "apiPublicBurstLimit"
	CtxClientRate       = "apiClientRateLimit"
	CtxClientBurst      = "apiClientBurstLimit"
)

// Defaults of the settings that have one.
const (
	DefaultStackName        = "Lcauth"
	DefaultAssetDir         = "build"
	DefaultRefreshMinutes   = 15
	DefaultRefreshFanOut    = 1
	DefaultLogRetentionDays = 30
	DefaultThrottleRate     = 50
	DefaultThrottleBurst    = 100
	DefaultPublicRate       = 10
	DefaultPublicBurst      = 20
	DefaultClientRate       = 40
	DefaultClientBurst      = 80
	// AppTag is the value of the "app" tag on every resource.
	AppTag = "lcauth"
)

// Throttle is one API Gateway rate limit: requests per second and burst.
type Throttle struct {
	Rate  float64
	Burst int
}

// Stage is one entry of the cdk.json "stages" map, keyed by stack name: what differs between the
// stacks an operator runs side by side (`STACK_NAME=LcauthDev make deploy`). Every field is optional.
type Stage struct {
	// Stage is the value of the "stage" tag (default: the stack name).
	Stage string `json:"stage,omitempty"`
	// Account and Region pin the stack to one account and region: `cdk deploy` with credentials for
	// another account refuses. Empty: the caller's account and region.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// AlarmEmail, DomainName, CertificateARN and Throwaway are the settings of the same names.
	AlarmEmail     string `json:"alarmEmail,omitempty"`
	DomainName     string `json:"domainName,omitempty"`
	CertificateARN string `json:"certificateArn,omitempty"`
	Throwaway      *bool  `json:"throwaway,omitempty"`
}

// Settings is everything the stack needs from its operator, validated. It holds no secret: the
// LiveChat client secret never passes through CDK (it is put into Secrets Manager after deploy).
type Settings struct {
	// StackName is the CloudFormation stack name.
	StackName string
	// Stage is the "stage" tag; Account and Region, when set, pin the stack's environment.
	Stage, Account, Region string
	// ClientID is the LiveChat app's client id (public; it appears in every authorize URL).
	ClientID string
	// Throwaway relaxes the data-protection defaults (table deletion protection, RETAIN policies) so a
	// test stack can be destroyed completely.
	Throwaway bool
	// AssetDir holds <function>/bootstrap for every function (`make build` writes build/).
	AssetDir string
	// RefreshEvery is the interval of the refresh schedule.
	RefreshEvery time.Duration
	// RefreshFanOut is how many invocations each scheduled pass makes, over disjoint shard lists.
	RefreshFanOut int
	// RefreshReserved > 0 reserves that much concurrency for the refresh function; 0 reserves none.
	RefreshReserved int
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
	// PublicThrottle limits each unauthenticated route (/install, /callback, the webhook);
	// ClientThrottle each route callers reach with a key (/chats, /installations).
	PublicThrottle, ClientThrottle Throttle
	// FunctionEnv overrides environment variables that have a default in internal/config.
	FunctionEnv map[string]string
}

// ContextLookup returns the value of a context key and whether it is set.
type ContextLookup func(key string) (string, bool)

// retentionDays are the values CloudWatch Logs accepts, which is what logRetentionDays may be.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// fanOuts are the refreshFanOut values: powers of two that divide store.DueShards evenly.
var fanOuts = []int{1, 2, 4, 8, 16}

var (
	// stackNamePattern is CloudFormation's rule for stack names.
	stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	// clientIDPattern accepts LiveChat client ids (hex today) without pinning their exact shape.
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	// domainPattern is a lower-case DNS name with at least two labels.
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	// certificatePattern is an ACM certificate ARN in any partition.
	certificatePattern = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	// accountPattern and regionPattern are an AWS account id and region name.
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	// tagPattern is what a tag value may hold here.
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+@-]{1,128}$`)
	// envNamePattern recognizes a context key meant as an environment variable override.
	envNamePattern = regexp.MustCompile(`^(LCAUTH|LIVECHAT|DYNAMODB)_[A-Z0-9_]+$`)
	// settingPattern recognizes a context key meant as one of ours (CDK's own keys carry ':', '@',
	// '/' or '-'), so a misspelt setting is an error instead of a silently ignored value.
	settingPattern = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// knownSettings are the context keys LoadSettings reads.
var knownSettings = []string{CtxStackName, CtxClientID, CtxStages, CtxThrowaway, CtxAssetDir, CtxRefreshMinutes, CtxRefreshFanOut,
	CtxRefreshReserved, CtxAlarmEmail, CtxDomainName, CtxCertificateARN, CtxLogRetentionDays, CtxThrottleRate, CtxThrottleBurst,
	CtxPublicRate, CtxPublicBurst, CtxClientRate, CtxClientBurst}

// stackSetVars are function variables with a default that the stack sets itself, so context may not
// override them.
var stackSetVars = []string{config.EnvMetricsService}

// settingsLoader reads context values, collecting every problem instead of stopping at the first.
type settingsLoader struct {
	ctx      ContextLookup
	getenv   func(string) string
	problems []string
}

func (l *settingsLoader) bad(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *settingsLoader) str(key string) string {
	v, _ := l.ctx(key)
	return strings.TrimSpace(v)
}

// intIn sets *dst from key when it is set and passes ok; otherwise reports want.
func (l *settingsLoader) intIn(key string, dst *int, ok func(int) bool, want string) {
	v := l.str(key)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || !ok(n) {
		l.bad("%s must be %s, not %q", key, want, v)
		return
	}
	*dst = n
}

// floatIn is intIn for a number.
func (l *settingsLoader) floatIn(key string, dst *float64, lo, hi float64, want string) {
	v := l.str(key)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		l.bad("%s must be %s, not %q", key, want, v)
		return
	}
	*dst = f
}

// LoadSettings reads and validates the settings from CDK context, falling back to the environment
// for the client id (LIVECHAT_CLIENT_ID). It reports every problem at once. contextKeys lists every
// context key that is set, so misspelt variable overrides are reported instead of ignored.
func LoadSettings(ctx ContextLookup, contextKeys []string, getenv func(string) string) (Settings, error) {
	l := &settingsLoader{ctx: ctx, getenv: getenv}
	s := Settings{
		StackName:        DefaultStackName,
		AssetDir:         DefaultAssetDir,
		RefreshEvery:     DefaultRefreshMinutes * time.Minute,
		RefreshFanOut:    DefaultRefreshFanOut,
		LogRetentionDays: DefaultLogRetentionDays,
		ThrottleRate:     DefaultThrottleRate,
		ThrottleBurst:    DefaultThrottleBurst,
		PublicThrottle:   Throttle{DefaultPublicRate, DefaultPublicBurst},
		ClientThrottle:   Throttle{DefaultClientRate, DefaultClientBurst},
		FunctionEnv:      map[string]string{},
	}
	l.identity(&s)
	l.stage(&s)
	l.domain(&s)
	l.refresh(&s)
	l.api(&s)
	l.logs(&s)
	l.overrides(&s, contextKeys)
	if err := checkRefreshWindow(s); err != nil {
		l.problems = append(l.problems, err.Error())
	}
	if len(l.problems) > 0 {
		return Settings{}, errors.New("lcauth stack settings:\n  - " + strings.Join(l.problems, "\n  - "))
	}
	return s, nil
}

// identity reads the stack name and the LiveChat client id.
func (l *settingsLoader) identity(s *Settings) {
	if v := l.str(CtxStackName); v != "" {
		s.StackName = v
	}
	if !stackNamePattern.MatchString(s.StackName) {
		l.bad("%s must start with a letter and hold only letters, digits and hyphens (at most 128), not %q", CtxStackName, s.StackName)
	}
	s.ClientID = l.str(CtxClientID)
	if s.ClientID == "" {
		// `-c LIVECHAT_CLIENT_ID=...` is the same setting under its environment name.
		s.ClientID = l.str(config.EnvClientID)
	}
	if s.ClientID == "" {
		s.ClientID = strings.TrimSpace(l.getenv(config.EnvClientID))
	}
	switch {
	case s.ClientID == "":
		l.bad("the LiveChat client id is missing: pass it with `-c %s=<client id>` (for make: `make deploy LIVECHAT_CLIENT_ID=<client id>`) or set %s in the environment; it is on your app's Authorization block in the LiveChat Developer Console",
			CtxClientID, config.EnvClientID)
	case !clientIDPattern.MatchString(s.ClientID):
		l.bad("%s must be the client id from the LiveChat Developer Console (letters, digits, - or _)", CtxClientID)
	}
	if v := l.str(CtxAssetDir); v != "" {
		s.AssetDir = v
	}
}

// stage applies the "stages" entry of the stack name, then the flat keys, which win over it (so
// `-c alarmEmail=...` works for any stack).
func (l *settingsLoader) stage(s *Settings) {
	st := l.stageEntry(s.StackName)
	s.Stage = cmp.Or(st.Stage, s.StackName)
	s.Account, s.Region = st.Account, st.Region
	s.AlarmEmail, s.DomainName, s.CertificateARN = st.AlarmEmail, st.DomainName, st.CertificateARN
	if st.Throwaway != nil {
		s.Throwaway = *st.Throwaway
	}
	if !tagPattern.MatchString(s.Stage) {
		l.bad("%s.%s.stage must be 1 to 128 letters, digits, spaces or _.:/=+@-, not %q", CtxStages, s.StackName, s.Stage)
	}
	if s.Account != "" && !accountPattern.MatchString(s.Account) {
		l.bad("%s.%s.account must be a 12-digit AWS account id, not %q", CtxStages, s.StackName, s.Account)
	}
	if s.Region != "" && !regionPattern.MatchString(s.Region) {
		l.bad("%s.%s.region must be an AWS region such as eu-west-1, not %q", CtxStages, s.StackName, s.Region)
	}
	if v, ok := l.ctx(CtxThrowaway); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			l.bad("%s must be true or false, not %q", CtxThrowaway, v)
		}
		s.Throwaway = b
	}
	s.AlarmEmail = cmp.Or(l.str(CtxAlarmEmail), s.AlarmEmail)
	if v := s.AlarmEmail; v != "" {
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			l.bad("%s must be a plain e-mail address such as ops@example.com, not %q", CtxAlarmEmail, v)
		}
	}
}

// stageEntry decodes the stages map (strictly: a misspelt field is an error) and returns the entry of
// stackName, or an empty one.
func (l *settingsLoader) stageEntry(stackName string) Stage {
	raw := l.str(CtxStages)
	if raw == "" {
		return Stage{}
	}
	var stages map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &stages); err != nil {
		l.bad("%s must be a JSON object of stack name to stage settings: %v", CtxStages, err)
		return Stage{}
	}
	var out Stage
	for _, name := range sortedKeys(stages) {
		var st Stage
		dec := json.NewDecoder(bytes.NewReader(stages[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			l.bad("%s.%s: %v (the fields are stage, account, region, alarmEmail, domainName, certificateArn, throwaway)", CtxStages, name, err)
			continue
		}
		if name == stackName {
			out = st
		}
	}
	return out
}

// domain reads the custom domain and its certificate (from the stage or flat keys).
func (l *settingsLoader) domain(s *Settings) {
	s.DomainName = strings.ToLower(cmp.Or(l.str(CtxDomainName), s.DomainName))
	s.CertificateARN = cmp.Or(l.str(CtxCertificateARN), s.CertificateARN)
	switch {
	case s.DomainName == "" && s.CertificateARN != "":
		l.bad("%s is set but %s is not: a custom domain needs both", CtxCertificateARN, CtxDomainName)
	case s.DomainName != "" && s.CertificateARN == "":
		l.bad("%s is set but %s is not: a custom domain needs an ACM certificate in the stack's region", CtxDomainName, CtxCertificateARN)
	case s.DomainName != "":
		if !domainPattern.MatchString(s.DomainName) {
			l.bad("%s must be a DNS name such as auth.example.com, not %q", CtxDomainName, s.DomainName)
		}
		if !certificatePattern.MatchString(s.CertificateARN) {
			l.bad("%s must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>), not %q", CtxCertificateARN, s.CertificateARN)
		}
	}
}

// refresh reads the schedule, its fan-out and the optional reserved concurrency.
func (l *settingsLoader) refresh(s *Settings) {
	minutes := DefaultRefreshMinutes
	// EventBridge rates are whole minutes; a day is the most that still refreshes 8-hour tokens.
	l.intIn(CtxRefreshMinutes, &minutes, func(n int) bool { return n >= 1 && n <= 1440 }, "a whole number of minutes from 1 to 1440")
	s.RefreshEvery = time.Duration(minutes) * time.Minute
	l.intIn(CtxRefreshFanOut, &s.RefreshFanOut, func(n int) bool { return slices.Contains(fanOuts, n) }, fmt.Sprintf("one of %v", fanOuts))
	l.intIn(CtxRefreshReserved, &s.RefreshReserved, func(n int) bool { return n >= 0 && n <= 1000 },
		"a whole number from 0 (no reservation, the default) to 1000; check the account's concurrency first (aws lambda get-account-settings)")
}

// api reads the stage-wide and per-route throttles.
func (l *settingsLoader) api(s *Settings) {
	const rate, burst = "a number of requests per second from 1 to 10000", "a whole number from 1 to 5000"
	okBurst := func(n int) bool { return n >= 1 && n <= 5000 }
	l.floatIn(CtxThrottleRate, &s.ThrottleRate, 1, 10000, rate)
	l.intIn(CtxThrottleBurst, &s.ThrottleBurst, okBurst, burst)
	l.floatIn(CtxPublicRate, &s.PublicThrottle.Rate, 1, 10000, rate)
	l.intIn(CtxPublicBurst, &s.PublicThrottle.Burst, okBurst, burst)
	l.floatIn(CtxClientRate, &s.ClientThrottle.Rate, 1, 10000, rate)
	l.intIn(CtxClientBurst, &s.ClientThrottle.Burst, okBurst, burst)
}

// logs reads the log retention.
func (l *settingsLoader) logs(s *Settings) {
	l.intIn(CtxLogRetentionDays, &s.LogRetentionDays, func(n int) bool { return containsInt(retentionDays, n) },
		fmt.Sprintf("one of %v (what CloudWatch Logs accepts)", retentionDays))
}

// overrides checks every context key: settings must be known ones, variables overridable ones.
func (l *settingsLoader) overrides(s *Settings, contextKeys []string) {
	overridable := overridableVars()
	keys := append([]string(nil), contextKeys...)
	sort.Strings(keys)
	for _, k := range keys {
		if settingPattern.MatchString(k) && !slices.Contains(knownSettings, k) {
			l.bad("unknown context key %q; the settings are %s", k, strings.Join(knownSettings, ", "))
			continue
		}
		if !envNamePattern.MatchString(k) || k == config.EnvClientID {
			continue
		}
		v, ok := overridable[k]
		switch {
		case !ok && isSecretVar(k):
			l.bad("%s must never be passed to the stack (it would be stored in the template): put the client secret into Secrets Manager with `make secret` after deploying", k)
		case !ok && isStackVar(k):
			l.bad("%s is set by the stack itself and cannot be overridden from context", k)
		case !ok:
			l.bad("%s is not a variable the functions read with a default; the overridable ones are %s", k, strings.Join(sortedKeys(overridable), ", "))
		default:
			s.FunctionEnv[v.Name] = l.str(k)
		}
	}
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
		if v.Default != "" && len(v.Functions) > 0 && !v.Secret && !slices.Contains(stackSetVars, v.Name) {
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
	if slices.Contains(stackSetVars, name) {
		return true
	}
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
