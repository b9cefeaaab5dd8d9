package sealing_test

import (
	"errors"
	"testing"

	"lcauth/internal/sealing"
	"lcauth/internal/testrig/kmsfake"
)

func TestStaticKeyID_IsStablePerKeyAndValid(t *testing.T) {
	a, b := sealing.StaticKeyID(key(1)), sealing.StaticKeyID(key(2))
	if a != sealing.StaticKeyID(key(1)) || a == b {
		t.Fatalf("ids %q %q: want stable and distinct", a, b)
	}
	if _, err := sealing.NewStatic(a, key(1)); err != nil {
		t.Fatalf("NewStatic(StaticKeyID(k), k): %v", err)
	}
}

func TestRotating_SealsWithPrimaryAndOpensOlderValues(t *testing.T) {
	oldKey := mustStatic(t, sealing.StaticKeyID(key(1)), key(1))
	newKey := mustStatic(t, sealing.StaticKeyID(key(2)), key(2))
	fake, keyARN := newKMS(t)
	kms := sealing.NewKMS(fake.Client(), keyARN)
	aad := []byte("aad")
	fromOld, _ := oldKey.Seal(ctx, []byte("old"), aad)
	fromStatic, _ := newKey.Seal(ctx, []byte("static"), aad)

	// Migrating from static keys to KMS.
	r := sealing.Rotating(kms, newKey, oldKey)
	fromKMS, err := r.Seal(ctx, []byte("kms"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kms.Open(ctx, fromKMS, aad); err != nil {
		t.Fatalf("Rotating did not seal with the primary: %v", err)
	}
	for v, want := range map[string]string{fromOld: "old", fromStatic: "static", fromKMS: "kms"} {
		if got, err := r.Open(ctx, v, aad); err != nil || string(got) != want {
			t.Errorf("Open = %q, %v; want %q", got, err, want)
		}
	}
	// Wrong aad fails whichever key the value names.
	if _, err := r.Open(ctx, fromOld, []byte("other")); !errors.Is(err, sealing.ErrOpen) && !errors.Is(err, sealing.ErrUnknownKey) {
		t.Errorf("wrong aad: err = %v", err)
	}
	// A value of a key nobody has is refused.
	stranger, _ := mustStatic(t, "stranger", key(9)).Seal(ctx, []byte("x"), aad)
	if _, err := r.Open(ctx, stranger, aad); err == nil {
		t.Error("opened a value of an unknown key")
	}
	// A KMS outage is reported as such, not as a bad value.
	reader := sealing.Rotating(sealing.NewKMS(fake.Client(), keyARN), newKey)
	fake.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 400, Type: "AccessDeniedException"})
	if _, err := reader.Open(ctx, fromKMS, aad); err == nil || errors.Is(err, sealing.ErrOpen) {
		t.Errorf("Open during a KMS outage: err = %v, want the KMS error", err)
	}
}
