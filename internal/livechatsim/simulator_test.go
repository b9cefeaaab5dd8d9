package livechatsim_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
	"lcauth/internal/testrig/simtest"
)

const redirectURI = "https://app.example/callback"

// noRedirect is an HTTP client that shows redirects instead of following them, as a
// test needs to see the Location LiveChat sends the browser to.
func noRedirect(srv *httptest.Server) *http.Client {
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func authorizeQuery(sim *livechatsim.Simulator, extra url.Values) url.Values {
	q := url.Values{"response_type": {"code"}, "client_id": {sim.ClientID()}, "redirect_uri": {redirectURI}, "state": {"st-1"}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

func TestRedirectURIAllowed_FollowsLiveChatRules(t *testing.T) {
	wl := []string{"https://app.example/callback", "http://localhost:8080/", "https://other.example/a/"}
	tests := []struct {
		uri  string
		want bool
	}{
		{"https://app.example/callback", true},
		{"https://app.example/callback/install", true}, // whitelisted path is a prefix
		{"https://app.example/callback/", false},       // trailing slash must match
		{"https://app.example/callbackx", true},        // a plain prefix, as LiveChat documents
		{"https://app.example/other", false},
		{"http://app.example/callback", false},       // scheme must match
		{"https://app.example:8443/callback", false}, // port must match
		{"https://evil.example/callback", false},
		{"https://app.example/callback?x=1", false},  // no query string
		{"https://app.example/callback#frag", false}, // no fragment
		{"https://app.example/callback?", false},
		{"https://user@app.example/callback", false},
		{"http://localhost:8080/", true},
		{"http://localhost:8080/callback", true},
		{"http://localhost:8081/callback", false},
		{"https://other.example/a/b", true},
		{"https://other.example/a", false},
		{"/callback", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := livechatsim.RedirectURIAllowed(wl, tt.uri); got != tt.want {
			t.Errorf("RedirectURIAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

var actionRE = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
var styleRE = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// A person's click-through, done with plain HTTP: the page, its form, the redirect.
func TestConsentPage_AllowRedirectsWithEncodedCodeAndState(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}, Seed: true})
	hc := noRedirect(srv)
	q := authorizeQuery(sim, nil)

	resp, err := hc.Get(srv.URL + "/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := string(page)
	for _, want := range []string{`value="allow"`, `value="deny"`, "agent@example.com", "chats--all:ro"} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	lower := strings.ToLower(body)
	if strings.Contains(lower, "<script") || strings.Contains(lower, " src=") || strings.Contains(lower, "<link") || strings.Contains(lower, " onclick=") {
		t.Errorf("consent page has a script or an external asset")
	}
	// The only inline CSS is allowed by its hash, so the page works under its CSP.
	csp := resp.Header.Get("Content-Security-Policy")
	m := styleRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no <style> on the page")
	}
	sum := sha256.Sum256([]byte(m[1]))
	if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q does not allow exactly the page's style by hash", csp)
	}

	am := actionRE.FindStringSubmatch(body)
	if am == nil {
		t.Fatal("no form action on the page")
	}
	action := html.UnescapeString(am[1])
	resp, err = hc.PostForm(srv.URL+action, url.Values{"decision": {"allow"}, "account_id": {sim.Accounts()[0].AccountID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST / = %d, want 302", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI+"?") || !strings.Contains(loc, "code=dal%3A") || !strings.Contains(loc, "state=st-1") {
		t.Fatalf("Location = %q, want the redirect URI with code=dal%%3A... and the state", loc)
	}
	if n := sim.Calls(livechatsim.EndpointAuthorize); n != 1 {
		t.Errorf("authorize calls = %d, want 1 (page views)", n)
	}
}

func TestConsentPage_DenyRedirectsWithAccessDenied(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}})
	resp, err := noRedirect(srv).PostForm(srv.URL+"/?"+authorizeQuery(sim, nil).Encode(), url.Values{"decision": {"deny"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" || loc.Query().Has("code") {
		t.Fatalf("deny = %d %q, want 302 to the redirect URI with error=access_denied and the state", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, err := sim.Deny(livechatAuthorizeURL(srv.URL, sim))
	if err != nil || u.Query().Get("error") != "access_denied" {
		t.Fatalf("Deny = %v, %v", u, err)
	}
}

func livechatAuthorizeURL(base string, sim *livechatsim.Simulator) string {
	return base + "/?" + authorizeQuery(sim, nil).Encode()
}

func TestAuthorize_InvalidRequestsGoToOoopsNotToTheApp(t *testing.T) {
	tests := []struct {
		name          string
		change        url.Values
		wantException string
	}{
		{"unknown client", url.Values{"client_id": {"someone-else"}}, "invalid_client"},
		{"redirect not whitelisted", url.Values{"redirect_uri": {"https://evil.example/callback"}}, "invalid_request"},
		{"redirect with query", url.Values{"redirect_uri": {redirectURI + "?next=/"}}, "invalid_request"},
		{"missing redirect", url.Values{"redirect_uri": {""}}, "invalid_request"},
		{"implicit grant", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"short challenge", url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"unknown challenge method", url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S512"}}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}})
			q := authorizeQuery(sim, tt.change)
			resp, err := noRedirect(srv).Get(srv.URL + "/?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Path != livechatsim.PathOoops || loc.Query().Get("oauth_exception") != tt.wantException {
				t.Fatalf("GET / = %d %q, want 302 to /ooops with %s", resp.StatusCode, resp.Header.Get("Location"), tt.wantException)
			}
			// Following it shows LiveChat's error page.
			resp, err = srv.Client().Get(srv.URL + loc.String())
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(page), tt.wantException) {
				t.Errorf("ooops page does not name %s", tt.wantException)
			}
			// The programmatic path agrees.
			_, err = sim.Authorize(srv.URL+"/?"+q.Encode(), "")
			var ae *livechatsim.AuthorizeError
			if !errors.As(err, &ae) || ae.Exception != tt.wantException {
				t.Errorf("Authorize error = %v, want %s", err, tt.wantException)
			}
		})
	}
}

func TestOoopsPage_EscapesItsParameters(t *testing.T) {
	_, srv := simtest.NewServer(t, livechatsim.Options{})
	resp, err := srv.Client().Get(srv.URL + "/ooops?oauth_exception=%3Cscript%3Ealert(1)%3C/script%3E")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), "<script>") {
		t.Fatal("ooops page reflects markup unescaped")
	}
}

// postToken sends a token request with a form or JSON body and decodes the answer.
func postToken(t *testing.T, srv *httptest.Server, asJSON bool, params map[string]string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	ct := "application/x-www-form-urlencoded"
	if asJSON {
		b, _ := json.Marshal(params)
		body, ct = strings.NewReader(string(b)), "application/json"
	} else {
		v := url.Values{}
		for k, x := range params {
			v.Set(k, x)
		}
		body = strings.NewReader(v.Encode())
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/token", body)
	req.Header.Set("Content-Type", ct)
	return doJSON(t, srv, req, "token endpoint")
}

func TestTokenEndpoint_AcceptsFormAndJSONBodies(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			sim, srv, status, out := authorizeAndExchange(t, asJSON, redirectURI)
			if status != http.StatusOK {
				t.Fatalf("exchange = %d %v", status, out)
			}
			for _, k := range []string{"access_token", "refresh_token", "expires_in", "token_type", "scope", "account_id", "organization_id"} {
				if _, ok := out[k]; !ok {
					t.Errorf("exchange answer lacks %s", k)
				}
			}
			if out["expires_in"] != float64(28800) || strings.Contains(out["refresh_token"].(string), ":") {
				t.Errorf("expires_in = %v, refresh token prefixed = %v", out["expires_in"], strings.Contains(out["refresh_token"].(string), ":"))
			}
			status, out = postToken(t, srv, asJSON, map[string]string{
				"grant_type": "refresh_token", "refresh_token": out["refresh_token"].(string), "client_id": sim.ClientID(), "client_secret": sim.ClientSecret(),
			})
			if status != http.StatusOK || !strings.HasPrefix(out["access_token"].(string), "dal:") {
				t.Fatalf("refresh = %d %v", status, out)
			}
		})
	}
}

func TestTokenEndpoint_ErrorShapes(t *testing.T) {
	tests := []struct {
		name       string
		params     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"no grant type", map[string]string{}, 422, "invalid_request"},
		{"password grant", map[string]string{"grant_type": "password"}, 400, "unsupported_grant_type"},
		{"unknown client", map[string]string{"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody", "client_secret": "x"}, 401, "unauthorized_client"},
		{"missing refresh token", map[string]string{"grant_type": "refresh_token", "client_id": livechatsim.DefaultClientID, "client_secret": livechatsim.DefaultClientSecret}, 422, "invalid_request"},
		{"exchange without redirect_uri", map[string]string{"grant_type": "authorization_code", "code": "dal:x", "client_id": livechatsim.DefaultClientID, "client_secret": livechatsim.DefaultClientSecret}, 422, "invalid_request"},
		{"wrong secret", map[string]string{"grant_type": "refresh_token", "refresh_token": "x", "client_id": livechatsim.DefaultClientID, "client_secret": "wrong"}, 401, "unauthorized_client"},
		{"unknown refresh token", map[string]string{"grant_type": "refresh_token", "refresh_token": "x", "client_id": livechatsim.DefaultClientID, "client_secret": livechatsim.DefaultClientSecret}, 401, "unauthorized_client"},
		{"unknown code", map[string]string{"grant_type": "authorization_code", "code": "dal:nope", "redirect_uri": redirectURI, "client_id": livechatsim.DefaultClientID, "client_secret": livechatsim.DefaultClientSecret}, 401, "unauthorized_client"},
	}
	for _, legacy := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/legacy=%v", tt.name, legacy), func(t *testing.T) {
				_, srv := simtest.NewServer(t, livechatsim.Options{LegacyErrors: legacy})
				status, out := postToken(t, srv, false, tt.params)
				if status != tt.wantStatus {
					t.Errorf("status = %d, want %d", status, tt.wantStatus)
				}
				codeKey, descKey := "error", "error_description"
				if legacy {
					codeKey, descKey = "oauth_exception", "exception_description"
				}
				if out[codeKey] != tt.wantCode || out[descKey] == "" {
					t.Errorf("body = %v, want %s=%s with a description", out, codeKey, tt.wantCode)
				}
				if !legacy && out["request_id"] == "" {
					t.Errorf("current shape lacks request_id: %v", out)
				}
			})
		}
	}
}

