package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/harness"
)

func TestChats_RequiresAPIKey(t *testing.T) {
	e := newEnv(t)
	good := e.Install(e.Account.AccountID).APIKey
	forged := forgedKey(good)
	tests := []struct {
		name, header string
	}{
		{"no header", ""},
		{"basic auth", "Basic dXNlcjpwYXNz"},
		{"bearer without key", "Bearer "},
		{"not an lcauth key", "Bearer abc.def"},
		{"forged secret", "Bearer " + forged},
		{"unknown installation", "Bearer lca_aaaaaaaaaaaaaaaaaaaaaaaaaa_" + strings.Repeat("a", 52)},
		{"huge header", "Bearer lca_" + strings.Repeat("a", 2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/chats", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			r := harness.Do(t, http.DefaultClient, req)
			r.JSONError(t, http.StatusUnauthorized, httpapi.CodeUnauthorized)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer realm="lcauth"`) {
				t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := e.Sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Fatalf("%d list_chats calls for unauthenticated requests, want 0", n)
	}
}

func TestChats_KeyOfOrganizationANeverReadsOrganizationB(t *testing.T) {
	e := newEnv(t)
	b := e.Sim.AddAccount(livechatsim.Account{Email: "b@example.com", Chats: 7})
	keyA := e.Install(e.Account.AccountID).APIKey
	keyB := e.Install(b.AccountID).APIKey

	idsA, foundA := chatIDs(t, e.Chats(keyA, "limit=100&include_chats_without_threads=true"))
	idsB, foundB := chatIDs(t, e.Chats(keyB, "limit=100&include_chats_without_threads=true"))
	if foundA != 12 || foundB != 7 {
		t.Fatalf("found_chats A=%d B=%d, want 12 and 7", foundA, foundB)
	}
	for id := range idsA {
		if idsB[id] {
			t.Fatalf("chat %s is visible with both keys", id)
		}
	}
	// Replacing the installation id inside A's key with B's does not open B.
	instB := e.Install(b.AccountID).InstallationID
	instA := strings.SplitN(strings.TrimPrefix(keyA, "lca_"), "_", 2)[0]
	mixed := strings.Replace(keyA, instA, instB, 1)
	if r := e.Chats(mixed, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("A's secret with B's id: status %d, want 401", r.Status)
	}
}

func chatIDs(t *testing.T, r harness.Response) (map[string]bool, int) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("/chats: %d %s", r.Status, r.Body)
	}
	var body struct {
		Chats []struct {
			ID string `json:"id"`
		} `json:"chats_summary"`
		Found int `json:"found_chats"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range body.Chats {
		ids[c.ID] = true
	}
	return ids, body.Found
}

func TestChats_ValidatesQueryBeforeCallingLiveChat(t *testing.T) {
	e, key := newInstalledEnv(t)
	many := make([]string, 201)
	for i := range many {
		many[i] = strconv.Itoa(i)
	}
	tests := []struct {
		name, query string
		wantStatus  int
	}{
		{"limit zero", "limit=0", 400},
		{"limit over 100", "limit=101", 400},
		{"limit not a number", "limit=ten", 400},
		{"sort order", "sort_order=up", 400},
		{"active not a bool", "active=yes", 400},
		{"group ids not ints", "group_ids=1,x", 400},
		{"negative group id", "group_ids=-1", 400},
		{"201 group ids", "group_ids=" + strings.Join(many, ","), 400},
		{"unknown parameter", "limt=5", 400},
		{"repeated parameter", "limit=5&limit=6", 400},
		{"page_id with limit", "page_id=abc&limit=5", 400},
		{"page_id with filters", "page_id=abc&active=true", 400},
		{"empty page_id", "page_id=", 400},
		{"semicolon separator", "limit=5;sort_order=asc", 400},
		{"query too long", "page_id=" + strings.Repeat("a", 5000), 414},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Chats(key, tt.query)
			if r.Status != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.wantStatus)
			}
			if r.Status == 400 && r.ErrorCode(t) != httpapi.CodeInvalidRequest {
				t.Fatalf("code %q, want invalid_request", r.ErrorCode(t))
			}
		})
	}
	if n := e.Sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Fatalf("%d list_chats calls for invalid requests, want 0", n)
	}
}

