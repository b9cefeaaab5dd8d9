package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/sealing"
	"lcauth/internal/store"
)

var ctx = context.Background()

func TestInstallationID_IsStableAndFitsInAnAPIKey(t *testing.T) {
	a := store.InstallationID("org-1", "acct-1")
	if b := store.InstallationID("org-1", "acct-1"); a != b {
		t.Fatalf("same pair gave %q then %q", a, b)
	}
	if len(a) != store.IDLength {
		t.Errorf("len %d, want %d", len(a), store.IDLength)
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			t.Fatalf("id %q has %q outside [a-z0-9]", a, c)
		}
	}
	distinct := [][2]string{{"org-1", "acct-2"}, {"org-2", "acct-1"}, {"ab", "c"}, {"a", "bc"}, {"", "org-1acct-1"}}
	seen := map[string]bool{a: true}
	for _, p := range distinct {
		id := store.InstallationID(p[0], p[1])
		if seen[id] {
			t.Errorf("InstallationID(%q, %q) = %q collides", p[0], p[1], id)
		}
		seen[id] = true
	}
}

func TestInstall_CreatesActiveInstallationWithAPIKey(t *testing.T) {
	f := newFixture(t)
	g := f.grant("org-1", "acct-1", time.Hour, "a")
	inst, key := f.installGrant(t, g)
	now := f.clock.Now()
	checks := []struct {
		what      string
		got, want any
	}{
		{"ID", inst.ID, store.InstallationID("org-1", "acct-1")},
		{"OrganizationID", inst.OrganizationID, "org-1"},
		{"AccountID", inst.AccountID, "acct-1"},
		{"Region", inst.Region, "dal"},
		{"AccessToken", inst.AccessToken, g.AccessToken},
		{"RefreshToken", inst.RefreshToken, g.RefreshToken},
		{"TokenType", inst.TokenType, "Bearer"},
		{"Scope", inst.Scope, g.Scope},
		{"ExpiresAt", inst.ExpiresAt, g.ExpiresAt},
		{"Status", inst.Status, store.StatusActive},
		{"Version", inst.Version, int64(1)},
		{"CreatedAt", inst.CreatedAt, now},
		{"UpdatedAt", inst.UpdatedAt, now},
		{"StatusChangedAt", inst.StatusChangedAt, now},
		{"LastRefreshedAt.IsZero", inst.LastRefreshedAt.IsZero(), true},
		{"LastRefreshError", inst.LastRefreshError == nil, true},
		{"key prefix", strings.HasPrefix(key, store.APIKeyPrefix+inst.ID+"_"), true},
		{"key length", len(key), store.APIKeyLength},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	got := f.get(t, inst.ID)
	if got.AccessToken != g.AccessToken || got.RefreshToken != g.RefreshToken || got.Version != 1 || !got.CreatedAt.Equal(now) {
		t.Errorf("Get = %v, want the installed item", got)
	}
	auth, err := f.st.Authenticate(ctx, key)
	if err != nil {
		t.Fatalf("Authenticate with the issued key: %v", err)
	}
	if auth.ID != inst.ID || auth.AccessToken != g.AccessToken {
		t.Errorf("Authenticate = %v, want %s with its tokens", auth, inst.ID)
	}
}

func TestInstall_StoresNoPlaintextTokenOrKey(t *testing.T) {
	f := newFixture(t)
	g := f.grant("org-1", "acct-1", time.Hour, "secret")
	inst, key := f.installGrant(t, g)
	secret := key[strings.LastIndex(key, "_")+1:]
	item := f.rawItem(t, inst.ID)
	for attr, av := range item {
		var s string
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			s = v.Value
		case *types.AttributeValueMemberB:
			s = string(v.Value)
		}
		for _, plain := range []string{g.AccessToken, g.RefreshToken, secret, "access-org-1"} {
			if strings.Contains(s, plain) {
				t.Errorf("attribute %s holds plaintext %q", attr, plain)
			}
		}
	}
	for _, attr := range []string{"access_token", "refresh_token", "api_keys", store.AttrDueShard, store.AttrDueAt} {
		if item[attr] == nil {
			t.Errorf("attribute %s missing from the stored item", attr)
		}
	}
}