func TestExchange_RedirectURIMustMatchTheAuthorizeRequest(t *testing.T) {
	_, _, status, out := authorizeAndExchange(t, false, redirectURI+"/other")
	if status != http.StatusUnauthorized || out["error"] != "unauthorized_client" {
		t.Fatalf("exchange with another redirect_uri = %d %v, want unauthorized_client", status, out)
	}
}

// authorizeAndExchange starts a simulator that accepts redirectURI, authorizes once, and posts the code
// to the token endpoint (as JSON or as a form) with redirect as its redirect_uri. It returns the
// simulator, its server and the token endpoint's answer.
func authorizeAndExchange(t *testing.T, asJSON bool, redirect string) (*livechatsim.Simulator, *httptest.Server, int, map[string]any) {
	t.Helper()
	sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}})
	u, err := sim.Authorize(livechatAuthorizeURL(srv.URL, sim), "")
	if err != nil {
		t.Fatal(err)
	}
	status, out := postToken(t, srv, asJSON, map[string]string{
		"grant_type": "authorization_code", "code": u.Query().Get("code"), "client_id": sim.ClientID(),
		"client_secret": sim.ClientSecret(), "redirect_uri": redirect,
	})
	return sim, srv, status, out
}

// listChats posts a raw body to list_chats.
func listChats(t *testing.T, srv *httptest.Server, token, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+livechatsim.PathListChats, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return doJSON(t, srv, req, "list_chats")
}