func TestChats_QueryParametersReachLiveChat(t *testing.T) {
	e, key := newInstalledEnv(t)
	r := e.Chats(key, "limit=3&sort_order=asc&include_chats_without_threads=true&group_ids=0,1,2")
	ids, _ := chatIDs(t, r)
	if len(ids) != 3 {
		t.Fatalf("%d chats, want 3", len(ids))
	}
	var page struct {
		Next string `json:"next_page_id"`
	}
	_ = json.Unmarshal([]byte(r.Body), &page)
	if page.Next == "" {
		t.Fatal("no next_page_id")
	}
	next, _ := chatIDs(t, e.Chats(key, "page_id="+page.Next))
	for id := range next {
		if ids[id] {
			t.Fatalf("page 2 repeats chat %s", id)
		}
	}
}

func TestChats_PostBody(t *testing.T) {
	e, key := newInstalledEnv(t)
	tests := []struct {
		name, contentType, body string
		wantStatus              int
		wantCode                string
	}{
		{"list_chats shape", "application/json", `{"limit":4,"sort_order":"desc","filters":{"include_chats_without_threads":true}}`, 200, ""},
		{"empty body", "application/json", ``, 200, ""},
		{"no content type", "", `{"limit":2}`, 200, ""},
		{"unknown field", "application/json", `{"limt":4}`, 400, httpapi.CodeInvalidRequest},
		{"wrong type", "application/json", `{"limit":"4"}`, 400, httpapi.CodeInvalidRequest},
		{"malformed", "application/json", `{"limit":`, 400, httpapi.CodeInvalidRequest},
		{"two objects", "application/json", `{"limit":4}{"limit":5}`, 400, httpapi.CodeInvalidRequest},
		{"page_id with filters", "application/json", `{"page_id":"x","filters":{"active":true}}`, 400, httpapi.CodeInvalidRequest},
		{"limit over 100", "application/json", `{"limit":500}`, 400, httpapi.CodeInvalidRequest},
		{"properties not an object", "application/json", `{"filters":{"properties":[1]}}`, 400, httpapi.CodeInvalidRequest},
		{"form body", "application/x-www-form-urlencoded", `limit=4`, 415, httpapi.CodeUnsupportedMediaType},
		{"too large", "application/json", `{"page_id":"` + strings.Repeat("a", 70<<10) + `"}`, 413, httpapi.CodeRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.PostChats(key, tt.contentType, tt.body)
			if r.Status != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.wantStatus)
			}
			if tt.wantCode != "" && r.ErrorCode(t) != tt.wantCode {
				t.Fatalf("code %q, want %q", r.ErrorCode(t), tt.wantCode)
			}
		})
	}
	// Chunked (no Content-Length) oversized body is cut by MaxBytesReader.
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/chats", &endlessReader{})
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if r := harness.Do(t, http.DefaultClient, req); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked huge body: %d, want 413", r.Status)
	}
}

// endlessReader streams spaces forever (a body without Content-Length).
type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestChats_MethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodDelete, e.URL+"/chats", nil)
	r := harness.Do(t, http.DefaultClient, req)
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("got %d Allow %q, want 405 GET, POST", r.Status, r.Header.Get("Allow"))
	}
}

func TestChats_RefreshesFirstWhenTokenExpiresSoon(t *testing.T) {
	e, key := newInstalledEnv(t)
	e.Sim.Advance(8*time.Hour - 90*time.Second) // inside the 2 minute margin
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats: %d %s", r.Status, r.Body)
	}
	if n := e.Sim.RefreshesOf(e.Account.AccountID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	// The new token is stored: the next call does not refresh again.
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats again: %d %s", r.Status, r.Body)
	}
	if n := e.Sim.RefreshesOf(e.Account.AccountID); n != 1 {
		t.Fatalf("refreshes after a second call = %d, want still 1", n)
	}
}