// Issue 12 changed this: a reinstall used to replace the key; now it keeps every key working and
// issues none (a forced reinstall must not break a working integration).
func TestInstall_ReinstallUpdatesSameItemKeepsCreatedAtAndKeepsKey(t *testing.T) {
	f := newFixture(t)
	first, oldKey := f.install(t, "org-1", "acct-1", time.Hour)
	created := f.clock.Now()
	f.clock.Advance(time.Hour)
	g := f.grant("org-1", "acct-1", 2*time.Hour, "second")
	second, newKey := f.installGrant(t, g)
	if second.ID != first.ID || second.Version != 2 {
		t.Errorf("reinstall: id %s version %d, want %s version 2", second.ID, second.Version, first.ID)
	}
	if !second.CreatedAt.Equal(created) || !second.UpdatedAt.Equal(f.clock.Now()) {
		t.Errorf("created %s updated %s, want %s and %s", second.CreatedAt, second.UpdatedAt, created, f.clock.Now())
	}
	if got := f.get(t, first.ID); got.AccessToken != g.AccessToken {
		t.Errorf("access token not replaced")
	}
	if newKey != "" {
		t.Errorf("reinstall issued key %q..., want none", newKey[:20])
	}
	if _, err := f.st.Authenticate(ctx, oldKey); err != nil {
		t.Errorf("old key after reinstall: %v, want it to keep working", err)
	}
}

