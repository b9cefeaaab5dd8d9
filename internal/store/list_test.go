package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"lcauth/internal/store"
)

// TestListInstallations_PagesReadAtMostLimitItems measures the cost of a page: DynamoDB's ScannedCount
// is at most the limit, whatever the table's size, and paging visits every installation once.
func TestListInstallations_PagesReadAtMostLimitItems(t *testing.T) {
	f := newFixture(t)
	const n = 45
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		org, acct := orgAcct(i)
		inst, _ := f.install(t, org, acct, time.Hour)
		want[inst.ID] = true
	}
	if _, _, err := f.st.CreateServiceKey(ctx, "backend"); err != nil { // one more item, never listed
		t.Fatal(err)
	}
	seen := map[string]bool{}
	tok, pages := "", 0
	for {
		page, err := f.st.ListInstallations(ctx, store.ListOptions{Limit: 10, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		t.Logf("page %d: %d items read, %d listed, %.1f read capacity units", pages, page.ItemsRead, len(page.Installations), page.CapacityUnits)
		if page.ItemsRead > 10 {
			t.Errorf("page %d read %d items, want at most 10", pages, page.ItemsRead)
		}
		for _, inst := range page.Installations {
			if seen[inst.ID] {
				t.Errorf("%s listed twice", inst.ID)
			}
			seen[inst.ID] = true
			if inst.AccessToken != "" || inst.RefreshToken != "" {
				t.Errorf("listing carries tokens")
			}
			if inst.Status != store.StatusActive || inst.CreatedAt.IsZero() || inst.ExpiresAt.IsZero() || inst.OrganizationID == "" {
				t.Errorf("listed installation lacks fields: %v", inst)
			}
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != n {
		t.Errorf("listed %d installations, want %d", len(seen), n)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("%s not listed", id)
		}
	}
	t.Logf("%d installations + 1 service-keys item, limit 10: %d pages", n, pages)
}

func TestListInstallations_StatusFilterAndBadInput(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		org, acct := orgAcct(i)
		f.install(t, org, acct, time.Hour)
	}
	page, err := f.st.ListInstallations(ctx, store.ListOptions{Status: store.StatusReauthorizationRequired})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Installations) != 0 || page.ItemsRead != 3 {
		t.Errorf("filtered page: %d installations, %d read; want 0 and 3", len(page.Installations), page.ItemsRead)
	}
	page, err = f.st.ListInstallations(ctx, store.ListOptions{Status: store.StatusActive})
	if err != nil || len(page.Installations) != 3 || page.NextPageToken != "" {
		t.Fatalf("active: %+v %v", page, err)
	}
	for _, o := range []store.ListOptions{{Limit: -1}, {Limit: 101}, {Status: "weird"}, {PageToken: "x"},
		{PageToken: "v1.Li4vZXRj"}, {PageToken: fmt.Sprintf("v1.%064d", 0)}} {
		if _, err := f.st.ListInstallations(ctx, o); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListInstallations(%+v): err = %v, want ErrInvalid", o, err)
		}
	}
}