// TestChats_TokenRefresh: how /chats comes to a working access token (refresh before the call when the
// token expired, refresh and retry once after a 401, keep a still-valid token when refreshing fails),
// as LiveChat's call counts show.
func TestChats_TokenRefresh(t *testing.T) {
	tests := []struct {
		name                    string
		advance                 time.Duration
		listFault, refreshFault *livechatsim.Fault
		wantStatus              int
		wantCode                string // of an error answer
		wantLists               int    // list_chats calls
		wantRefreshes           int    // refreshes of the account; -1 = not looked at
	}{
		// The refresh happened before the call, not after a failure.
		{"ExpiredTokenIsRefreshedFirst", 9 * time.Hour, nil, nil, http.StatusOK, "", 1, -1},
		{"AuthenticationErrorRefreshesOnceAndRetriesOnce", 0, &livechatsim.Fault{Status: 401, Times: 1}, nil, http.StatusOK, "", 2, 1},
		{"PersistentAuthenticationErrorStopsAfterOneRetry", 0, &livechatsim.Fault{Status: 401}, nil, http.StatusUnauthorized, httpapi.CodeReauthorizationNeeded, 2, -1},
		// In the margin, not yet expired: the old token is used.
		{"TransientRefreshFailureUsesStillValidToken", 8*time.Hour - time.Minute, nil, &livechatsim.Fault{Status: 500}, http.StatusOK, "", 1, -1},
		// No list_chats call with an expired token.
		{"TransientRefreshFailureOfExpiredTokenIs502", 9 * time.Hour, nil, &livechatsim.Fault{Status: 500}, http.StatusBadGateway, httpapi.CodeUpstreamError, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, key := newInstalledEnv(t)
			e.Sim.Advance(tt.advance)
			if tt.listFault != nil {
				e.Sim.InjectFault(livechatsim.EndpointListChats, *tt.listFault)
			}
			if tt.refreshFault != nil {
				e.Sim.InjectFault(livechatsim.EndpointTokenRefresh, *tt.refreshFault)
			}
			e.Chats(key, "").Want(t, tt.wantStatus, tt.wantCode)
			if n := e.Sim.Calls(livechatsim.EndpointListChats); n != tt.wantLists {
				t.Errorf("list_chats calls = %d, want %d", n, tt.wantLists)
			}
			if n := e.Sim.RefreshesOf(e.Account.AccountID); tt.wantRefreshes >= 0 && n != tt.wantRefreshes {
				t.Errorf("refreshes = %d, want %d", n, tt.wantRefreshes)
			}
		})
	}
}