func TestInstall_RejectsInvalidGrants(t *testing.T) {
	f := newFixture(t)
	base := f.grant("org-1", "acct-1", time.Hour, "x")
	tests := []struct {
		name   string
		mutate func(*store.Grant)
	}{
		{"no access token", func(g *store.Grant) { g.AccessToken = "" }},
		{"no refresh token", func(g *store.Grant) { g.RefreshToken = "" }},
		{"no organization", func(g *store.Grant) { g.OrganizationID = "" }},
		{"no account", func(g *store.Grant) { g.AccountID = "" }},
		{"zero expiry", func(g *store.Grant) { g.ExpiresAt = time.Time{} }},
		{"huge access token", func(g *store.Grant) { g.AccessToken = strings.Repeat("a", 17<<10) }},
		{"huge account id", func(g *store.Grant) { g.AccountID = strings.Repeat("a", 257) }},
		{"invalid utf-8 scope", func(g *store.Grant) { g.Scope = "\xff" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := base
			tt.mutate(&g)
			_, key, err := f.st.Install(ctx, g)
			if !errors.Is(err, store.ErrInvalid) || key != "" {
				t.Fatalf("err = %v key %q, want ErrInvalid and no key", err, key)
			}
			if strings.Contains(err.Error(), base.AccessToken) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestGet_UnknownOrMalformedIDIsNotFound(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{store.InstallationID("nobody", "none"), "", "short", strings.Repeat("A", store.IDLength), "../../etc"} {
		if _, err := f.st.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

func TestAuthenticate_RejectsEveryBadKeyWithTheSameError(t *testing.T) {
	f := newFixture(t)
	inst, key := f.install(t, "org-1", "acct-1", time.Hour)
	gone, goneKey := f.install(t, "org-2", "acct-2", time.Hour)
	if err := f.st.Delete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	secret := key[len(key)-52:]
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'a' {
			b[len(b)-1] = 'b'
		} else {
			b[len(b)-1] = 'a'
		}
		return string(b)
	}
	tests := []struct{ name, key string }{
		{"empty", ""},
		{"garbage", "hello"},
		{"wrong secret", flip(key)},
		{"unknown installation", store.APIKeyPrefix + store.InstallationID("x", "y") + "_" + secret},
		{"deleted installation", goneKey},
		{"wrong prefix", "lcb_" + key[4:]},
		{"truncated", key[:len(key)-1]},
		{"extra character", key + "a"},
		{"upper case", strings.ToUpper(key)},
		{"missing separator", strings.Replace(key, "_"+secret, "-"+secret, 1)},
		{"swapped parts", store.APIKeyPrefix + secret[:store.IDLength] + "_" + inst.ID + secret[store.IDLength:]},
		{"non-ascii", key[:len(key)-2] + "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.st.Authenticate(ctx, tt.key)
			if !errors.Is(err, store.ErrUnauthorized) || got != nil {
				t.Fatalf("got %v, err %v; want nil, ErrUnauthorized", got, err)
			}
			if tt.key != "" && strings.Contains(err.Error(), tt.key) || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}

func TestDelete_RemovesTheInstallation(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Hour)
	if err := f.st.Delete(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Get(ctx, inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := f.st.Delete(ctx, inst.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	if ids := f.dueIDs(t, f.clock.Now().Add(24*time.Hour)); ids[inst.ID] {
		t.Errorf("deleted installation still due")
	}
}

func TestInstallation_FormattingAndLogsRedactTokens(t *testing.T) {
	f := newFixture(t)
	g := f.grant("org-1", "acct-1", time.Hour, "redact")
	inst, _ := f.installGrant(t, g)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("x", "inst", inst, "grant", g)
	outputs := map[string]string{
		"%v inst":     fmt.Sprintf("%v", inst),
		"%+v inst":    fmt.Sprintf("%+v", inst),
		"%#v inst":    fmt.Sprintf("%#v", inst),
		"%s inst":     fmt.Sprint(inst),
		"%v grant":    fmt.Sprintf("%v", g),
		"%+v grant":   fmt.Sprintf("%+v", g),
		"%#v grant":   fmt.Sprintf("%#v", g),
		"%v *grant":   fmt.Sprintf("%v", &g),
		"slog (json)": logs.String(),
	}
	for what, out := range outputs {
		if strings.Contains(out, "access-") || strings.Contains(out, "refresh-") {
			t.Errorf("%s leaks a token: %s", what, out)
		}
		if !strings.Contains(out, inst.ID) && !strings.Contains(out, "org-1") {
			t.Errorf("%s says nothing useful: %s", what, out)
		}
	}
}

func TestTokens_CopiedCiphertextDoesNotOpen(t *testing.T) {
	tests := []struct {
		name       string
		from, into string // attributes: copy from's value of installation A into ...
		sameItem   bool
	}{
		{"access token into another installation", "access_token", "access_token", false},
		{"refresh token into another installation", "refresh_token", "refresh_token", false},
		{"refresh token into the access token field", "refresh_token", "access_token", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			a, _ := f.install(t, "org-a", "acct-a", time.Hour)
			b, _ := f.install(t, "org-b", "acct-b", time.Hour)
			target := b.ID
			if tt.sameItem {
				target = a.ID
			}
			f.rawUpdate(t, target, "SET #f = :v", map[string]string{"#f": tt.into}, map[string]types.AttributeValue{":v": f.rawItem(t, a.ID)[tt.from]})
			_, err := f.st.Get(ctx, target)
			if !errors.Is(err, sealing.ErrOpen) {
				t.Fatalf("Get after the copy: err = %v, want sealing.ErrOpen", err)
			}
		})
	}
}

func TestInstall_RefusesAnIDHeldByAnotherOrganizationAndAccount(t *testing.T) {
	f := newFixture(t)
	inst, key := f.install(t, "org-1", "acct-1", time.Hour)
	// Simulate a hash collision: the item under org-1/acct-1's id claims to belong to someone else.
	f.rawUpdate(t, inst.ID, "SET organization_id = :o", nil, map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: "org-other"}})
	_, newKey, err := f.st.Install(ctx, f.grant("org-1", "acct-1", time.Hour, "takeover"))
	if err == nil || newKey != "" || errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Install over another organization's item: key %q err %v; want a refusal", newKey, err)
	}
	got := f.get(t, inst.ID)
	if got.OrganizationID != "org-other" || got.AccessToken != inst.AccessToken || got.Version != inst.Version {
		t.Errorf("refused Install changed the item: %v", got)
	}
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Errorf("the item's own key stopped working: %v", err)
	}
}

// TestOptionalTime: the store's zero time ("never set") shows as null, any other time in UTC.
func TestOptionalTime(t *testing.T) {
	if store.OptionalTime(time.Time{}) != nil {
		t.Error("the zero time is not nil")
	}
	at := time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	if got := store.OptionalTime(at); got == nil || !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("OptionalTime(%v) = %v, want the same instant in UTC", at, got)
	}
}
