package httpapi_test

import (
	"testing"

	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

const clientSecret = harness.ClientSecret

// env is one complete lcauth HTTP stack built through app.New (see internal/testrig/harness).
type env = harness.Stack

// newEnv starts a stack whose account has 12 chats; o, if given, selects its optional parts.
func newEnv(tb testing.TB, o ...harness.Options) *env {
	tb.Helper()
	var opts harness.Options
	if len(o) > 0 {
		opts = o[0]
	}
	if opts.Account == nil {
		opts.Account = &livechatsim.Account{Email: "a@example.com", Chats: 12}
	}
	return harness.New(tb, opts)
}

// newInstalledEnv starts a stack (newEnv) and installs its account; it returns the stack and the
// installation's API key.
func newInstalledEnv(t *testing.T, o ...harness.Options) (*env, string) {
	t.Helper()
	e := newEnv(t, o...)
	return e, e.Install(e.Account.AccountID).APIKey
}

// forgedKey is a well-formed key of key's installation with another secret part.
func forgedKey(key string) string {
	if forged := key[:len(key)-4] + "aaaa"; forged != key {
		return forged
	}
	return key[:len(key)-4] + "bbbb"
}
