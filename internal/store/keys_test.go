package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/store"
)

func TestServiceKeys_CreateAuthenticateListRevoke(t *testing.T) {
	f := newFixture(t)
	k1, key1, err := f.st.CreateServiceKey(ctx, "analytics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key1, store.ServiceKeyPrefix) || len(key1) != store.ServiceKeyLength {
		t.Fatalf("service key has the wrong shape (len %d)", len(key1))
	}
	if k1.Kind != store.KeyKindService || k1.Name != "analytics" || !strings.HasPrefix(k1.ID, "svc.") || k1.InstallationID != "" {
		t.Errorf("created key = %+v", k1)
	}
	f.clock.Advance(time.Second)
	k2, key2, err := f.st.CreateServiceKey(ctx, "exports")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key1, key2} {
		got, err := f.st.AuthenticateService(ctx, k)
		if err != nil {
			t.Fatalf("AuthenticateService: %v", err)
		}
		if got.Kind != store.KeyKindService {
			t.Errorf("kind %s", got.Kind)
		}
	}
	keys, err := f.st.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != k1.ID || keys[1].ID != k2.ID {
		t.Fatalf("ListKeys = %+v, want k1, k2 in creation order", keys)
	}
	if keys[0].LastUsedAt.IsZero() {
		t.Errorf("last use not recorded")
	}
	if err := f.st.RevokeKey(ctx, k1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AuthenticateService(ctx, key1); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("revoked key: err = %v, want ErrUnauthorized", err)
	}
	if _, err := f.st.AuthenticateService(ctx, key2); err != nil {
		t.Errorf("the other key stopped working: %v", err)
	}
	if err := f.st.RevokeKey(ctx, k1.ID); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("second revoke: err = %v, want ErrKeyNotFound", err)
	}
}

func TestServiceKeys_BadKeysAreAllUnauthorized(t *testing.T) {
	f := newFixture(t)
	_, key, err := f.st.CreateServiceKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	sec := key[len(key)-10:]
	bad := []string{"", "lcs_", otherSecret(key), strings.ToUpper(key), key + "a",
		store.ServiceKeyPrefix + strings.Repeat("a", len(key)-len(store.ServiceKeyPrefix))}
	for _, k := range bad {
		_, err := f.st.AuthenticateService(ctx, k)
		if !errors.Is(err, store.ErrUnauthorized) {
			t.Errorf("AuthenticateService(%q): err = %v, want ErrUnauthorized", k, err)
		}
		if err != nil && strings.Contains(err.Error(), sec) {
			t.Errorf("error echoes the key")
		}
	}
	// An installation key is not a service key, and the other way round.
	_, ikey := f.install(t, "org-1", "acct-1", time.Hour)
	if _, err := f.st.AuthenticateService(ctx, ikey); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("installation key as service key: err = %v", err)
	}
	if _, err := f.st.Authenticate(ctx, key); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("service key as installation key: err = %v", err)
	}
}

func TestInstallationKeys_SeveralWorkAndRevokeOne(t *testing.T) {
	f := newFixture(t)
	inst, first := f.install(t, "org-1", "acct-1", time.Hour)
	f.clock.Advance(time.Second)
	k2, second, err := f.st.CreateInstallationKey(ctx, inst.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if k2.InstallationID != inst.ID || k2.Kind != store.KeyKindInstallation || !strings.HasPrefix(k2.ID, inst.ID+".") {
		t.Errorf("key = %+v", k2)
	}
	for _, k := range []string{first, second} {
		if got, err := f.st.Authenticate(ctx, k); err != nil || got.ID != inst.ID {
			t.Fatalf("Authenticate: %v %v", got, err)
		}
	}
	keys, err := f.st.ListKeys(ctx, inst.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %+v, %v; want 2 keys", keys, err)
	}
	if err := f.st.RevokeKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Authenticate(ctx, first); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("revoked key: err = %v", err)
	}
	if _, err := f.st.Authenticate(ctx, second); err != nil {
		t.Errorf("other key: %v", err)
	}
	// A key of one installation does not open another, even with its secret spliced in.
	other, _ := f.install(t, "org-2", "acct-2", time.Hour)
	spliced := store.APIKeyPrefix + other.ID + second[len(store.APIKeyPrefix)+store.IDLength:]
	if _, err := f.st.Authenticate(ctx, spliced); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("spliced key: err = %v", err)
	}
	if _, _, err := f.st.CreateInstallationKey(ctx, store.InstallationID("no", "one"), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key for unknown installation: err = %v", err)
	}
}

