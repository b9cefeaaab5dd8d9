package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PKCE settings accepted in LCAUTH_PKCE.
const (
	PKCEOff   = "off"
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// SealingKeySize is the length in bytes of LCAUTH_SEALING_KEY once base64-decoded (AES-256).
const SealingKeySize = 32

// Config is the validated configuration. Exactly one of ClientSecretARN and ClientSecret is set, and
// at most one of KMSKeyID and SealingKey. Its String and LogValue methods redact the secrets.
type Config struct {
	// ClientID is the LiveChat app's OAuth client id.
	ClientID string
	// RedirectURL is the public URL of /callback, byte for byte as whitelisted in LiveChat.
	RedirectURL string
	// AccountsURL and APIURL are LiveChat's base URLs (or the simulator's).
	AccountsURL, APIURL string
	// InstallURL is the public URL of /install, shown to callers whose installation needs
	// re-authorization. Derived from RedirectURL when not set.
	InstallURL string
	// ClientSecretARN names the Secrets Manager secret holding the client secret (AWS).
	ClientSecretARN string
	// ClientSecret is the client secret itself (local runs).
	ClientSecret string
	// Table is the DynamoDB table name.
	Table string
	// DynamoDBEndpoint overrides the DynamoDB endpoint (dynalite); empty means AWS.
	DynamoDBEndpoint string
	// PKCE is PKCEOff, PKCES256 or PKCEPlain.
	PKCE string
	// Addr is the local server's listen address.
	Addr string
	// KMSKeyID is the KMS key that seals tokens at rest (AWS).
	KMSKeyID string
	// SealingKey is the 32-byte local sealing key.
	SealingKey []byte
	// SecretTTL is how long the client secret is cached.
	SecretTTL time.Duration
	// RefreshWindow: tokens expiring within it are refreshed by a pass.
	RefreshWindow time.Duration
	// RefreshConcurrency bounds refreshes in flight in one pass.
	RefreshConcurrency int
	// RefreshRate limits refreshes per second in one pass; 0 means no limit.
	RefreshRate float64
	// RefreshInterval is the pause between passes of cmd/lcauth dev.
	RefreshInterval time.Duration
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// WebhookSecretARN names the Secrets Manager secret holding the webhook secret (AWS).
	WebhookSecretARN string
	// WebhookSecret is the webhook secret itself (local runs).
	WebhookSecret string
	// StateKeyARN names the Secrets Manager secret the OAuth state keys are derived from (AWS).
	StateKeyARN string
	// StateKey is the 32-byte local state key.
	StateKey []byte
	// MetricsService is the value of the one dimension (Service) on every metric lcauth emits; the
	// stack sets its own name, so two stacks in one account never feed each other's alarms.
	MetricsService string
}

// String describes the configuration without its secrets, so that printing a Config is safe.
func (c Config) String() string {
	return fmt.Sprintf("config.Config{ClientID:%q RedirectURL:%q AccountsURL:%q APIURL:%q InstallURL:%q ClientSecretARN:%q ClientSecret:%s Table:%q DynamoDBEndpoint:%q PKCE:%q Addr:%q KMSKeyID:%q SealingKey:%s SecretTTL:%s RefreshWindow:%s RefreshConcurrency:%d RefreshRate:%g RefreshInterval:%s LogLevel:%s MetricsService:%q WebhookSecretARN:%q WebhookSecret:%s StateKeyARN:%q StateKey:%s}",
		c.ClientID, c.RedirectURL, c.AccountsURL, c.APIURL, c.InstallURL, c.ClientSecretARN, redact(c.ClientSecret != ""),
		c.Table, c.DynamoDBEndpoint, c.PKCE, c.Addr, c.KMSKeyID, redact(len(c.SealingKey) > 0), c.SecretTTL,
		c.RefreshWindow, c.RefreshConcurrency, c.RefreshRate, c.RefreshInterval, c.LogLevel, c.MetricsService,
		c.WebhookSecretARN, redact(c.WebhookSecret != ""), c.StateKeyARN, redact(len(c.StateKey) > 0))
}

// GoString redacts like String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue lets slog log a Config without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("redirect_url", c.RedirectURL),
		slog.String("accounts_url", c.AccountsURL),
		slog.String("api_url", c.APIURL),
		slog.String("install_url", c.InstallURL),
		slog.String("client_secret_arn", c.ClientSecretARN),
		slog.Bool("client_secret_set", c.ClientSecret != ""),
		slog.String("table", c.Table),
		slog.String("dynamodb_endpoint", c.DynamoDBEndpoint),
		slog.String("pkce", c.PKCE),
		slog.String("kms_key_id", c.KMSKeyID),
		slog.Bool("sealing_key_set", len(c.SealingKey) > 0),
		slog.String("webhook_secret_arn", c.WebhookSecretARN),
		slog.Bool("webhook_secret_set", c.WebhookSecret != ""),
		slog.String("state_key_arn", c.StateKeyARN),
		slog.Bool("state_key_set", len(c.StateKey) > 0),
	)
}

