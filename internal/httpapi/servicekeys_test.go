package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
)

// call sends method path?query with key as a Bearer token and an optional JSON body.
func call(e *env, method, path, key, body string) harness.Response {
	e.T.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, e.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return harness.Do(e.T, http.DefaultClient, req)
}

func serviceKey(e *env) (store.Key, string) {
	e.T.Helper()
	k, key, err := e.Store.CreateServiceKey(context.Background(), "backend")
	if err != nil {
		e.T.Fatal(err)
	}
	return k, key
}

func TestServiceKey_ListsInstallationsAndChatsOfEach(t *testing.T) {
	e := newEnv(t)
	accB := e.Sim.AddAccount(livechatsim.Account{Email: "b@example.com", Chats: 5})
	a, b := e.Install(e.Account.AccountID), e.Install(accB.AccountID)
	k, sk := serviceKey(e)

	r := call(e, http.MethodGet, "/installations", sk, "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /installations: %d %s", r.Status, r.Body)
	}
	for _, secret := range []string{a.APIKey, b.APIKey, "access_token", "refresh_token", "hash", "dal:"} {
		if strings.Contains(r.Body, secret) {
			t.Fatalf("listing contains %q: %s", secret, r.Body)
		}
	}
	var page struct {
		Installations []map[string]any `json:"installations"`
		NextPageToken string           `json:"next_page_token"`
	}
	if err := json.Unmarshal([]byte(r.Body), &page); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, inst := range page.Installations {
		got[inst["installation_id"].(string)] = true
		for _, f := range []string{"organization_id", "account_id", "status", "created_at", "updated_at", "expires_at", "last_refreshed_at"} {
			if _, ok := inst[f]; !ok {
				t.Errorf("installation lacks %s: %v", f, inst)
			}
		}
	}
	if len(got) != 2 || !got[a.InstallationID] || !got[b.InstallationID] || page.NextPageToken != "" {
		t.Fatalf("listed %v (next %q), want both installations on one page", got, page.NextPageToken)
	}

	for _, inst := range []harness.InstallResult{a, b} {
		own := e.Chats(inst.APIKey, "limit=100")
		want := strings.Join(chatIDsOf(t, own.Body), ",")
		r := call(e, http.MethodGet, "/chats?limit=100&installation_id="+inst.InstallationID, sk, "")
		if got := strings.Join(chatIDsOf(t, r.Body), ","); r.Status != http.StatusOK || got != want || want == "" {
			t.Fatalf("GET /chats for %s: status %d, chats %q; want the installation's own %q", inst.InstallationID, r.Status, got, want)
		}
		r = call(e, http.MethodPost, "/chats?installation_id="+inst.InstallationID, sk, `{"limit":100}`)
		if got := strings.Join(chatIDsOf(t, r.Body), ","); r.Status != http.StatusOK || got != want {
			t.Fatalf("POST /chats for %s: status %d, chats %q; want %q", inst.InstallationID, r.Status, got, want)
		}
	}
	// The request log names the installation and the service key's id, never the key.
	l := e.LastRequestLog("chats")
	if l["installation_id"] != b.InstallationID || l["service_key_id"] != k.ID {
		t.Errorf("request log %v, want installation_id %s and service_key_id %s", l, b.InstallationID, k.ID)
	}
	e.NoSecretsLogged(sk, sk[len(sk)-52:], a.APIKey, b.APIKey)
}

