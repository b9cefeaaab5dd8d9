package livechat_test

import (
	"context"
	"testing"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
)

// BenchmarkRefresh measures one refresh round trip (client + simulator over loopback).
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, livechatsim.Options{})
	sim, c := e.sim, e.client
	tok := sim.GrantTokens("bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Refresh(ctx, tok.RefreshToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListChats100 measures a full 100-chat page.
func BenchmarkListChats100(b *testing.B) {
	e := newEnv(b, livechatsim.Options{})
	sim, c := e.sim, e.client
	acct := sim.AddAccount(livechatsim.Account{Chats: 120})
	tok := sim.GrantTokens(acct.AccountID)
	ctx := context.Background()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.ListChats(ctx, tok.AccessToken, livechat.ListChatsRequest{Limit: 100})
		if err != nil {
			b.Fatal(err)
		}
		size = len(res.Body)
	}
	b.ReportMetric(float64(size), "body-bytes")
}
