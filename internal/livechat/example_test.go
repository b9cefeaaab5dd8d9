package livechat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"lcauth/internal/livechat"
	"lcauth/internal/livechatsim"
	"lcauth/internal/secrets"
)

// The whole authorization code flow against the simulator: build the authorize URL,
// let the (simulated) user click Allow, read the code from the redirect exactly once
// with URL.Query(), exchange it, and call List Chats.
func Example_authorizationCodeFlow() {
	sim := livechatsim.New(livechatsim.Options{RedirectURIs: []string{"https://app.example/callback"}})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	acct := sim.AddAccount(livechatsim.Account{Region: "dal", Chats: 12})

	client, err := livechat.New(livechat.Config{
		AccountsURL:  srv.URL,
		APIURL:       srv.URL,
		ClientID:     sim.ClientID(),
		RedirectURL:  "https://app.example/callback",
		ClientSecret: secrets.Static(sim.ClientSecret()),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	verifier, pkce, _ := livechat.NewPKCE("S256")
	redirect, _ := sim.Authorize(client.AuthorizeURL("opaque-state", pkce), acct.AccountID)
	code := redirect.Query().Get("code") // decoded once: "dal:..."

	ctx := context.Background()
	tok, err := client.Exchange(ctx, code, verifier)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("region:", tok.Region)
	fmt.Println("printed token:", tok.AccessToken != "" && !strings.Contains(fmt.Sprint(tok), tok.AccessToken))

	page, err := client.ListChats(ctx, tok.AccessToken, livechat.ListChatsRequest{Limit: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("found chats:", page.FoundChats, "more pages:", page.NextPageID != "")
	// Output:
	// region: dal
	// printed token: true
	// found chats: 12 more pages: true
}

// Classify turns any error into the decision the caller has to make.
func ExampleClassify() {
	sim := livechatsim.New(livechatsim.Options{})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, _ := livechat.New(livechat.Config{
		AccountsURL: srv.URL, APIURL: srv.URL, ClientID: sim.ClientID(),
		ClientSecret: secrets.Static(sim.ClientSecret()),
	})
	tok := sim.GrantTokens("agent-1")
	sim.RevokeGrant("agent-1") // the user removed the app

	_, err := client.Refresh(context.Background(), tok.RefreshToken)
	var te *livechat.TokenError
	if errors.As(err, &te) {
		fmt.Println("code:", te.Code)
	}
	switch livechat.Classify(err) {
	case livechat.ClassReauthorization:
		fmt.Println("mark the installation as needing re-authorization")
	case livechat.ClassMisconfiguration:
		fmt.Println("stop and alarm: our client id or secret is probably wrong")
	case livechat.ClassRateLimited, livechat.ClassTransient:
		fmt.Println("retry later")
	}
	// Output:
	// code: invalid_grant
	// mark the installation as needing re-authorization
}