func redact(set bool) string {
	if set {
		return "[redacted]"
	}
	return `""`
}

// Error reports every missing or invalid variable at once, so an operator fixes them in one go.
type Error struct {
	// Problems holds one line per variable, each starting with its name.
	Problems []string
}

// Error joins the problems into one message.
func (e *Error) Error() string {
	return "config: " + strings.Join(e.Problems, "; ")
}

// Load reads and validates the configuration every program needs: LIVECHAT_CLIENT_ID and one of
// LIVECHAT_CLIENT_SECRET_ARN / LIVECHAT_CLIENT_SECRET are required; every other variable is optional
// here but validated when set, and defaults come from Vars. Programs that need more (a table, a
// sealing key, a redirect URL) call LoadFor, which adds those requirements. The error is a *Error
// naming every missing or invalid variable; it never contains a secret's value.
func Load(getenv func(string) string) (Config, error) {
	return LoadFor(getenv)
}

// LoadFor is Load plus the requirements of the given functions (FunctionInstall, ...). What a function
// requires follows Vars: a variable without a default that Vars lists for the function must be set
// (for the client secret and the sealing key, either the AWS variable or its local alternative). So
// the HTTP functions need LIVECHAT_REDIRECT_URL and the ones that read or write tokens LCAUTH_TABLE and
// one of LCAUTH_KMS_KEY_ID / LCAUTH_SEALING_KEY. Without functions the client secret is required.
func LoadFor(getenv func(string) string, functions ...string) (Config, error) {
	l := loader{getenv: getenv}
	var c Config
	l.liveChat(&c)
	l.clientSecret(&c)
	l.storage(&c)
	l.local(&c)
	l.refresh(&c)
	l.observability(&c)
	l.webhook(&c)
	l.stateKey(&c)
	l.requireFor(&c, functions)
	if len(l.problems) > 0 {
		return Config{}, &Error{Problems: l.problems}
	}
	return c, nil
}

// liveChat reads the client id and the URLs: LiveChat's, and the public ones of this deployment.
func (l *loader) liveChat(c *Config) {
	c.ClientID = l.str(EnvClientID)
	if c.ClientID == "" {
		l.missing(EnvClientID, "the LiveChat app's client id")
	}
	c.RedirectURL = l.url(EnvRedirectURL, true)
	c.AccountsURL = l.baseURL(EnvAccountsURL)
	c.APIURL = l.baseURL(EnvAPIURL)
	c.InstallURL = l.url(EnvInstallURL, false)
	if c.InstallURL == "" && c.RedirectURL != "" {
		c.InstallURL = DefaultInstallURL(c.RedirectURL)
	}
}

// clientSecret reads where the client secret comes from; whether one is required is requireFor's.
func (l *loader) clientSecret(c *Config) {
	c.ClientSecretARN = l.str(EnvClientSecretARN)
	c.ClientSecret = l.raw(EnvClientSecret)
	c.SecretTTL = l.duration(EnvSecretTTL)
	l.secretSource(EnvClientSecretARN, c.ClientSecretARN, EnvClientSecret, c.ClientSecret)
}

// key reads a base64-encoded key of SealingKeySize bytes from name (nil when unset).
func (l *loader) key(name string) []byte {
	raw := l.raw(name)
	if raw == "" {
		return nil
	}
	key, err := decodeKey(raw)
	if err != nil {
		// The value is a secret: name the problem, never echo it.
		l.problem(fmt.Sprintf("%s must be the base64 encoding of %d bytes", name, SealingKeySize))
	}
	return key
}

// secretSource checks a secret that comes either from Secrets Manager (arnVar) or from the
// environment (valueVar): not both, and an ARN that is one. It reports whether both checks passed.
func (l *loader) secretSource(arnVar, arn, valueVar, value string) bool {
	switch {
	case arn != "" && value != "":
		l.problem(arnVar + " and " + valueVar + " are both set; set only one")
	case arn != "" && !strings.HasPrefix(arn, "arn:"):
		l.problem(arnVar + " must be a Secrets Manager ARN (arn:...)")
	default:
		return true
	}
	return false
}

// storage reads the table, the DynamoDB endpoint and the key that seals tokens at rest.
func (l *loader) storage(c *Config) {
	c.Table = l.str(EnvTable)
	c.DynamoDBEndpoint = l.url(EnvDynamoDBEndpoint, false)
	c.KMSKeyID = l.str(EnvKMSKeyID)
	c.SealingKey = l.key(EnvSealingKey)
	if c.KMSKeyID != "" && len(c.SealingKey) > 0 {
		l.problem(EnvKMSKeyID + " and " + EnvSealingKey + " are both set; set only one")
	}
}