func TestChats_RevokedGrantNeedsReauthorization(t *testing.T) {
	e, key := newInstalledEnv(t)
	e.Sim.RevokeGrant(e.Account.AccountID)
	e.Sim.Advance(9 * time.Hour)
	r := e.Chats(key, "")
	r.JSONError(t, http.StatusUnauthorized, httpapi.CodeReauthorizationNeeded)
	var body struct {
		Error struct {
			InstallURL string `json:"install_url"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.Body), &body)
	if body.Error.InstallURL != e.URL+"/install" {
		t.Fatalf("install_url = %q, want %s/install", body.Error.InstallURL, e.URL)
	}
	// The installation is now marked: the next call answers without asking LiveChat.
	before := e.Sim.Calls(livechatsim.EndpointTokenRefresh) + e.Sim.Calls(livechatsim.EndpointListChats)
	if r := e.Chats(key, ""); r.Status != http.StatusUnauthorized || r.ErrorCode(t) != httpapi.CodeReauthorizationNeeded {
		t.Fatalf("second call: %d %s", r.Status, r.Body)
	}
	if after := e.Sim.Calls(livechatsim.EndpointTokenRefresh) + e.Sim.Calls(livechatsim.EndpointListChats); after != before {
		t.Fatalf("LiveChat calls went from %d to %d for a marked installation", before, after)
	}
	// Installing again reactivates it, and the key it had keeps working (issue 12).
	if res := e.Install(e.Account.AccountID); !res.Reinstalled || res.APIKey != "" {
		t.Fatalf("reinstall answered %v, want reinstalled and no key", res.Fields)
	}
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("after reinstall: %d %s", r.Status, r.Body)
	}
}

func TestChats_MapsLiveChatFailures(t *testing.T) {
	tests := []struct {
		name       string
		fault      livechatsim.Fault
		wantStatus int
		wantCode   string
		check      func(t *testing.T, r harness.Response)
	}{
		{"rate limited", livechatsim.Fault{Status: 429, RetryAfter: 7 * time.Second}, 429, httpapi.CodeRateLimited, func(t *testing.T, r harness.Response) {
			if got := r.Header.Get("Retry-After"); got != "7" {
				t.Fatalf("Retry-After = %q, want 7", got)
			}
		}},
		{"rate limited without Retry-After", livechatsim.Fault{Status: 429}, 429, httpapi.CodeRateLimited, func(t *testing.T, r harness.Response) {
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
		}},
		{"validation", livechatsim.Fault{Status: 400, Body: `{"error":{"type":"validation","message":"Wrong format of request: limit"}}`}, 400, httpapi.CodeInvalidRequest, func(t *testing.T, r harness.Response) {
			if !strings.Contains(r.Body, "Wrong format of request: limit") {
				t.Fatalf("LiveChat's message missing: %s", r.Body)
			}
		}},
		{"authorization", livechatsim.Fault{Status: 403}, 403, httpapi.CodeForbidden, nil},
		{"internal error", livechatsim.Fault{Status: 500}, 502, httpapi.CodeUpstreamError, nil},
		{"service unavailable", livechatsim.Fault{Status: 503}, 502, httpapi.CodeUpstreamError, nil},
		{"malformed body", livechatsim.Fault{Malformed: true}, 502, httpapi.CodeUpstreamError, nil},
		{"connection reset", livechatsim.Fault{Reset: true}, 502, httpapi.CodeUpstreamError, nil},
		{"LiveChat request_timeout", livechatsim.Fault{Status: 408}, 504, httpapi.CodeUpstreamTimeout, nil},
		{"hang", livechatsim.Fault{Hang: true}, 504, httpapi.CodeUpstreamTimeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, harness.Options{RequestTimeout: 500 * time.Millisecond})
			key := e.Install(e.Account.AccountID).APIKey
			e.Sim.InjectFault(livechatsim.EndpointListChats, tt.fault)
			r := e.Chats(key, "")
			if r.Status != tt.wantStatus || r.ErrorCode(t) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.wantStatus, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestChats_WarmCallCostsOneDynamoDBReadAndOneLiveChatCall(t *testing.T) {
	e, key := newInstalledEnv(t)
	if r := e.Chats(key, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats: %d", r.Status)
	}
	e.DB.Reset()
	lcBefore := totalLiveChatCalls(e.Sim)
	if r := e.Chats(key, "limit=2"); r.Status != http.StatusOK {
		t.Fatalf("/chats: %d", r.Status)
	}
	if got := e.DB.Counts(); len(got) != 1 || got["GetItem"] != 1 {
		t.Fatalf("DynamoDB calls of a warm /chats = %v, want exactly one GetItem", got)
	}
	if got := totalLiveChatCalls(e.Sim) - lcBefore; got != 1 {
		t.Fatalf("LiveChat calls of a warm /chats = %d, want 1", got)
	}
}

func TestInstall_CostsNoDynamoDBAndNoLiveChatCall(t *testing.T) {
	e := newEnv(t)
	e.DB.Reset()
	before := totalLiveChatCalls(e.Sim)
	e.StartInstall(e.Browser())
	if n := e.DB.Total(); n != 0 {
		t.Fatalf("/install made %d DynamoDB calls, want 0", n)
	}
	if n := totalLiveChatCalls(e.Sim) - before; n != 0 {
		t.Fatalf("/install made %d LiveChat calls, want 0", n)
	}
}

func totalLiveChatCalls(s *livechatsim.Simulator) int {
	n := 0
	for _, ep := range []livechatsim.Endpoint{livechatsim.EndpointTokenExchange, livechatsim.EndpointTokenRefresh,
		livechatsim.EndpointInfo, livechatsim.EndpointRevoke, livechatsim.EndpointListChats} {
		n += s.Calls(ep)
	}
	return n
}

func TestCallback_CostsOneExchangeAndOneDynamoDBWrite(t *testing.T) {
	e := newEnv(t)
	b, cb := e.Consented(e.Account.AccountID)
	e.DB.Reset()
	before := totalLiveChatCalls(e.Sim)
	if r := b.Get(cb); r.Status != http.StatusOK {
		t.Fatalf("callback: %d %s", r.Status, r.Body)
	}
	if got := e.DB.Counts(); len(got) != 1 || got["UpdateItem"] != 1 {
		t.Fatalf("DynamoDB calls of a callback = %v, want exactly one UpdateItem", got)
	}
	if got := totalLiveChatCalls(e.Sim) - before; got != 1 || e.Sim.Calls(livechatsim.EndpointTokenExchange) != 1 {
		t.Fatalf("LiveChat calls of a callback = %d, want 1 (the exchange)", got)
	}
}

func TestChats_InvalidInputWithWrongKeyIsUnauthorizedNotValidated(t *testing.T) {
	e := newEnv(t)
	good := e.Install(e.Account.AccountID).APIKey
	forged := forgedKey(good)
	// Invalid input with a well-formed but wrong key: the caller must not learn how we validate.
	if r := e.Chats(forged, "limit=0&page_id=x"); r.Status != http.StatusUnauthorized || r.ErrorCode(t) != httpapi.CodeUnauthorized {
		t.Fatalf("got %d %s, want 401 unauthorized", r.Status, r.Body)
	}
	// The same input with the right key is a 400.
	if r := e.Chats(good, "limit=0&page_id=x"); r.Status != http.StatusBadRequest {
		t.Fatalf("got %d %s, want 400", r.Status, r.Body)
	}
}
