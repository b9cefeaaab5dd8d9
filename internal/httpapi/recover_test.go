package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lcauth/internal/livechat"
	"lcauth/internal/store"
)

type panickingStore struct {
	InstallationStore // the other methods panic too (nil interface)
}

func (panickingStore) Install(context.Context, store.Grant) (*store.Installation, string, error) {
	panic("boom")
}
func (panickingStore) Authenticate(context.Context, string) (*store.Installation, error) {
	panic("boom")
}

type nopLiveChat struct{}

func (nopLiveChat) AuthorizeURL(string, livechat.PKCE) string { return "https://accounts.example/" }
func (nopLiveChat) Exchange(context.Context, string, string) (*livechat.Token, error) {
	return nil, nil
}
func (nopLiveChat) ListChats(context.Context, string, livechat.ListChatsRequest) (*livechat.ListChatsResponse, error) {
	return nil, nil
}

type nopRefresher struct{}

func (nopRefresher) RefreshInstallation(_ context.Context, i *store.Installation) (*store.Installation, error) {
	return i, nil
}

type fixedSecret string

func (s fixedSecret) ClientSecret(context.Context) (string, error) { return string(s), nil }

func TestWrap_RecoversPanicsAsJSON500AndLogsThem(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Options{Store: panickingStore{}, LiveChat: nopLiveChat{}, Refresher: nopRefresher{}, Secret: fixedSecret("x"),
		RedirectURL: "https://h.example/callback", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/chats", nil)
	req.Header.Set("Authorization", "Bearer lca_abc")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":"internal_error"`) {
		t.Fatalf("got %d %s, want a JSON 500", rec.Code, rec.Body)
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatal("security headers missing on the 500")
	}
	if !strings.Contains(logs.String(), "panic in handler") || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

func TestNew_RequiresLiveChatSecretAndRedirectURL(t *testing.T) {
	tests := []Options{
		{Secret: fixedSecret("x"), RedirectURL: "https://h/cb"},
		{LiveChat: nopLiveChat{}, RedirectURL: "https://h/cb"},
		{LiveChat: nopLiveChat{}, Secret: fixedSecret("x"), RedirectURL: "/relative"},
		{LiveChat: nopLiveChat{}, Secret: fixedSecret("x"), RedirectURL: "https://h/cb", Store: panickingStore{}},
		{LiveChat: nopLiveChat{}, Secret: fixedSecret("x"), RedirectURL: "https://h/cb", PKCE: "S512"},
	}
	for i, o := range tests {
		if _, err := New(o); err == nil {
			t.Errorf("case %d: New accepted incomplete options", i)
		}
	}
}
