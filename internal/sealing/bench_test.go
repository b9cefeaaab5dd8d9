package sealing_test

import (
	"testing"

	"lcauth/internal/sealing"
	"lcauth/internal/testrig/kmsfake"
)

// A refresh seals two tokens and /chats opens one: these are the per-token costs once keys are cached.

func BenchmarkStatic_SealOpen(b *testing.B) {
	s, err := sealing.NewStatic("bench", key(1))
	if err != nil {
		b.Fatal(err)
	}
	benchSealOpen(b, s)
}

func BenchmarkKMS_SealOpenCached(b *testing.B) {
	fake := kmsfake.New(b)
	benchSealOpen(b, sealing.NewKMS(fake.Client(), fake.CreateKey()))
}

func benchSealOpen(b *testing.B, s sealing.Sealer) {
	token := []byte("dal:" + string(make([]byte, 40)))
	aad := []byte("lcauth/token/v1\x00abcdefghijklmnopqrstuvwxyz\x00access_token")
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.Seal(ctx, token, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(ctx, v, aad); err != nil {
			b.Fatal(err)
		}
	}
}
