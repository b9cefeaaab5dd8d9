package livechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Default base URLs of LiveChat's production services.
const (
	// DefaultAccountsURL is the Accounts (OAuth) server.
	DefaultAccountsURL = "https://accounts.livechat.com"
	// DefaultAPIURL is the Agent Chat Web API host; one host serves every region.
	DefaultAPIURL = "https://api.livechatinc.com"
)

// Defaults applied by New when the corresponding Config field is zero.
const (
	// DefaultTimeout bounds one call whose context has no deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAccountsResponseBytes bounds the body of any Accounts response
	// (token, info, revoke). Real token responses are well under 2 KiB.
	DefaultMaxAccountsResponseBytes = 1 << 20
	// DefaultMaxListChatsResponseBytes bounds a List Chats body (at most 100 chat
	// summaries per page).
	DefaultMaxListChatsResponseBytes = 10 << 20
)

// ListChatsPath is the Agent Chat Web API action the client calls (v3.6 is LiveChat's
// stable version).
const ListChatsPath = "/v3.6/agent/action/list_chats"

// Paths of the Accounts endpoints.
const (
	TokenPath = "/v2/token"
	InfoPath  = "/v2/info"
)

// SecretSource yields the OAuth client secret. It is asked on every Exchange and
// Refresh so that a rotated secret is picked up without a restart; implementations
// cache. Its errors reach the caller wrapped with %w, so errors.Is works on them.
type SecretSource interface {
	ClientSecret(ctx context.Context) (string, error)
}

// Config configures a Client. Only ClientID is required for every call; RedirectURL
// for AuthorizeURL and Exchange; ClientSecret for Exchange and Refresh.
type Config struct {
	// AccountsURL and APIURL are base URLs without a trailing path; defaults
	// DefaultAccountsURL and DefaultAPIURL. Tests point both at the simulator.
	AccountsURL, APIURL string
	// ClientID is the LiveChat app's OAuth client id.
	ClientID string
	// RedirectURL is the whitelisted redirect URI sent in the authorize URL and
	// again, byte for byte, in the code exchange.
	RedirectURL string
	// ClientSecret supplies the client secret per call.
	ClientSecret SecretSource
	// HTTPClient makes the calls. Default: a client with dial, TLS, response-header
	// and overall timeouts that does not follow redirects (a redirected POST would
	// otherwise carry the client secret to wherever LiveChat's edge points it).
	HTTPClient *http.Client
	// Now is the clock used to turn expires_in into Token.Expiry; default time.Now.
	Now func() time.Time
	// Timeout applies to a call whose context has no deadline; default DefaultTimeout.
	Timeout time.Duration
	// MaxAccountsResponseBytes and MaxListChatsResponseBytes override the body
	// limits (defaults DefaultMaxAccountsResponseBytes, DefaultMaxListChatsResponseBytes).
	MaxAccountsResponseBytes, MaxListChatsResponseBytes int64
	// UserAgent is sent on every request; default "lcauth".
	UserAgent string
}

// Client calls LiveChat. It is safe for concurrent use and holds no per-user state.
type Client struct {
	cfg       Config
	accounts  *url.URL
	api       *url.URL
	oauth     oauth2.Config
	http      *http.Client
	now       func() time.Time
	timeout   time.Duration
	maxAcct   int64
	maxChats  int64
	userAgent string
}

// New validates cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AccountsURL == "" {
		cfg.AccountsURL = DefaultAccountsURL
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	accounts, err := parseBaseURL("AccountsURL", cfg.AccountsURL)
	if err != nil {
		return nil, err
	}
	api, err := parseBaseURL("APIURL", cfg.APIURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("livechat: config: ClientID is required")
	}
	if cfg.RedirectURL != "" {
		u, err := url.Parse(cfg.RedirectURL)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return nil, errors.New("livechat: config: RedirectURL must be an absolute URL")
		}
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("livechat: config: Timeout must not be negative")
	}
	c := &Client{
		cfg:       cfg,
		accounts:  accounts,
		api:       api,
		http:      cfg.HTTPClient,
		now:       cfg.Now,
		timeout:   cfg.Timeout,
		maxAcct:   cfg.MaxAccountsResponseBytes,
		maxChats:  cfg.MaxListChatsResponseBytes,
		userAgent: cfg.UserAgent,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxAcct <= 0 {
		c.maxAcct = DefaultMaxAccountsResponseBytes
	}
	if c.maxChats <= 0 {
		c.maxChats = DefaultMaxListChatsResponseBytes
	}
	if c.userAgent == "" {
		c.userAgent = "lcauth"
	}
	c.oauth = oauth2.Config{
		ClientID:    cfg.ClientID,
		RedirectURL: cfg.RedirectURL,
		Endpoint: oauth2.Endpoint{
			AuthURL:   accounts.String() + "/",
			TokenURL:  accounts.String() + TokenPath,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	return c, nil
}

func parseBaseURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("livechat: config: %s must be an http(s) base URL without query or fragment", field)
	}
	return u, nil
}

// defaultHTTPClient has a timeout for every phase, so that even a caller that passes
// a context without deadline and a zero Config.Timeout could not hang forever.
func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = 15 * time.Second
	tr.ExpectContinueTimeout = time.Second
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// response is a fully read, size-checked HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// withTimeout gives ctx the default deadline when it has none.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// do sends req and reads at most limit bytes of its body. op names the call in errors
// ("exchange", "list_chats"); the URL never carries a secret, but is still kept out of
// error strings in favour of op.
func (c *Client) do(req *http.Request, op string, limit int64) (*response, error) {
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &TransportError{Op: op, Err: unwrapURLError(err)}
	}
	if int64(len(body)) > limit {
		return nil, &ResponseError{Op: op, StatusCode: resp.StatusCode, Err: ErrResponseTooLarge, Limit: limit}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// unwrapURLError drops *url.Error's wrapping: its message repeats the method and
// URL, which adds nothing to op and could one day carry a query string.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newRequest builds a request against base+path with an optional body.
func newRequest(ctx context.Context, method string, base *url.URL, path string, body []byte) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return http.NewRequestWithContext(ctx, method, u.String(), rd)
}

// scrub removes every non-empty secret from s. Error descriptions come from LiveChat
// and could, in principle, echo what we sent; they must not carry it into our logs.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}