func chatIDsOf(t *testing.T, body string) []string {
	t.Helper()
	var b struct {
		Chats []struct {
			ID string `json:"id"`
		} `json:"chats_summary"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("list_chats body: %v", err)
	}
	var ids []string
	for _, c := range b.Chats {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestServiceKey_InstallationIDIsRequiredAndMustExist(t *testing.T) {
	e := newEnv(t)
	e.Install(e.Account.AccountID)
	_, sk := serviceKey(e)
	call(e, http.MethodGet, "/chats", sk, "").JSONError(t, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	call(e, http.MethodPost, "/chats", sk, `{}`).JSONError(t, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	for _, id := range []string{store.InstallationID("no", "one"), "not-an-id", strings.Repeat("a", 200)} {
		call(e, http.MethodGet, "/chats?installation_id="+url.QueryEscape(id), sk, "").JSONError(t, http.StatusNotFound, httpapi.CodeInstallationNotFound)
	}
	if n := e.Sim.Calls(livechatsim.EndpointListChats); n != 0 {
		t.Fatalf("%d list_chats calls for refused requests", n)
	}
}

func TestServiceKey_RevokedIsRefusedAtOnce(t *testing.T) {
	e := newEnv(t)
	inst := e.Install(e.Account.AccountID)
	k, sk := serviceKey(e)
	path := "/chats?installation_id=" + inst.InstallationID
	if r := call(e, http.MethodGet, path, sk, ""); r.Status != http.StatusOK {
		t.Fatalf("before revoke: %d %s", r.Status, r.Body)
	}
	if err := e.Store.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	call(e, http.MethodGet, path, sk, "").JSONError(t, http.StatusUnauthorized, httpapi.CodeUnauthorized)
	call(e, http.MethodGet, "/installations", sk, "").JSONError(t, http.StatusUnauthorized, httpapi.CodeUnauthorized)
	// A wrong service key is answered like any bad key.
	call(e, http.MethodGet, "/installations", "lcs_"+strings.Repeat("a", len(sk)-4), "").JSONError(t, http.StatusUnauthorized, httpapi.CodeUnauthorized)
}

func TestInstallationKey_CannotReachAnotherInstallationOrList(t *testing.T) {
	e := newEnv(t)
	accB := e.Sim.AddAccount(livechatsim.Account{Email: "b@example.com", Chats: 5})
	a, b := e.Install(e.Account.AccountID), e.Install(accB.AccountID)
	before := e.Sim.Calls(livechatsim.EndpointListChats)
	call(e, http.MethodGet, "/chats?installation_id="+b.InstallationID, a.APIKey, "").JSONError(t, http.StatusForbidden, httpapi.CodeInstallationMismatch)
	call(e, http.MethodPost, "/chats?installation_id="+b.InstallationID, a.APIKey, `{}`).JSONError(t, http.StatusForbidden, httpapi.CodeInstallationMismatch)
	if n := e.Sim.Calls(livechatsim.EndpointListChats); n != before {
		t.Fatalf("LiveChat was called %d times for a refused request", n-before)
	}
	// Its own id is fine.
	if r := call(e, http.MethodGet, "/chats?installation_id="+a.InstallationID, a.APIKey, ""); r.Status != http.StatusOK {
		t.Fatalf("own installation_id: %d %s", r.Status, r.Body)
	}
	call(e, http.MethodGet, "/installations", a.APIKey, "").JSONError(t, http.StatusForbidden, httpapi.CodeServiceKeyRequired)
	call(e, http.MethodGet, "/installations", "", "").JSONError(t, http.StatusUnauthorized, httpapi.CodeUnauthorized)
}

func TestServiceKey_InstallationStatusIsNotAKeyError(t *testing.T) {
	e := newEnv(t)
	inst := e.Install(e.Account.AccountID)
	_, sk := serviceKey(e)
	path := "/chats?installation_id=" + inst.InstallationID
	e.Sim.RevokeGrant(e.Account.AccountID)
	e.Sim.Advance(9 * time.Hour)
	// Through the service key: 409, the key is fine; the installation's own key keeps its 401.
	call(e, http.MethodGet, path, sk, "").JSONError(t, http.StatusConflict, httpapi.CodeReauthorizationNeeded)
	call(e, http.MethodGet, path, sk, "").JSONError(t, http.StatusConflict, httpapi.CodeReauthorizationNeeded)
	if r := e.Chats(inst.APIKey, ""); r.Status != http.StatusUnauthorized || r.ErrorCode(t) != httpapi.CodeReauthorizationNeeded {
		t.Fatalf("own key: %d %s", r.Status, r.Body)
	}
	r := call(e, http.MethodGet, "/installations?status=reauthorization_required", sk, "")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, inst.InstallationID) {
		t.Fatalf("status filter: %d %s", r.Status, r.Body)
	}

	cur := e.Get(inst.InstallationID)
	if _, err := e.Store.MarkUninstalled(context.Background(), inst.InstallationID, cur.Version, store.UninstalledByOperator); err != nil {
		t.Fatal(err)
	}
	// Uninstalled: 410 through the service key (the key is fine); 401 for the installation's own key,
	// which no longer works (issue 11).
	for key, status := range map[string]int{sk: http.StatusGone, inst.APIKey: http.StatusUnauthorized} {
		msg := call(e, http.MethodGet, path, key, "").JSONError(t, status, httpapi.CodeUninstalled)
		if !strings.Contains(msg, "/install") {
			t.Errorf("message %q does not say where to install again", msg)
		}
	}
}

func TestInstallations_PagingAndBadInput(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 5; i++ {
		acc := e.Sim.AddAccount(livechatsim.Account{Chats: 1})
		ids = append(ids, e.Install(acc.AccountID).InstallationID)
	}
	_, sk := serviceKey(e)
	seen, tok := map[string]bool{}, ""
	for pages := 0; ; pages++ {
		q := "/installations?limit=2"
		if tok != "" {
			q += "&page_token=" + url.QueryEscape(tok)
		}
		r := call(e, http.MethodGet, q, sk, "")
		if r.Status != http.StatusOK || pages > 5 {
			t.Fatalf("page %d: %d %s", pages, r.Status, r.Body)
		}
		var page struct {
			Installations []struct {
				ID string `json:"installation_id"`
			} `json:"installations"`
			Next string `json:"next_page_token"`
		}
		_ = json.Unmarshal([]byte(r.Body), &page)
		if len(page.Installations) > 2 {
			t.Fatalf("page of %d, limit 2", len(page.Installations))
		}
		for _, i := range page.Installations {
			seen[i.ID] = true
		}
		if tok = page.Next; tok == "" {
			break
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s never listed", id)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "status=gone", "page_token=nope", "page_token=", "foo=1", "limit=1&limit=2"} {
		call(e, http.MethodGet, "/installations?"+q, sk, "").JSONError(t, http.StatusBadRequest, httpapi.CodeInvalidRequest)
	}
}
