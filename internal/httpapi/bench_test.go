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
	b.ResetTimer()
	for b.Loop() {
		if r := e.Chats(key, "limit=10"); r.Status != http.StatusOK {
			b.Fatalf("status %d", r.Status)
		}
	}
}

// BenchmarkInstall is GET /install: key derivation, state and cookie, redirect; no I/O beyond loopback.
func BenchmarkInstall(b *testing.B) {
	e := newEnv(b)
	br := e.Browser()
	for b.Loop() {
		if r := br.Get(e.URL + "/install"); r.Status != http.StatusFound {
			b.Fatalf("status %d", r.Status)
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