func TestKeys_AtMostMaxKeysPerHolder(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Hour) // the install key is the first
	for i := 1; i < store.MaxKeysPerHolder; i++ {
		if _, _, err := f.st.CreateInstallationKey(ctx, inst.ID, fmt.Sprint(i)); err != nil {
			t.Fatalf("key %d: %v", i+1, err)
		}
	}
	if _, _, err := f.st.CreateInstallationKey(ctx, inst.ID, "one too many"); !errors.Is(err, store.ErrTooManyKeys) {
		t.Fatalf("key %d: err = %v, want ErrTooManyKeys", store.MaxKeysPerHolder+1, err)
	}
	for i := 0; i < store.MaxKeysPerHolder; i++ {
		if _, _, err := f.st.CreateServiceKey(ctx, fmt.Sprint(i)); err != nil {
			t.Fatalf("service key %d: %v", i+1, err)
		}
	}
	if _, _, err := f.st.CreateServiceKey(ctx, "x"); !errors.Is(err, store.ErrTooManyKeys) {
		t.Fatalf("service key %d: err = %v, want ErrTooManyKeys", store.MaxKeysPerHolder+1, err)
	}
}

func TestKeys_LastUsedIsWrittenAtMostOncePerResolution(t *testing.T) {
	f := newFixture(t)
	inst, key := f.install(t, "org-1", "acct-1", time.Hour)
	t0 := f.clock.Now()
	lastUsed := func() time.Time {
		keys, err := f.st.ListKeys(ctx, inst.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("ListKeys = %v, %v", keys, err)
		}
		return keys[0].LastUsedAt
	}
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(t0) {
		t.Fatalf("last used %s, want %s", got, t0)
	}
	f.clock.Advance(store.LastUsedResolution / 2)
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(t0) {
		t.Errorf("last used moved to %s within the resolution", got)
	}
	f.clock.Advance(store.LastUsedResolution)
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(f.clock.Now()) {
		t.Errorf("last used %s, want %s", got, f.clock.Now())
	}
}

// An item written before several keys existed holds one key in api_key_hash: it keeps working, is
// listed, revocable, and a reinstall keeps it.
func TestKeys_LegacyHashStillWorks(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Hour)
	secret := strings.Repeat("b", store.APIKeyLength-len(store.APIKeyPrefix)-store.IDLength-1)
	legacy := store.APIKeyPrefix + inst.ID + "_" + secret
	f.rawUpdate(t, inst.ID, "SET api_key_hash = :h REMOVE api_keys", nil, map[string]types.AttributeValue{
		":h": &types.AttributeValueMemberB{Value: store.LegacyKeyHashForTest(inst.ID, secret)},
	})
	if _, err := f.st.Authenticate(ctx, legacy); err != nil {
		t.Fatalf("legacy key: %v", err)
	}
	if _, key, err := f.st.Install(ctx, f.grant("org-1", "acct-1", time.Hour, "again")); err != nil || key != "" {
		t.Fatalf("reinstall: key %q err %v", key, err)
	}
	if _, err := f.st.Authenticate(ctx, legacy); err != nil {
		t.Fatalf("legacy key after reinstall: %v", err)
	}
	keys, err := f.st.ListKeys(ctx, inst.ID)
	if err != nil || len(keys) != 1 || keys[0].ID != inst.ID+".legacy" || keys[0].LastUsedAt.IsZero() {
		t.Fatalf("ListKeys = %+v, %v; want the legacy key, used", keys, err)
	}
	if err := f.st.RevokeKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Authenticate(ctx, legacy); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("revoked legacy key: err = %v", err)
	}
}