// local reads the OAuth flow's PKCE setting and the local server's address.
func (l *loader) local(c *Config) {
	switch p := l.str(EnvPKCE); strings.ToLower(p) {
	case "", "off":
		c.PKCE = PKCEOff
	case "s256":
		c.PKCE = PKCES256
	case "plain":
		c.PKCE = PKCEPlain
	default:
		l.problem(fmt.Sprintf("%s must be off, S256 or plain, not %q", EnvPKCE, p))
	}
	c.Addr = l.str(EnvAddr)
	if c.Addr == "" {
		c.Addr = defaultOf(EnvAddr)
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		l.problem(fmt.Sprintf("%s must be host:port (for example 127.0.0.1:8080), not %q", EnvAddr, c.Addr))
	}
}

// refresh reads the refresher's tuning.
func (l *loader) refresh(c *Config) {
	c.RefreshWindow = l.duration(EnvRefreshWindow)
	c.RefreshInterval = l.duration(EnvRefreshInterval)
	c.RefreshConcurrency = l.intRange(EnvRefreshConcurrent, 1, 1000)
	c.RefreshRate = l.rate(EnvRefreshRate)
}

// observability reads the log level and the metrics' dimension value.
func (l *loader) observability(c *Config) {
	lvl := l.str(EnvLogLevel)
	if lvl == "" {
		lvl = defaultOf(EnvLogLevel)
	}
	if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
		l.problem(fmt.Sprintf("%s must be debug, info, warn or error, not %q", EnvLogLevel, lvl))
	}
	c.MetricsService = l.str(EnvMetricsService)
	if c.MetricsService == "" {
		c.MetricsService = defaultOf(EnvMetricsService)
	}
	if len(c.MetricsService) > 255 || !metricsServicePattern.MatchString(c.MetricsService) {
		l.problem(fmt.Sprintf("%s must be 1 to 255 letters, digits, '-', '_' or '.' (the stack sets its own name), not %q", EnvMetricsService, c.MetricsService))
	}
}

// webhook reads where the webhook secret comes from. A local secret goes into a URL's query string, so
// it must be URL-safe, and long enough not to be guessed.
func (l *loader) webhook(c *Config) {
	c.WebhookSecretARN = l.str(EnvWebhookSecretARN)
	c.WebhookSecret = l.str(EnvWebhookSecret)
	if l.secretSource(EnvWebhookSecretARN, c.WebhookSecretARN, EnvWebhookSecret, c.WebhookSecret) &&
		c.WebhookSecret != "" && !ValidWebhookSecret(c.WebhookSecret) {
		// The value is a secret: name the rule, never echo it.
		l.problem(EnvWebhookSecret + " must be at least 16 characters of A-Z a-z 0-9 - _ . ~")
	}
}

// stateKey reads where the OAuth state key comes from. Neither is required: without both, the state
// keys are derived from the client secret (local runs).
func (l *loader) stateKey(c *Config) {
	c.StateKeyARN = l.str(EnvStateKeyARN)
	c.StateKey = l.key(EnvStateKey)
	l.secretSource(EnvStateKeyARN, c.StateKeyARN, EnvStateKey, string(c.StateKey))
}

// WebhookSecretPattern is the alphabet of a local webhook secret: URL-safe without escaping.
// ValidWebhookSecret adds the length. (Lengths are checked apart: a bounded repetition such as
// {16,512} compiles into hundreds of states, about 2 ms of every Lambda cold start.)
var WebhookSecretPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// ValidWebhookSecret reports whether s may be a local webhook secret: 16 to 512 characters of
// WebhookSecretPattern (cmd/lcauth generates 43).
func ValidWebhookSecret(s string) bool {
	return len(s) >= 16 && len(s) <= 512 && WebhookSecretPattern.MatchString(s)
}

// metricsServicePattern is what LCAUTH_METRICS_SERVICE may hold (at most 255 of them, checked apart):
// a CloudWatch dimension value that is also a valid stack name, and nothing that could break an EMF
// line.
var metricsServicePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// requirement is a variable some functions cannot run without, and its local alternative if any.
type requirement struct{ name, alt, what string }

// requirements are checked for every function that Vars lists name for.
var requirements = []requirement{
	{EnvRedirectURL, "", "the public URL of /callback"},
	{EnvClientSecretARN, EnvClientSecret, "the LiveChat client secret"},
	{EnvTable, "", "the DynamoDB table name"},
	{EnvKMSKeyID, EnvSealingKey, "the key that seals tokens at rest"},
	{EnvWebhookSecretARN, EnvWebhookSecret, "the secret LiveChat's App Webhooks carry in the URL"},
}

