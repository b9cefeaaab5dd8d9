package livechat_test

import (
	"context"
	"testing"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
	"lcauth/internal/testrig/simtest"
)

// BenchmarkRefresh measures one refresh round trip (client + simulator over loopback).
func BenchmarkRefresh(b *testing.B) {
	sim, srv := simtest.NewServer(b, livechatsim.Options{})
	c, err := livechat.New(livechat.Config{
		AccountsURL: srv.URL, APIURL: srv.URL, ClientID: sim.ClientID(),
		ClientSecret: secrets.Static(sim.ClientSecret()), HTTPClient: srv.Client(),
	})
	if err != nil {
		b.Fatal(err)
	}
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
	sim, srv := simtest.NewServer(b, livechatsim.Options{})
	c, err := livechat.New(livechat.Config{
		AccountsURL: srv.URL, APIURL: srv.URL, ClientID: sim.ClientID(),
		ClientSecret: secrets.Static(sim.ClientSecret()), HTTPClient: srv.Client(),
	})
	if err != nil {
		b.Fatal(err)
	}
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
