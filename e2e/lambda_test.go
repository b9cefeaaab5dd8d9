//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/syncbuf"
)

// scheduledEvent is what the EventBridge schedule sends the refresh function.
const scheduledEvent = `{"version":"0","id":"5f1b8c1e-0000-4000-8000-e2e000000001","detail-type":"Scheduled Event","source":"aws.events",` +
	`"account":"111122223333","time":"2026-11-28T12:00:00Z","region":"us-east-1",` +
	`"resources":["arn:aws:events:us-east-1:111122223333:rule/lcauth-refresh"],"detail":{}}`

// TestLambdas_InstallCallbackChatsAndRefreshUnderTheEmulator runs the production binaries, built as
// `make build` builds them, under the Lambda Runtime Interface Emulator with the environment the
// stack gives each function, against dynalite, the LiveChat simulator and the Secrets Manager and
// KMS fakes: install -> consent -> callback -> chats through API Gateway v2 events, then one
// scheduled refresh pass that refreshes the installation, and chats again with the new token.
func TestLambdas_InstallCallbackChatsAndRefreshUnderTheEmulator(t *testing.T) {
	t.Parallel()
	// Tokens that live 30 minutes are inside the refresher's 60-minute window as soon as they exist.
	w := newWorld(t, worldOptions{TokenLifetime: 30 * time.Minute})
	logs := map[string]*syncbuf.Buffer{}
	gw, emus := w.startFunctions(t, logs)
	site := w.site(t, gw)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	account := w.sim.Accounts()[0]

	inst := site.Install(account.AccountID)
	if inst.AccountID != account.AccountID || inst.OrganizationID != account.OrganizationID {
		t.Fatalf("installed %s/%s, want %s/%s", inst.OrganizationID, inst.AccountID, account.OrganizationID, account.AccountID)
	}
	if w.sm.Calls() == 0 {
		t.Error("the client secret was not read from Secrets Manager")
	}
	if w.kms.Calls(kmsfake.OpGenerateDataKey) == 0 {
		t.Error("the tokens were not sealed with a KMS data key")
	}
	assertNoPlainTokensInTable(t, ctx, w)

	site.ListChats(inst.APIKey, 3)

	listThroughTheInstallationsFunction(t, ctx, w, site, inst, logs)

	out, err := emus["refresh"].Invoke(ctx, []byte(scheduledEvent))
	if err != nil {
		t.Fatalf("refresh pass: %v\nrefresh log:\n%s", err, logs["refresh"])
	}
	var sum refresh.Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("refresh answered %q: %v", out, err)
	}
	if sum.Due != 1 || sum.Refreshed != 1 || sum.PassFailed {
		t.Fatalf("refresh summary %+v, want the one installation due and refreshed", sum)
	}
	if n := w.sim.RefreshesOf(account.AccountID); n != 1 {
		t.Fatalf("LiveChat saw %d refreshes of the account, want 1", n)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(logs["refresh"].String(), `"_aws"`) }) {
		t.Error("the refresh function wrote no CloudWatch embedded metrics")
	}

	if r := site.Chats(inst.APIKey, ""); r.Status != http.StatusOK {
		t.Fatalf("/chats after the refresh: status %d, body %s", r.Status, r.Body)
	}
	if n := w.sim.RefreshesOf(account.AccountID); n != 1 {
		t.Fatalf("/chats refreshed again right after the pass (%d refreshes)", n)
	}

	// Bad input gets clear 4xx answers from the real binaries too.
	for _, tc := range []struct {
		name, url string
		header    http.Header
		want      int
	}{
		{"chats without an API key", worldBaseURL + "/chats", nil, http.StatusUnauthorized},
		{"chats with a forged API key", worldBaseURL + "/chats", bearer("lca_" + strings.Repeat("a", 40)), http.StatusUnauthorized},
		{"callback without state", worldBaseURL + "/callback?code=dal%3Aabc", http.Header{"Accept": {"application/json"}}, http.StatusFound},
		{"callback with a forged state", worldBaseURL + "/callback?code=dal%3Aabc&state=forged", http.Header{"Accept": {"application/json"}, "Cookie": {"lcauth_state=forged"}}, http.StatusBadRequest},
		{"chats with an invalid limit", worldBaseURL + "/chats?limit=1000", bearer(inst.APIKey), http.StatusBadRequest},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		// A browser that has started an install (it holds a real state cookie); the callback's
		// redirect is the answer, not followed.
		b := site.Browser()
		site.StartInstall(b)
		if r := harness.Do(t, b.Client, req); r.Status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, r.Status, tc.want)
		}
	}

	uninstallThroughTheWebhookFunction(t, w, site, inst, logs)

	for fn, log := range logs {
		if s := log.String(); strings.Contains(s, inst.APIKey) || strings.Contains(s, w.sim.ClientSecret()) || strings.Contains(s, worldWebhookSecret) {
			t.Errorf("the %s function logged the API key, the client secret or the webhook secret", fn)
		}
	}
}

