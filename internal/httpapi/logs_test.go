package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lcauth/internal/config"
	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/harness"
)

// TestLogs_FullFlowLeaksNoSecret runs every kind of request (install, callback, chats warm, chats with
// refresh, chats with a retried authentication error, errors) and checks that no token, code, state,
// cookie, client secret or API key appears anywhere in the log output.
func TestLogs_FullFlowLeaksNoSecret(t *testing.T) {
	e := newEnv(t, harness.Options{Env: map[string]string{config.EnvPKCE: "S256"}})
	b := e.Browser()
	b.Accept = "application/json"
	authURL := e.StartInstall(b)
	cookie := stateCookie(t, b, e.URL+"/callback")
	cb := e.Consent(authURL, e.Account.AccountID)
	code := query(cb, "code")
	r := b.Get(cb)
	if r.Status != http.StatusOK {
		t.Fatalf("callback: %d %s", r.Status, r.Body)
	}
	key := r.JSON(t)["api_key"].(string)
	instID := r.JSON(t)["installation_id"].(string)

	e.Chats(key, "limit=2")
	e.Sim.InjectFault(livechatsim.EndpointListChats, livechatsim.Fault{Status: 401, Times: 1})
	e.Chats(key, "")
	e.Sim.Advance(8*time.Hour - time.Minute)
	e.Chats(key, "")
	e.Chats(key+"x", "")
	e.Chats(key, "limit=1000")
	b.Get(cb) // replay
	e.Browser().Get(e.URL + "/callback?code=" + url.QueryEscape(code))

	inst, err := e.Store.Get(t.Context(), instID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"client secret":            clientSecret,
		"access token":             inst.AccessToken,
		"access token (no region)": inst.AccessToken[strings.Index(inst.AccessToken, ":")+1:],
		"refresh token":            inst.RefreshToken,
		"authorization code":       code,
		"code (no region)":         code[strings.Index(code, ":")+1:],
		"code (URL-encoded)":       url.QueryEscape(code),
		"API key":                  key,
		"API key secret part":      key[strings.LastIndex(key, "_")+1:],
		"state":                    query(cb, "state"),
		"state cookie":             cookie.Value,
		"PKCE challenge":           query(authURL, "code_challenge"),
	}
	logs := e.Logs.String()
	for name, v := range secrets {
		if v == "" {
			t.Fatalf("test setup: %s is empty", name)
		}
		if strings.Contains(logs, v) {
			t.Errorf("the log contains the %s", name)
		}
	}

	// One request line per request, each with route, status and latency; /chats lines carry the
	// installation id once it is known.
	requests := 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line["msg"] != "request" {
			continue
		}
		requests++
		for _, k := range []string{"route", "status", "latency_ms", "method"} {
			if _, ok := line[k]; !ok {
				t.Errorf("request line lacks %s: %s", k, sc.Text())
			}
		}
		if line["route"] == "chats" && line["status"].(float64) == 200 && line["installation_id"] != instID {
			t.Errorf("chats line without the installation id: %s", sc.Text())
		}
		if s := line["status"].(float64); s >= 400 && line["error_code"] == nil {
			t.Errorf("error line without error_code: %s", sc.Text())
		}
	}
	if requests != 9 {
		t.Fatalf("%d request lines, want 9 (one per request)", requests)
	}
}
