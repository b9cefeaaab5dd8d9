package store_test

import (
	"testing"
	"time"

	"lcauth/internal/sealing"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/kmsfake"
)

func TestStore_TokensSealedUnderKMSOpenInAnotherProcessWithOneDecrypt(t *testing.T) {
	db, table := dynalitetest.Table(t)
	fake := kmsfake.New(t)
	keyARN := fake.CreateKey()
	writer := store.New(db, table, sealing.NewKMS(fake.Client(), keyARN))
	g := store.Grant{AccessToken: "dal:at", RefreshToken: "dal:rt", ExpiresAt: time.Now().Add(time.Hour), OrganizationID: "o", AccountID: "a"}
	_, key, err := writer.Install(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	// A cold Lambda: its own sealer, so its own cache.
	reader := store.New(db, table, sealing.NewKMS(fake.Client(), keyARN))
	for i := 0; i < 20; i++ {
		inst, err := reader.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if inst.AccessToken != g.AccessToken || inst.RefreshToken != g.RefreshToken {
			t.Fatalf("tokens did not round-trip: %v", inst)
		}
	}
	if n := fake.Calls(kmsfake.OpDecrypt); n != 1 {
		t.Errorf("Decrypt called %d times for 20 reads of one data key, want 1", n)
	}
	if n := fake.Calls(kmsfake.OpGenerateDataKey); n != 1 {
		t.Errorf("GenerateDataKey called %d times, want 1 (the reader sealed nothing)", n)
	}
}