// listThroughTheInstallationsFunction: a service key (made as `lcauth keys create --service` makes it)
// lists the installation through the installations function, whose stack environment carries no
// client secret; the installation's own key is refused.
func listThroughTheInstallationsFunction(t *testing.T, ctx context.Context, w *world, site *harness.Site, inst harness.InstallResult, logs map[string]*syncbuf.Buffer) {
	t.Helper()
	_, serviceKey, err := store.New(w.db, w.table, nil).CreateServiceKey(ctx, "e2e")
	if err != nil {
		t.Fatalf("create a service key: %v", err)
	}
	r := site.Get("/installations?limit=10", serviceKey)
	if r.Status != http.StatusOK {
		t.Fatalf("/installations: %d %s", r.Status, r.Body)
	}
	list, _ := r.JSON(t)["installations"].([]any)
	if len(list) != 1 {
		t.Fatalf("/installations = %s, want the one installation", r.Body)
	}
	if got, _ := list[0].(map[string]any); got["account_id"] != inst.AccountID || got["status"] != "active" {
		t.Fatalf("/installations listed %v, want account %s active", got, inst.AccountID)
	}
	site.Get("/installations", inst.APIKey).Want(t, http.StatusForbidden, "service_key_required")
	if strings.Contains(logs["installations"].String(), serviceKey) {
		t.Error("the installations function logged the service key")
	}
}

// uninstallThroughTheWebhookFunction posts LiveChat's application_uninstalled App Webhook through the
// gateway to the webhook function: a wrong secret changes nothing; the right one uninstalls, after
// which the key gets 401 uninstalled.
func uninstallThroughTheWebhookFunction(t *testing.T, w *world, site *harness.Site, inst harness.InstallResult, logs map[string]*syncbuf.Buffer) {
	t.Helper()
	body, _ := json.Marshal(livechatsim.AppWebhook(w.sim.ClientID(), livechatsim.EventApplicationUninstalled, inst.OrganizationID, inst.AccountID, time.Now()))
	post := func(secret string) int {
		req, _ := http.NewRequest(http.MethodPost, worldBaseURL+"/webhooks/livechat?secret="+secret, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		return site.Do(req).Status
	}
	get, _ := http.NewRequest(http.MethodGet, worldBaseURL+"/webhooks/livechat?secret="+worldWebhookSecret, nil)
	if r := site.Do(get); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("GET on the webhook route: %d %v, want the function's 405 with Allow: POST", r.Status, r.Header)
	}
	if status := post("wrong-" + worldWebhookSecret); status != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong secret: %d, want 401", status)
	}
	if r := site.Chats(inst.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("/chats after a refused webhook: %d %s, want 200", r.Status, r.Body)
	}
	if status := post(worldWebhookSecret); status != http.StatusOK {
		t.Fatalf("webhook: %d, want 200", status)
	}
	site.Chats(inst.APIKey, "").Want(t, http.StatusUnauthorized, "uninstalled")
	if !eventually(5*time.Second, func() bool { return strings.Contains(logs["webhook"].String(), `"Uninstalled":1`) }) {
		t.Error("the webhook function wrote no Uninstalled metric")
	}
	assertNoPlainTokensInTable(t, context.Background(), w)
}

// assertNoPlainTokensInTable scans the table and fails if any attribute holds a LiveChat token in
// the clear (the simulator's access tokens start with the region, "dal:").
func assertNoPlainTokensInTable(t *testing.T, ctx context.Context, w *world) {
	t.Helper()
	out, err := w.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(w.table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) == 0 {
		t.Fatal("the table holds no installation after the callback")
	}
	for _, item := range out.Items {
		for name, v := range item {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.HasPrefix(s.Value, livechatsim.DefaultRegion+":") {
				t.Errorf("attribute %s holds a LiveChat token in the clear", name)
			}
		}
	}
}

// eventually polls cond until it holds or timeout passes: a function's output travels through the
// emulator's pipe and may trail the invocation's answer.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// bearer is the Authorization header that carries an API key.
func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }
