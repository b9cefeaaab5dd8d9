package harness

import (
	"net/url"
	"strings"
	"testing"

	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// TestSite_InstallsThroughTheConsentPageOverHTTP: a Site without Allow clicks Allow on the simulator's
// page over HTTP (as the e2e suites do against `lcauth dev`), as the account it is given or the
// first the page offers.
func TestSite_InstallsThroughTheConsentPageOverHTTP(t *testing.T) {
	s := New(t, Options{})
	other := s.Sim.AddAccount(livechatsim.Account{Email: "second@example.com"})
	site := &Site{T: t, URL: s.URL}

	chosen := site.Install(other.AccountID)
	if chosen.OrganizationID != other.OrganizationID || chosen.APIKey == "" {
		t.Fatalf("install as %s = %+v, want a fresh installation of organization %s", other.AccountID, chosen, other.OrganizationID)
	}
	first := site.Install("")
	if first.AccountID != s.Account.AccountID && first.AccountID != other.AccountID {
		t.Fatalf("install as the page's first account = %+v, want one of the simulator's accounts", first)
	}
	if r := site.Chats(chosen.APIKey, "limit=1"); r.Status != 200 {
		t.Fatalf("chats with the installed key: %d %s", r.Status, r.Body)
	}
}

func TestAllowOnConsentPage_ReportsARefusedAuthorizeRequest(t *testing.T) {
	s := New(t, Options{})
	u, _ := url.Parse(s.StartInstall(s.Browser()))
	q := u.Query()
	q.Set("client_id", "someone-else")
	u.RawQuery = q.Encode()
	if got, err := AllowOnConsentPage(u.String(), ""); err == nil || !strings.Contains(err.Error(), "consent page answered") {
		t.Fatalf("AllowOnConsentPage(unknown client) = %q, %v; want the page's refusal", got, err)
	}
}
