package sealing_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"lcauth/internal/sealing"
)

var ctx = context.Background()

func key(b byte) []byte { return bytes.Repeat([]byte{b}, sealing.KeySize) }

func mustStatic(t *testing.T, id string, k []byte) sealing.Sealer {
	t.Helper()
	s, err := sealing.NewStatic(id, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewStatic_RejectsBadKeys(t *testing.T) {
	tests := []struct {
		name, id string
		key      []byte
	}{
		{"short key", "k", make([]byte, 16)},
		{"long key", "k", make([]byte, 33)},
		{"empty id", "", key(1)},
		{"dot in id", "a.b", key(1)},
		{"long id", strings.Repeat("k", 65), key(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sealing.NewStatic(tt.id, tt.key); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestStatic_SealOpenRoundTripAndTamperDetection(t *testing.T) {
	s := mustStatic(t, "k1", key(1))
	aad := []byte("inst-1/access_token")
	plain := []byte("dal:secret-token")
	sealed, err := s.Seal(ctx, plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "secret-token") || !strings.HasPrefix(sealed, "s1.k1.") {
		t.Fatalf("sealed %q: want s1.k1. prefix and no plaintext", sealed)
	}
	got, err := s.Open(ctx, sealed, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := s.Seal(ctx, plain, aad)
	if again == sealed {
		t.Error("sealing twice gave the same output: nonce reused")
	}
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	tests := []struct {
		name   string
		sealed string
		aad    []byte
		opener sealing.Sealer
		want   error
	}{
		{"other aad", sealed, []byte("inst-2/access_token"), s, sealing.ErrOpen},
		{"no aad", sealed, nil, s, sealing.ErrOpen},
		{"flipped bit", string(flipped), aad, s, sealing.ErrOpen},
		{"truncated", sealed[:len(sealed)-4], aad, s, sealing.ErrOpen},
		{"empty", "", aad, s, sealing.ErrOpen},
		{"garbage", "s1.k1.!!!", aad, s, sealing.ErrOpen},
		{"relabelled key id", strings.Replace(sealed, "s1.k1.", "s1.k2.", 1), aad, mustStatic(t, "k2", key(1)), sealing.ErrOpen},
		{"other key id", sealed, aad, mustStatic(t, "k2", key(2)), sealing.ErrUnknownKey},
		{"same id, other key", sealed, aad, mustStatic(t, "k1", key(2)), sealing.ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(ctx, tt.sealed, tt.aad)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestStaticKeyID: processes sharing a local key agree on its id without configuring one, another key
// gets another id (so its values are refused as sealed under an unknown key, not mis-opened), and the
// id is a valid key id that shows nothing of the key.
func TestStaticKeyID(t *testing.T) {
	a, b := sealing.StaticKeyID(key(1)), sealing.StaticKeyID(key(2))
	if a != sealing.StaticKeyID(key(1)) {
		t.Fatal("the same key gave two ids")
	}
	if a == b {
		t.Fatal("two keys gave one id")
	}
	if !strings.HasPrefix(a, "local-") || strings.Contains(a, string(key(1)[:4])) {
		t.Fatalf("id %q: want local-<hash>", a)
	}
	sealed, err := mustStatic(t, a, key(1)).Seal(ctx, []byte("token"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mustStatic(t, a, key(1)).Open(ctx, sealed, []byte("aad")); err != nil || string(got) != "token" {
		t.Fatalf("another process with the same key: %q %v", got, err)
	}
	if _, err := mustStatic(t, b, key(2)).Open(ctx, sealed, []byte("aad")); !errors.Is(err, sealing.ErrUnknownKey) {
		t.Fatalf("a process with another key: %v, want ErrUnknownKey", err)
	}
}
