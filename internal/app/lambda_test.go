package app_test

import (
	"errors"
	"strings"
	"testing"

	"lcauth/internal/app"
	"lcauth/internal/config"
)

func TestForLambda_ReportsEveryMissingVariable(t *testing.T) {
	_, err := app.ForLambda(t.Context(), config.FunctionChats, func(string) string { return "" })
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	for _, name := range []string{config.EnvClientID, config.EnvRedirectURL, config.EnvTable} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestForLambda_BuildsTheFunctionsApp(t *testing.T) {
	s := newStack(t)
	a, err := app.ForLambda(t.Context(), config.FunctionChats, func(k string) string { return s.Env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if a.ChatsHandler() == nil || a.Store() == nil || a.Refresher() == nil {
		t.Fatal("chats function built without its handler, store or refresher")
	}
}
