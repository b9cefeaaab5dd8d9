package httpapi_test

import (
	"net/http"
	"testing"
)

// BenchmarkChats_Warm is one authenticated GET /chats over loopback HTTP: one DynamoDB GetItem
// (dynalite) and one list_chats call (the simulator), so most of the time is theirs.
func BenchmarkChats_Warm(b *testing.B) {
	e := newEnv(b)
	key := e.Install(e.Account.AccountID).APIKey
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/chats?limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkInstall is GET /install: key derivation, state and cookie, redirect; no I/O beyond loopback.
func BenchmarkInstall(b *testing.B) {
	e := newEnv(b)
	c := e.Browser().Client
	for b.Loop() {
		resp, err := c.Get(e.URL + "/install")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkInstallFlow is the whole installation: /install, consent (simulator), /callback with the
// code exchange and the store write.
func BenchmarkInstallFlow(b *testing.B) {
	e := newEnv(b)
	for b.Loop() {
		e.Install(e.Account.AccountID)
	}
}
