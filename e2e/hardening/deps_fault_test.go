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
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/syncbuf"
)

// TestFault_SecretsManagerDownOrSlow: without a readable client secret, /install and /callback answer
// 503 (JSON or a page), never 500; a process that already read the secret keeps working through an
// outage; /chats with a valid token needs no secret at all; a refresh that cannot get the secret marks
// nothing; a slow Secrets Manager only slows the answer; a missing secret is 503 not_configured.
func TestFault_SecretsManagerDownOrSlow(t *testing.T) {
	s := newStack(t, harness.Options{SecretsManager: true})

	s.SM.FailNext(1 << 20)
	jb := harness.NewBrowser(t)
	jb.Accept = "application/json"
	jb.Get(s.URL+"/install").JSONError(t, http.StatusServiceUnavailable, "upstream_error")
	if l := s.LastRequestLog("install"); l["error_class"] != "secret_unavailable" {
		t.Fatalf("request log %v, want error_class secret_unavailable", l)
	}
	if r := harness.NewBrowser(t).Get(s.URL + "/install"); r.Status != http.StatusServiceUnavailable || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	jb.Get(s.URL+"/callback?code=dal%3Ax&state=x").JSONError(t, http.StatusServiceUnavailable, "upstream_error")

	s.SM.FailNext(0)
	res := s.Install(s.Account.AccountID)

	// Outage after the secret was read: the cached value is served past its TTL (1s).
	s.SM.FailNext(1 << 20)
	time.Sleep(1100 * time.Millisecond)
	if r := harness.NewBrowser(t).Get(s.URL + "/install"); r.Status != http.StatusFound {
		t.Fatalf("/install during an outage with a cached secret: %d", r.Status)
	}
	s.SM.FailNext(0)

	// A cold process during an outage.
	cold := newStack(t, harness.Options{SecretsManager: true, Table: s.Table, Sim: s.Sim, SimURL: s.SimURL})
	cold.SM.FailNext(1 << 20)
	if r := cold.Chats(res.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("/chats with a valid token during an outage: %d %s", r.Status, r.Body)
	}
	inst := s.Get(res.InstallationID)
	s.Sim.Advance(livechatsim.DefaultTokenLifetime + time.Minute)
	r := cold.Chats(res.APIKey, "limit=1")
	if r.Status != http.StatusServiceUnavailable && r.Status != http.StatusBadGateway {
		t.Fatalf("refresh without a secret: %d %s", r.Status, r.Body)
	}
	r.AnyJSONError(t)
	// A Secrets Manager outage is transient, not a sign that our client credentials are wrong: it must
	// not read as misconfiguration (which would trip a pass's circuit breaker and page the operator
	// about a wrong client secret).
	if l := cold.LastRequestLog("chats"); l["error_class"] != "transient" {
		t.Fatalf("request log %v, want error_class transient", l)
	}
	sum, err := cold.passRefresher(&syncbuf.Buffer{}).RunPass(context.Background())
	if sum.StoppedReason == refresh.StopCircuitBreaker || sum.Failed["misconfiguration"] != 0 {
		t.Fatalf("a Secrets Manager outage tripped the misconfiguration breaker: %+v %v", sum, err)
	}
	s.unchanged(inst)
	cold.SM.FailNext(0)
	if r := cold.Chats(res.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("after Secrets Manager recovered: %d %s", r.Status, r.Body)
	}

	slow := newStack(t, harness.Options{SecretsManager: true})
	slow.SM.SetLatency(1500 * time.Millisecond)
	start := time.Now()
	if r := harness.NewBrowser(t).Get(slow.URL + "/install"); r.Status != http.StatusFound {
		t.Fatalf("/install with a slow Secrets Manager: %d", r.Status)
	}
	if time.Since(start) < time.Second {
		t.Fatal("the latency was not injected")
	}

	unset := newStack(t, harness.Options{SecretsManager: true})
	unset.SM.Delete(secretARN)
	ub := harness.NewBrowser(t)
	ub.Accept = "application/json"
	ub.Get(unset.URL+"/install").JSONError(t, http.StatusServiceUnavailable, "not_configured")
	s.NoSecretsLogged(res.APIKey)
}