// requireFor reports the requirements of functions that are not met (each once), and unknown
// functions. Without functions only the client secret is required.
func (l *loader) requireFor(c *Config, functions []string) {
	set := map[string]bool{
		EnvRedirectURL:      c.RedirectURL != "",
		EnvClientSecretARN:  c.ClientSecretARN != "" || c.ClientSecret != "",
		EnvTable:            c.Table != "",
		EnvKMSKeyID:         c.KMSKeyID != "" || len(c.SealingKey) > 0,
		EnvWebhookSecretARN: c.WebhookSecretARN != "" || c.WebhookSecret != "",
	}
	need := map[string]bool{}
	if len(functions) == 0 {
		need[EnvClientSecretARN] = true
	}
	for _, fn := range functions {
		if !slices.Contains(Functions(), fn) {
			l.problem(fmt.Sprintf("unknown function %q", fn))
			continue
		}
		for _, v := range ForFunction(fn) {
			need[v.Name] = true
		}
	}
	for _, r := range requirements {
		if !need[r.name] || set[r.name] || l.reported(r.name) || (r.alt != "" && l.reported(r.alt)) {
			continue
		}
		if r.alt == "" {
			l.missing(r.name, r.what)
		} else {
			l.problem(fmt.Sprintf("%s or %s is required (%s)", r.name, r.alt, r.what))
		}
	}
}

// DefaultInstallURL is the redirect URL with its last path segment replaced by "install": the
// stack serves /install next to /callback.
func DefaultInstallURL(redirectURL string) string {
	u, err := url.Parse(redirectURL)
	if err != nil {
		return ""
	}
	dir := path.Dir(strings.TrimSuffix(u.Path, "/"))
	if dir == "." {
		dir = "/"
	}
	u.Path = path.Join(dir, "install")
	u.RawPath = ""
	return u.String()
}

func decodeKey(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(raw); err == nil {
			if len(key) != SealingKeySize {
				return nil, errors.New("wrong key length")
			}
			return key, nil
		}
	}
	return nil, errors.New("not base64")
}

func defaultOf(name string) string {
	for _, v := range Vars() {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}

// loader collects problems instead of stopping at the first one.
type loader struct {
	getenv   func(string) string
	problems []string
	names    map[string]bool
}

func (l *loader) problem(p string) {
	l.problems = append(l.problems, p)
	if l.names == nil {
		l.names = map[string]bool{}
	}
	if name, _, ok := strings.Cut(p, " "); ok {
		l.names[name] = true
	}
}

func (l *loader) reported(name string) bool { return l.names[name] }

func (l *loader) missing(name, what string) {
	l.problem(fmt.Sprintf("%s is required (%s)", name, what))
}

// raw returns the value as set, for secrets where whitespace may matter to the holder.
func (l *loader) raw(name string) string { return l.getenv(name) }

func (l *loader) str(name string) string { return strings.TrimSpace(l.getenv(name)) }

// url validates an absolute http(s) URL; redirect URLs may not carry a query or fragment (LiveChat's
// rule for redirect_uri).
func (l *loader) url(name string, strict bool) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.problem(fmt.Sprintf("%s must be an absolute http(s) URL, not %q", name, v))
		return ""
	}
	if strict && (u.RawQuery != "" || u.Fragment != "") {
		l.problem(fmt.Sprintf("%s must not have a query or fragment (LiveChat rejects them in redirect_uri)", name))
		return ""
	}
	return v
}

func (l *loader) baseURL(name string) string {
	v := l.str(name)
	if v == "" {
		return defaultOf(name)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		l.problem(fmt.Sprintf("%s must be an http(s) base URL without query or fragment, not %q", name, v))
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (l *loader) duration(name string) time.Duration {
	v := l.str(name)
	if v == "" {
		v = defaultOf(name)
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.problem(fmt.Sprintf("%s must be a positive duration such as 5m or 90s, not %q", name, v))
		return 0
	}
	return d
}

func (l *loader) intRange(name string, lo, hi int) int {
	v := l.str(name)
	if v == "" {
		v = defaultOf(name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.problem(fmt.Sprintf("%s must be an integer from %d to %d, not %q", name, lo, hi, v))
		return 0
	}
	return n
}

func (l *loader) rate(name string) float64 {
	v := l.str(name)
	if v == "" {
		v = defaultOf(name)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f != f || f > 1e6 {
		l.problem(fmt.Sprintf("%s must be a number >= 0 (0 = no limit), not %q", name, v))
		return 0
	}
	return f
}
