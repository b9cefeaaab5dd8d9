package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"lcauth/internal/store"
)

func TestMarkUninstalled_ErasesTokensLeavesDueIndexKeepsTheItem(t *testing.T) {
	f := newFixture(t)
	gone, _ := f.install(t, "org-1", "acct-1", time.Minute)
	kept, _ := f.install(t, "org-1", "acct-2", time.Minute)
	f.clock.Advance(time.Second)

	got, err := f.st.MarkUninstalled(ctx, gone.ID, gone.Version, store.UninstalledByWebhook)
	if err != nil {
		t.Fatalf("MarkUninstalled: %v", err)
	}
	if got.Status != store.StatusUninstalled || got.StatusReason != string(store.UninstalledByWebhook) || got.Version != gone.Version+1 {
		t.Errorf("got status %q reason %q version %d, want uninstalled/application_uninstalled/%d", got.Status, got.StatusReason, got.Version, gone.Version+1)
	}
	item := f.rawItem(t, gone.ID)
	for _, attr := range []string{"access_token", "refresh_token", "expires_at", store.AttrDueShard, store.AttrDueAt, "lease_id"} {
		if item[attr] != nil {
			t.Errorf("attribute %s still on the uninstalled item", attr)
		}
	}
	for _, attr := range []string{"organization_id", "account_id", "created_at", "status_changed_at"} {
		if item[attr] == nil {
			t.Errorf("attribute %s missing: the item must stay for the operator", attr)
		}
	}
	read := f.get(t, gone.ID)
	if read.AccessToken != "" || read.RefreshToken != "" || !read.CreatedAt.Equal(gone.CreatedAt) {
		t.Errorf("Get after uninstall: tokens %q/%q created %s, want none and %s", read.AccessToken, read.RefreshToken, read.CreatedAt, gone.CreatedAt)
	}
	due := f.dueIDs(t, f.clock.Now().Add(time.Hour))
	if due[gone.ID] || !due[kept.ID] {
		t.Errorf("due = %v, want %s only", due, kept.ID)
	}
}

func TestMarkUninstalled_RefusesAStaleVersionAndIsDoneOnce(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Hour)
	if _, err := f.st.MarkUninstalled(ctx, inst.ID, inst.Version+7, store.UninstalledByOperator); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("stale version: err %v, want ErrVersionConflict", err)
	}
	if st := f.get(t, inst.ID).Status; st != store.StatusActive {
		t.Errorf("status after a refused write = %s, want active", st)
	}
	if _, err := f.st.MarkUninstalled(ctx, inst.ID, inst.Version, store.UninstalledByOperator); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.MarkUninstalled(ctx, inst.ID, inst.Version+1, store.UninstalledByOperator); !errors.Is(err, store.ErrUninstalled) {
		t.Errorf("second uninstall: err %v, want ErrUninstalled", err)
	}
	if v := f.get(t, inst.ID).Version; v != inst.Version+1 {
		t.Errorf("version after a repeated uninstall = %d, want %d (unchanged)", v, inst.Version+1)
	}
	other := store.InstallationID("org-x", "acct-x")
	if _, err := f.st.MarkUninstalled(ctx, other, 1, store.UninstalledByOperator); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: err %v, want ErrNotFound", err)
	}
	if _, err := f.st.MarkUninstalled(ctx, "not-an-id", 1, store.UninstalledByOperator); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("malformed id: err %v, want ErrNotFound", err)
	}
}

func TestMarkUninstalled_ARefreshInFlightCannotBringTheTokensBack(t *testing.T) {
	f := newFixture(t)
	inst, _ := f.install(t, "org-1", "acct-1", time.Minute)
	_, lease, err := f.st.AcquireLease(ctx, inst.ID, inst.Version, "refresher", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.MarkUninstalled(ctx, inst.ID, inst.Version, store.UninstalledByWebhook); err != nil {
		t.Fatalf("MarkUninstalled under another holder's lease: %v", err)
	}
	if _, err := f.st.CompleteRefresh(ctx, lease, f.grant("org-1", "acct-1", time.Hour, "late")); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("late CompleteRefresh: err %v, want ErrVersionConflict", err)
	}
	if _, err := f.st.MarkReauthorizationRequired(ctx, lease, "late"); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("late MarkReauthorizationRequired: err %v, want ErrVersionConflict", err)
	}
	got := f.get(t, inst.ID)
	if got.Status != store.StatusUninstalled || got.AccessToken != "" {
		t.Errorf("after the late refresh: status %s, token present %v; want uninstalled without tokens", got.Status, got.AccessToken != "")
	}
}

func TestOrganizationInstallations_FindsEveryInstallationOfTheOrganizationOnly(t *testing.T) {
	f := newFixture(t)
	a, _ := f.install(t, "org-1", "acct-1", time.Hour)
	b, _ := f.install(t, "org-1", "acct-2", time.Hour)
	f.install(t, "org-2", "acct-1", time.Hour)
	if _, err := f.st.MarkUninstalled(ctx, b.ID, b.Version, store.UninstalledByWebhook); err != nil {
		t.Fatal(err)
	}
	ids, err := f.st.OrganizationInstallations(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("org-1 installations = %v, want %v (uninstalled ones included)", ids, want)
	}
	if ids, err := f.st.OrganizationInstallations(ctx, "org-unknown"); err != nil || len(ids) != 0 {
		t.Errorf("unknown organization: %v, %v; want none", ids, err)
	}
	if _, err := f.st.OrganizationInstallations(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty organization: err %v, want ErrInvalid", err)
	}
}