// An uninstalled installation is a fresh start: installing again issues a new key and the old ones
// are gone; no key can be added while it is uninstalled.
func TestInstall_AfterUninstallIsAFreshStart(t *testing.T) {
	f := newFixture(t)
	inst, old := f.install(t, "org-1", "acct-1", time.Hour)
	f.rawUpdate(t, inst.ID, "SET #s = :u REMOVE access_token, refresh_token, due_shard, due_at", map[string]string{"#s": "status"},
		map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: string(store.StatusUninstalled)}})
	if _, _, err := f.st.CreateInstallationKey(ctx, inst.ID, "x"); !errors.Is(err, store.ErrUninstalled) {
		t.Errorf("key for uninstalled installation: err = %v, want ErrUninstalled", err)
	}
	again, key, err := f.st.Install(ctx, f.grant("org-1", "acct-1", time.Hour, "fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if key == "" || again.Status != store.StatusActive {
		t.Fatalf("fresh start: key %q status %s; want a new key, active", key, again.Status)
	}
	if _, err := f.st.Authenticate(ctx, old); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("key from before the uninstall: err = %v, want ErrUnauthorized", err)
	}
	if _, err := f.st.Authenticate(ctx, key); err != nil {
		t.Errorf("new key: %v", err)
	}
}

func TestParseKeyID(t *testing.T) {
	id := store.InstallationID("o", "a")
	good := []string{"svc.abcdefghijklmnop", id + ".abcdefghijklmnop", id + ".legacy"}
	bad := []string{"", "svc.", "svc.ABCDEFGHIJKLMNOP", id, id + ".", id + ".x", "nope.abcdefghijklmnop", "service_keys.abcdefghijklmnop"}
	for _, s := range good {
		if _, _, ok := store.ParseKeyID(s); !ok {
			t.Errorf("ParseKeyID(%q) refused", s)
		}
	}
	for _, s := range bad {
		if _, _, ok := store.ParseKeyID(s); ok {
			t.Errorf("ParseKeyID(%q) accepted", s)
		}
	}
}

// TestRevokeInstallationKeys_KeepsOnlyTheNamedKey: "issue a new key and revoke the old ones" removes
// every other key of that installation and no key of another installation.
func TestRevokeInstallationKeys_KeepsOnlyTheNamedKey(t *testing.T) {
	f := newFixture(t)
	inst, first := f.install(t, "org-1", "acct-1", time.Hour)
	_, second, err := f.st.CreateInstallationKey(ctx, inst.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	kept, third, err := f.st.CreateInstallationKey(ctx, inst.ID, "new")
	if err != nil {
		t.Fatal(err)
	}
	other, otherKey := f.install(t, "org-2", "acct-2", time.Hour)

	n, err := f.st.RevokeInstallationKeys(ctx, inst.ID, kept.ID)
	if err != nil || n != 2 {
		t.Fatalf("RevokeInstallationKeys = %d, %v; want 2 removed", n, err)
	}
	for _, k := range []string{first, second} {
		if _, err := f.st.Authenticate(ctx, k); !errors.Is(err, store.ErrUnauthorized) {
			t.Errorf("an old key still works: %v", err)
		}
	}
	if got, err := f.st.Authenticate(ctx, third); err != nil || got.ID != inst.ID {
		t.Errorf("the kept key: %v %v", got, err)
	}
	if got, err := f.st.Authenticate(ctx, otherKey); err != nil || got.ID != other.ID {
		t.Errorf("another installation's key: %v %v", got, err)
	}
	if n, err := f.st.RevokeInstallationKeys(ctx, inst.ID, ""); err != nil || n != 1 {
		t.Errorf("revoking all (keep none) = %d, %v; want the last one removed", n, err)
	}
	if _, err := f.st.Authenticate(ctx, third); !errors.Is(err, store.ErrUnauthorized) {
		t.Errorf("keep none left a key working: %v", err)
	}
}