// TestFault_KMSDownSlowOrKeyDisabled: tokens sealed with KMS cannot be opened while KMS fails or the key is
// disabled: /chats answers a JSON 5xx and nothing changes; a callback that cannot seal stores nothing
// and logs no code; both work again once KMS does. A slow KMS only slows the calls that need it.
func TestFault_KMSDownSlowOrKeyDisabled(t *testing.T) {
	a := newStack(t, harness.Options{KMS: true})
	res := a.Install(a.Account.AccountID)
	if r := a.Chats(res.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("baseline: %d", r.Status)
	}
	inst := a.Get(res.InstallationID)

	// A fresh process has no data key cached, so it must ask KMS to decrypt.
	b := newStack(t, harness.Options{KMS: true, KMSServer: a.KMS, KMSKey: a.KMSKey, Table: a.Table, Sim: a.Sim, SimURL: a.SimURL})
	a.KMS.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 500, Type: "KMSInternalException"})
	r := b.Chats(res.APIKey, "limit=1")
	if r.Status < 500 {
		t.Fatalf("KMS down: %d", r.Status)
	}
	r.AnyJSONError(t)
	a.KMS.ClearFaults()
	a.unchanged(inst)
	if r := b.Chats(res.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("after KMS recovered: %d %s", r.Status, r.Body)
	}

	c := newStack(t, harness.Options{KMS: true, KMSServer: a.KMS, KMSKey: a.KMSKey, Table: a.Table, Sim: a.Sim, SimURL: a.SimURL})
	a.KMS.SetEnabled(a.KMSKey, false)
	r = c.Chats(res.APIKey, "limit=1")
	if r.Status < 500 {
		t.Fatalf("key disabled: %d", r.Status)
	}
	r.AnyJSONError(t)
	a.KMS.SetEnabled(a.KMSKey, true)

	// Sealing a new installation while GenerateDataKey fails.
	d := newStack(t, harness.Options{KMS: true, KMSServer: a.KMS, KMSKey: a.KMSKey})
	a.KMS.InjectFault(kmsfake.OpGenerateDataKey, kmsfake.Fault{Status: 500, Type: "KMSInternalException"})
	br := harness.NewBrowser(t)
	br.Accept = "application/json"
	cb := d.Consent(d.StartInstall(br), d.Account.AccountID)
	u, _ := url.Parse(cb)
	r = br.Get(cb)
	if r.Status < 500 {
		t.Fatalf("callback with KMS down: %d", r.Status)
	}
	r.AnyJSONError(t)
	if _, err := d.Store.Get(context.Background(), store.InstallationID(d.Account.OrganizationID, d.Account.AccountID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an installation exists: %v", err)
	}
	d.NoSecretsLogged(u.Query().Get("code"))
	a.KMS.ClearFaults()
	if res := d.Install(d.Account.AccountID); d.Chats(res.APIKey, "limit=1").Status != http.StatusOK {
		t.Fatal("install after KMS recovered did not work")
	}
	// A slow KMS (every call 400ms) slows the first seal and open of a process, nothing else.
	slow := newStack(t, harness.Options{KMS: true, KMSServer: a.KMS, KMSKey: a.KMSKey, KMSLatency: 400 * time.Millisecond})
	sres := slow.Install(slow.Account.AccountID)
	if r := slow.Chats(sres.APIKey, "limit=1"); r.Status != http.StatusOK {
		t.Fatalf("/chats with a slow KMS: %d %s", r.Status, r.Body)
	}
	if a.KMS.Calls(kmsfake.OpGenerateDataKey) == 0 {
		t.Fatal("KMS was not used")
	}
	for _, st := range []*stack{a, b, c, d} {
		st.NoSecretsLogged(res.APIKey, inst.AccessToken, inst.RefreshToken)
	}
}