// doJSON sends req to the simulator and returns the status and the JSON object it answered; what
// names the endpoint in a failure.
func doJSON(t *testing.T, srv *httptest.Server, req *http.Request, what string) (int, map[string]any) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s answered non-JSON: %v", what, err)
	}
	return resp.StatusCode, out
}

func errType(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

func TestListChats_Validation(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	acct := sim.AddAccount(livechatsim.Account{Chats: 30})
	tok := sim.GrantTokens(acct.AccountID)
	other := sim.GrantTokens("someone-else")
	_, first := listChats(t, srv, tok.AccessToken, `{"limit":5}`, nil)
	next, _ := first["next_page_id"].(string)
	if next == "" {
		t.Fatal("first page has no next_page_id")
	}
	pageJSON, _ := json.Marshal(next)
	tests := []struct {
		name       string
		token      string
		body       string
		header     map[string]string
		wantStatus int
		wantType   string
	}{
		{"page_id with filters", tok.AccessToken, `{"page_id":` + string(pageJSON) + `,"filters":{"active":true}}`, nil, 400, "validation"},
		{"page_id with limit", tok.AccessToken, `{"page_id":` + string(pageJSON) + `,"limit":5}`, nil, 400, "validation"},
		{"page_id with sort_order", tok.AccessToken, `{"page_id":` + string(pageJSON) + `,"sort_order":"asc"}`, nil, 400, "validation"},
		{"garbage page_id", tok.AccessToken, `{"page_id":"not-a-page"}`, nil, 400, "validation"},
		{"another account's page_id", other.AccessToken, `{"page_id":` + string(pageJSON) + `}`, nil, 400, "validation"},
		{"limit 0", tok.AccessToken, `{"limit":0}`, nil, 400, "validation"},
		{"limit 101", tok.AccessToken, `{"limit":101}`, nil, 400, "validation"},
		{"sort order", tok.AccessToken, `{"sort_order":"up"}`, nil, 400, "validation"},
		{"wrong type", tok.AccessToken, `{"limit":"5"}`, nil, 400, "validation"},
		{"not JSON", tok.AccessToken, `limit=5`, nil, 400, "validation"},
		{"too many groups", tok.AccessToken, `{"filters":{"group_ids":[` + strings.TrimSuffix(strings.Repeat("1,", 201), ",") + `]}}`, nil, 400, "validation"},
		{"form content type", tok.AccessToken, `{}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "validation"},
		{"no token", "", `{}`, nil, 401, "authentication"},
		{"unknown token", "dal:unknown", `{}`, nil, 401, "authentication"},
		{"wrong region header", tok.AccessToken, `{}`, map[string]string{"X-Region": "fra"}, 421, "misdirected_request"},
		{"page_id alone", tok.AccessToken, `{"page_id":` + string(pageJSON) + `}`, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := listChats(t, srv, tt.token, tt.body, tt.header)
			if status != tt.wantStatus || errType(out) != tt.wantType {
				t.Errorf("list_chats = %d %v, want %d %q", status, out, tt.wantStatus, tt.wantType)
			}
		})
	}
}

func TestListChats_MisdirectedNamesTheAccountsRegion(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	acct := sim.AddAccount(livechatsim.Account{Region: "fra", Chats: 3})
	tok := sim.GrantTokens(acct.AccountID)
	status, out := listChats(t, srv, tok.AccessToken, `{}`, nil)
	data, _ := out["error"].(map[string]any)["data"].(map[string]any)
	if status != http.StatusMisdirectedRequest || errType(out) != "misdirected_request" || data["region"] != "fra" {
		t.Fatalf("list_chats without X-Region = %d %v, want misdirected_request with data.region fra", status, out)
	}
	if status, out := listChats(t, srv, tok.AccessToken, `{}`, map[string]string{"X-Region": "fra"}); status != 200 {
		t.Fatalf("with X-Region: fra = %d %v", status, out)
	}
}

func TestListChats_MissingScopeIsAuthorization(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{Scope: "agents--all:ro"})
	tok := sim.GrantTokens("a")
	if status, out := listChats(t, srv, tok.AccessToken, `{}`, nil); status != 403 || errType(out) != "authorization" {
		t.Fatalf("list_chats = %d %v, want 403 authorization", status, out)
	}
}

func chatIDs(out map[string]any) []string {
	var ids []string
	list, _ := out["chats_summary"].([]any)
	for _, c := range list {
		ids = append(ids, c.(map[string]any)["id"].(string))
	}
	return ids
}

func TestListChats_FiltersAndSortOrder(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	acct := sim.AddAccount(livechatsim.Account{Chats: 30})
	tok := sim.GrantTokens(acct.AccountID)
	tests := []struct {
		body      string
		wantFound int
	}{
		// include_chats_without_threads defaults to true (LiveChat v3.5 and v3.6): every tenth chat
		// has no thread.
		{`{}`, 30},
		{`{"filters":{"include_chats_without_threads":true}}`, 30},
		{`{"filters":{"include_chats_without_threads":false}}`, 27},
		{`{"filters":{"active":true}}`, 5},
		{`{"filters":{"active":false}}`, 25},
		{`{"filters":{"active":false,"include_chats_without_threads":false}}`, 22},
		{`{"filters":{"group_ids":[1]}}`, 10},
		{`{"filters":{"group_ids":[1,2],"include_chats_without_threads":false}}`, 18},
		{`{"filters":{"properties":{"routing":{"idle":{"values":[false]}}}}}`, 30},
	}
	for _, tt := range tests {
		status, out := listChats(t, srv, tok.AccessToken, tt.body, nil)
		if status != 200 || out["found_chats"] != float64(tt.wantFound) {
			t.Errorf("%s: %d found_chats=%v, want %d", tt.body, status, out["found_chats"], tt.wantFound)
		}
		if got := len(chatIDs(out)); got != min(10, tt.wantFound) {
			t.Errorf("%s: %d summaries on the first page, want %d", tt.body, got, min(10, tt.wantFound))
		}
	}
	_, desc := listChats(t, srv, tok.AccessToken, `{"limit":100}`, nil)
	_, asc := listChats(t, srv, tok.AccessToken, `{"limit":100,"sort_order":"asc"}`, nil)
	d, a := chatIDs(desc), chatIDs(asc)
	if len(d) != 30 || len(a) != 30 || d[0] != a[29] || d[29] != a[0] {
		t.Errorf("asc is not desc reversed: %v vs %v", d, a)
	}
	if _, ok := desc["next_page_id"]; ok {
		t.Errorf("single page has next_page_id")
	}
	// A realistic summary: users, thread, last event.
	var c map[string]any
	_ = json.Unmarshal(mustJSON(desc["chats_summary"].([]any)[0]), &c)
	for _, k := range []string{"id", "users", "last_thread_summary", "last_event_per_type", "access", "properties"} {
		if _, ok := c[k]; !ok {
			t.Errorf("chat summary lacks %s", k)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestListChats_PageIDsWalkForwardAndBack(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	acct := sim.AddAccount(livechatsim.Account{Chats: 30})
	tok := sim.GrantTokens(acct.AccountID)
	_, p1 := listChats(t, srv, tok.AccessToken, `{"limit":10}`, nil)
	if _, ok := p1["previous_page_id"]; ok {
		t.Error("first page has previous_page_id")
	}
	_, p2 := listChats(t, srv, tok.AccessToken, `{"page_id":"`+p1["next_page_id"].(string)+`"}`, nil)
	_, back := listChats(t, srv, tok.AccessToken, `{"page_id":"`+p2["previous_page_id"].(string)+`"}`, nil)
	if strings.Join(chatIDs(back), ",") != strings.Join(chatIDs(p1), ",") {
		t.Errorf("previous page of page 2 is not page 1")
	}
	if strings.Join(chatIDs(p2), ",") == strings.Join(chatIDs(p1), ",") {
		t.Errorf("page 2 equals page 1")
	}
}

func TestTokens_OldestIsRevokedAfter25PerUser(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	first := sim.GrantTokens("a")
	for i := 0; i < livechatsim.MaxTokensPerUser-1; i++ {
		sim.GrantTokens("a")
	}
	if !sim.TokenValid(first.AccessToken) {
		t.Fatal("the first token died before the limit")
	}
	sim.GrantTokens("a")
	if sim.TokenValid(first.AccessToken) {
		t.Fatal("the oldest token survived the 26th")
	}
	if status, _ := listChats(t, srv, first.AccessToken, `{}`, nil); status != 401 {
		t.Errorf("list_chats with the evicted token = %d, want 401", status)
	}
}

func TestRevokeGrant_StopsAccessAndRefreshUntilReauthorized(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}})
	acct := sim.AddAccount(livechatsim.Account{Chats: 2})
	tok := sim.GrantTokens(acct.AccountID)
	sim.RevokeGrant(acct.AccountID)
	if status, _ := listChats(t, srv, tok.AccessToken, `{}`, nil); status != 401 {
		t.Errorf("list_chats after revoke = %d, want 401", status)
	}
	refresh := map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken, "client_id": sim.ClientID(), "client_secret": sim.ClientSecret()}
	if status, out := postToken(t, srv, false, refresh); out["error"] != "invalid_grant" {
		t.Fatalf("refresh after revoke = %d %v, want invalid_grant", status, out)
	}
	// Installing again gives working tokens; the old refresh token stays dead.
	u, err := sim.Authorize(livechatAuthorizeURL(srv.URL, sim), acct.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	status, out := postToken(t, srv, false, map[string]string{
		"grant_type": "authorization_code", "code": u.Query().Get("code"), "client_id": sim.ClientID(),
		"client_secret": sim.ClientSecret(), "redirect_uri": redirectURI,
	})
	if status != 200 {
		t.Fatalf("exchange after re-consent = %d %v", status, out)
	}
	if _, out := postToken(t, srv, false, refresh); out["error"] != "invalid_grant" {
		t.Errorf("old refresh token after reinstall = %v, want invalid_grant", out)
	}
}

func TestFaults_TimesThenNormalAndClear(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	tok := sim.GrantTokens("a")
	sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 503, Times: 2})
	for i, want := range []int{503, 503, 200} {
		if status, _ := listChats(t, srv, tok.AccessToken, `{}`, nil); status != want {
			t.Errorf("call %d = %d, want %d", i+1, status, want)
		}
	}
	sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 500})
	if status, _ := listChats(t, srv, tok.AccessToken, `{}`, nil); status != 500 {
		t.Errorf("forever fault = %d, want 500", status)
	}
	sim.ClearFaults()
	if status, _ := listChats(t, srv, tok.AccessToken, `{}`, nil); status != 200 {
		t.Errorf("after ClearFaults = %d, want 200", status)
	}
	if n := sim.Calls(livechatsim.EndpointListChats); n != 5 {
		t.Errorf("calls = %d, want 5", n)
	}
}

func TestFaults_HangIsReleasedByClose(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{})
	tok := sim.GrantTokens("a")
	sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+livechatsim.PathListChats, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("hanging request returned before Close")
	case <-time.After(100 * time.Millisecond):
	}
	sim.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("request released by Close succeeded, want a dropped connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
}

func TestSimulator_IsSafeForConcurrentUse(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{RotateRefreshTokens: false})
	acct := sim.AddAccount(livechatsim.Account{Chats: 15})
	client, err := livechat.New(livechat.Config{
		AccountsURL: srv.URL, APIURL: srv.URL, ClientID: sim.ClientID(),
		ClientSecret: secrets.Static(sim.ClientSecret()), HTTPClient: srv.Client(), Now: sim.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := sim.GrantTokens(acct.AccountID)
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				nt, err := client.Refresh(context.Background(), tok.RefreshToken)
				if err != nil {
					errs <- err
					continue
				}
				if _, err := client.ListChats(context.Background(), nt.AccessToken, livechat.ListChatsRequest{Limit: 3}); err != nil {
					errs <- err
				}
				sim.Advance(time.Millisecond)
				_ = sim.Calls(livechatsim.EndpointListChats)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// The 25-token limit may evict a fresh access token before its list_chats.
		if livechat.Classify(err) != livechat.ClassAuthentication {
			t.Errorf("concurrent call: %v", err)
		}
	}
	if n := sim.RefreshesOf(acct.AccountID); n != workers*each {
		t.Errorf("RefreshesOf = %d, want %d", n, workers*each)
	}
}

func TestSeed_AddsOneAccountWithChats(t *testing.T) {
	sim := livechatsim.New(livechatsim.Options{Seed: true})
	accts := sim.Accounts()
	if len(accts) != 1 || accts[0].Chats != 30 || accts[0].Region != "dal" || accts[0].OrganizationID == "" {
		t.Fatalf("seeded accounts = %+v", accts)
	}
}

func TestClock_AdvanceExpiresTokens(t *testing.T) {
	sim := livechatsim.New(livechatsim.Options{TokenLifetime: time.Hour})
	tok := sim.GrantTokens("a")
	if !sim.TokenValid(tok.AccessToken) {
		t.Fatal("fresh token invalid")
	}
	before := sim.Now()
	sim.Advance(time.Hour)
	if sim.Now().Sub(before) < time.Hour {
		t.Errorf("Advance did not move the clock")
	}
	if sim.TokenValid(tok.AccessToken) {
		t.Error("token valid after its lifetime")
	}
	sim.SetTokenLifetime(2 * time.Hour)
	if got := sim.GrantTokens("a").Expiry.Sub(sim.Now()); got < 2*time.Hour-time.Second {
		t.Errorf("new lifetime not applied: %v", got)
	}
}

func TestAuthorize_RedirectLimitWhenEnforced(t *testing.T) {
	sim, srv := simtest.NewServer(t, livechatsim.Options{RedirectURIs: []string{redirectURI}, EnforceRedirectLimit: true})
	au := livechatAuthorizeURL(srv.URL, sim)
	for i := 0; i < livechatsim.RedirectLimit; i++ {
		if _, err := sim.Authorize(au, ""); err != nil {
			t.Fatalf("authorize %d: %v", i+1, err)
		}
	}
	resp, err := noRedirect(srv).Get(au)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "oauth_exception=too_many_redirects") {
		t.Fatalf("4th authorize in 30s -> %d %q, want /ooops with too_many_redirects", resp.StatusCode, loc)
	}
	sim.Advance(livechatsim.RedirectLimitWindow)
	if _, err := sim.Authorize(au, ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
