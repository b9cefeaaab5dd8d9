package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/sealing"
	"lcauth/internal/store"
)

func TestListDue_ReturnsOnlyActiveInstallationsDueBeforeT(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	want := map[string]bool{}
	for i := 0; i < 40; i++ {
		org, acct := orgAcct(i)
		// Even ones expire within 10 minutes, odd ones in a day.
		d := time.Duration(i+1) * time.Second
		if i%2 == 1 {
			d = 24 * time.Hour
		}
		inst, _ := f.install(t, org, acct, d)
		if i%2 == 0 {
			want[inst.ID] = true
		}
	}
	// One due installation needs reauthorization: it must not be listed.
	org, acct := orgAcct(0)
	marked := f.get(t, store.InstallationID(org, acct))
	_, l := f.acquire(t, marked, "w")
	if _, err := f.st.MarkReauthorizationRequired(ctx, l, "invalid_grant"); err != nil {
		t.Fatal(err)
	}
	delete(want, marked.ID)

	got := f.dueIDs(t, now.Add(10*time.Minute))
	if len(got) != len(want) {
		t.Errorf("got %d due, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("%s is due but not listed", id)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("%s listed but not due", id)
		}
	}
	if n := len(f.dueIDs(t, now.Add(-time.Hour))); n != 0 {
		t.Errorf("%d due an hour ago, want 0", n)
	}
}

func TestListDue_PagesThroughAShardOldestFirst(t *testing.T) {
	f := newFixture(t)
	// Installations in one shard, with distinct expiries.
	want := f.installInShard(t, 3, 7, func(i int) time.Duration { return time.Duration(10-i) * time.Minute })
	slices.Reverse(want) // installed latest-expiring first
	var got []string
	tok, pages, scanned := "", 0, 0
	for {
		page, err := f.st.ListDue(ctx, f.clock.Now().Add(time.Hour), 3, tok, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		scanned += page.Scanned
		if len(page.Installations) > 2 {
			t.Fatalf("page of %d, limit 2", len(page.Installations))
		}
		for _, inst := range page.Installations {
			got = append(got, inst.ID)
			if inst.RefreshToken == "" {
				t.Errorf("%s listed without its tokens", inst.ID)
			}
		}
		if tok = page.Next; tok == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("position %d: %s, want %s (oldest expiry first)", i, got[i], want[i])
		}
	}
	if pages < 4 || scanned < len(want) {
		t.Errorf("%d pages, %d scanned; want >= 4 pages and >= %d scanned", pages, scanned, len(want))
	}
}

func TestListDue_RejectsBadArguments(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		org, acct := orgAcct(i)
		f.install(t, org, acct, time.Minute)
	}
	var otherShardToken string
	for shard := 0; shard < store.DueShards && otherShardToken == ""; shard++ {
		page, err := f.st.ListDue(ctx, f.clock.Now().Add(time.Hour), shard, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if page.Next != "" && shard != 5 {
			otherShardToken = page.Next
		}
	}
	if otherShardToken == "" {
		t.Fatal("setup: no page token")
	}
	tests := []struct {
		name  string
		shard int
		token string
	}{
		{"negative shard", -1, ""},
		{"shard out of range", store.DueShards, ""},
		{"token not base64", 5, "!!!"},
		{"token not json", 5, "aGVsbG8"},
		{"token for another shard", 5, otherShardToken},
		{"token too long", 5, string(make([]byte, 300))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.st.ListDue(ctx, f.clock.Now(), tt.shard, tt.token, 10); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestListDue_ADamagedItemDoesNotStallItsShard(t *testing.T) {
	f := newFixture(t)
	ids := f.installInShard(t, 7, 3, func(i int) time.Duration { return time.Duration(i+1) * time.Minute })
	damaged := ids[1]
	f.rawUpdate(t, damaged, "SET refresh_token = :v", nil, map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "s1.test.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
	page, err := f.st.ListDue(ctx, f.clock.Now().Add(time.Hour), 7, "", 0)
	if err != nil {
		t.Fatalf("ListDue with one damaged item: %v", err)
	}
	if len(page.Installations) != 3 {
		t.Fatalf("listed %d, want 3", len(page.Installations))
	}
	for _, inst := range page.Installations {
		if (inst.ID == damaged) != (inst.RefreshToken == "") {
			t.Errorf("%s (damaged %v) listed with a refresh token: %v", inst.ID, inst.ID == damaged, inst.RefreshToken != "")
		}
	}
	d := page.Installations[1]
	if _, _, err := f.st.AcquireLease(ctx, d.ID, d.Version, "w", leaseTTL); !errors.Is(err, sealing.ErrOpen) {
		t.Fatalf("AcquireLease of the damaged item: err = %v, want sealing.ErrOpen", err)
	}
	// The failed acquisition gave its lease back.
	if _, _, err := f.st.AcquireLease(ctx, page.Installations[0].ID, page.Installations[0].Version, "w", leaseTTL); err != nil {
		t.Fatalf("a healthy item of the shard: %v", err)
	}
	raw := f.rawItem(t, damaged)
	if _, leased := raw["lease_id"]; leased {
		t.Errorf("the damaged item kept the lease of a failed acquisition")
	}
}
