package hardening_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"lcauth/internal/livechatsim"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/syncbuf"
)

// TestFault_SecretsManagerDownOrSlow: without a readable client secret, /install and /callback answer
// 503 (JSON or a page), never 500; a process that already read the secret keeps working through an
// outage; /chats with a valid token needs no secret at all; a refresh that cannot get the secret marks
// nothing; a slow Secrets Manager only slows the answer; a missing secret is 503 not_configured.
func TestFault_SecretsManagerDownOrSlow(t *testing.T) {
	s := newStack(t, stackConfig{secretsManager: true})

	s.sm.FailNext(1 << 20)
	jb := newBrowser(t)
	jb.accept = "application/json"
	jb.get(s.base+"/install").jsonError(t, http.StatusServiceUnavailable, "upstream_error")
	if l := s.lastRequestLog("install"); l["error_class"] != "secret_unavailable" {
		t.Fatalf("request log %v, want error_class secret_unavailable", l)
	}
	if r := newBrowser(t).get(s.base + "/install"); r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %q", r.status, r.header.Get("Content-Type"))
	}
	jb.get(s.base+"/callback?code=dal%3Ax&state=x").jsonError(t, http.StatusServiceUnavailable, "upstream_error")

	s.sm.FailNext(0)
	res := s.install(s.account.AccountID)

	// Outage after the secret was read: the cached value is served past its TTL (1s).
	s.sm.FailNext(1 << 20)
	time.Sleep(1100 * time.Millisecond)
	if r := newBrowser(t).get(s.base + "/install"); r.status != http.StatusFound {
		t.Fatalf("/install during an outage with a cached secret: %d", r.status)
	}
	s.sm.FailNext(0)

	// A cold process during an outage.
	cold := newStack(t, stackConfig{secretsManager: true, table: s.table, sim: s.sim, simURL: s.simURL})
	cold.sm.FailNext(1 << 20)
	if r := cold.chats(res.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("/chats with a valid token during an outage: %d %s", r.status, r.body)
	}
	inst := s.get(res.InstallationID)
	s.sim.Advance(livechatsim.DefaultTokenLifetime + time.Minute)
	r := cold.chats(res.APIKey, "limit=1")
	if r.status != http.StatusServiceUnavailable && r.status != http.StatusBadGateway {
		t.Fatalf("refresh without a secret: %d %s", r.status, r.body)
	}
	r.anyJSONError(t)
	// A Secrets Manager outage is transient, not a sign that our client credentials are wrong: it must
	// not read as misconfiguration (which would trip a pass's circuit breaker and page the operator
	// about a wrong client secret).
	if l := cold.lastRequestLog("chats"); l["error_class"] != "transient" {
		t.Fatalf("request log %v, want error_class transient", l)
	}
	sum, err := cold.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
	if sum.StoppedReason == refresh.StopCircuitBreaker || sum.Failed["misconfiguration"] != 0 {
		t.Fatalf("a Secrets Manager outage tripped the misconfiguration breaker: %+v %v", sum, err)
	}
	s.unchanged(inst)
	cold.sm.FailNext(0)
	if r := cold.chats(res.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("after Secrets Manager recovered: %d %s", r.status, r.body)
	}

	slow := newStack(t, stackConfig{secretsManager: true})
	slow.sm.SetLatency(1500 * time.Millisecond)
	start := time.Now()
	if r := newBrowser(t).get(slow.base + "/install"); r.status != http.StatusFound {
		t.Fatalf("/install with a slow Secrets Manager: %d", r.status)
	}
	if time.Since(start) < time.Second {
		t.Fatal("the latency was not injected")
	}

	unset := newStack(t, stackConfig{secretsManager: true})
	unset.sm.Delete(secretARN)
	ub := newBrowser(t)
	ub.accept = "application/json"
	ub.get(unset.base+"/install").jsonError(t, http.StatusServiceUnavailable, "not_configured")
	s.noSecretsLogged(res.APIKey)
}

// TestFault_KMSDownSlowOrKeyDisabled: tokens sealed with KMS cannot be opened while KMS fails or the key is
// disabled: /chats answers a JSON 5xx and nothing changes; a callback that cannot seal stores nothing
// and logs no code; both work again once KMS does. A slow KMS only slows the calls that need it.
func TestFault_KMSDownSlowOrKeyDisabled(t *testing.T) {
	a := newStack(t, stackConfig{kms: true})
	res := a.install(a.account.AccountID)
	if r := a.chats(res.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("baseline: %d", r.status)
	}
	inst := a.get(res.InstallationID)

	// A fresh process has no data key cached, so it must ask KMS to decrypt.
	b := newStack(t, stackConfig{kms: true, kmsServer: a.kms, kmsKey: a.kmsKey, table: a.table, sim: a.sim, simURL: a.simURL})
	a.kms.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 500, Type: "KMSInternalException"})
	r := b.chats(res.APIKey, "limit=1")
	if r.status < 500 {
		t.Fatalf("KMS down: %d", r.status)
	}
	r.anyJSONError(t)
	a.kms.ClearFaults()
	a.unchanged(inst)
	if r := b.chats(res.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("after KMS recovered: %d %s", r.status, r.body)
	}

	c := newStack(t, stackConfig{kms: true, kmsServer: a.kms, kmsKey: a.kmsKey, table: a.table, sim: a.sim, simURL: a.simURL})
	a.kms.SetEnabled(a.kmsKey, false)
	r = c.chats(res.APIKey, "limit=1")
	if r.status < 500 {
		t.Fatalf("key disabled: %d", r.status)
	}
	r.anyJSONError(t)
	a.kms.SetEnabled(a.kmsKey, true)

	// Sealing a new installation while GenerateDataKey fails.
	d := newStack(t, stackConfig{kms: true, kmsServer: a.kms, kmsKey: a.kmsKey})
	a.kms.InjectFault(kmsfake.OpGenerateDataKey, kmsfake.Fault{Status: 500, Type: "KMSInternalException"})
	br := newBrowser(t)
	br.accept = "application/json"
	cb := d.consent(d.startInstall(br), d.account.AccountID)
	u, _ := url.Parse(cb)
	r = br.get(cb)
	if r.status < 500 {
		t.Fatalf("callback with KMS down: %d", r.status)
	}
	r.anyJSONError(t)
	if _, err := d.st.Get(context.Background(), store.InstallationID(d.account.OrganizationID, d.account.AccountID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an installation exists: %v", err)
	}
	d.noSecretsLogged(u.Query().Get("code"))
	a.kms.ClearFaults()
	if res := d.install(d.account.AccountID); d.chats(res.APIKey, "limit=1").status != http.StatusOK {
		t.Fatal("install after KMS recovered did not work")
	}
	// A slow KMS (every call 400ms) slows the first seal and open of a process, nothing else.
	slow := newStack(t, stackConfig{kms: true, kmsServer: a.kms, kmsKey: a.kmsKey, kmsLatency: 400 * time.Millisecond})
	sres := slow.install(slow.account.AccountID)
	if r := slow.chats(sres.APIKey, "limit=1"); r.status != http.StatusOK {
		t.Fatalf("/chats with a slow KMS: %d %s", r.status, r.body)
	}
	if a.kms.Calls(kmsfake.OpGenerateDataKey) == 0 {
		t.Fatal("KMS was not used")
	}
	for _, st := range []*stack{a, b, c, d} {
		st.noSecretsLogged(res.APIKey, inst.AccessToken, inst.RefreshToken)
	}
}
