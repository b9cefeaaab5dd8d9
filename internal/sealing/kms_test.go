package sealing_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"lcauth/internal/sealing"
	"lcauth/internal/testrig/kmsfake"
)

func newKMS(t *testing.T) (*kmsfake.Server, string) {
	t.Helper()
	fake := kmsfake.New(t)
	return fake, fake.CreateKey()
}

func TestKMS_SealOpenRoundTripUsesOneDataKeyPerProcess(t *testing.T) {
	fake, keyARN := newKMS(t)
	s := sealing.NewKMS(fake.Client(), keyARN)
	var wg sync.WaitGroup
	sealed := make([]string, 50)
	errs := make([]error, 50)
	for i := range sealed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealed[i], errs[i] = s.Seal(ctx, fmt.Appendf(nil, "token-%d", i), []byte("aad"))
		}()
	}
	wg.Wait()
	for i := range sealed {
		if errs[i] != nil {
			t.Fatalf("Seal %d: %v", i, errs[i])
		}
		got, err := s.Open(ctx, sealed[i], []byte("aad"))
		if err != nil || string(got) != fmt.Sprintf("token-%d", i) {
			t.Fatalf("Open %d = %q, %v", i, got, err)
		}
		if strings.Contains(sealed[i], "token-") || !strings.HasPrefix(sealed[i], "k1.") {
			t.Fatalf("sealed form %q", sealed[i])
		}
	}
	if n := fake.Calls(kmsfake.OpGenerateDataKey); n != 1 {
		t.Errorf("GenerateDataKey called %d times for 50 concurrent seals, want 1", n)
	}
	if n := fake.Calls(kmsfake.OpDecrypt); n != 0 {
		t.Errorf("Decrypt called %d times; the sealing process has its data key already", n)
	}
}

// dataKeyOf returns the data key id a value was sealed with.
func dataKeyOf(t *testing.T, sealed string) string {
	t.Helper()
	parts := strings.Split(sealed, ".")
	if len(parts) != 4 {
		t.Fatalf("sealed form has %d parts", len(parts))
	}
	return parts[1]
}

func TestKMS_OtherProcessesDecryptEachDataKeyOnce(t *testing.T) {
	fake, keyARN := newKMS(t)
	// Two "processes" seal: two data keys.
	a := sealing.NewKMS(fake.Client(), keyARN)
	b := sealing.NewKMS(fake.Client(), keyARN)
	var sealed []string
	for i := 0; i < 10; i++ {
		for _, s := range []sealing.Sealer{a, b} {
			v, err := s.Seal(ctx, []byte("tok"), []byte("aad"))
			if err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, v)
		}
	}
	if dataKeyOf(t, sealed[0]) == dataKeyOf(t, sealed[1]) {
		t.Fatal("two processes share a data key")
	}
	// A third process opens all 20 values concurrently: one Decrypt per data key.
	reader := sealing.NewKMS(fake.Client(), keyARN)
	var wg sync.WaitGroup
	for _, v := range sealed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := reader.Open(ctx, v, []byte("aad")); err != nil || string(got) != "tok" {
				t.Errorf("Open = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	if n := fake.Calls(kmsfake.OpDecrypt); n != 2 {
		t.Errorf("Decrypt called %d times for 2 data keys, want 2", n)
	}
}

func TestKMS_ValuesSealedUnderAnOldKMSKeyStillOpen(t *testing.T) {
	fake, oldKey := newKMS(t)
	fake.CreateAlias("alias/lcauth", oldKey)
	old, err := sealing.NewKMS(fake.Client(), "alias/lcauth").Seal(ctx, []byte("old"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	newKey := fake.CreateKey()
	fake.CreateAlias("alias/lcauth", newKey)
	s := sealing.NewKMS(fake.Client(), "alias/lcauth")
	fresh, err := s.Seal(ctx, []byte("new"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := base64.RawURLEncoding.DecodeString(strings.Split(fresh, ".")[2])
	if got := kmsfake.KeyIDOf(blob); !strings.HasSuffix(newKey, got) {
		t.Errorf("new value wrapped by %s, want the new key %s", got, newKey)
	}
	for v, want := range map[string]string{old: "old", fresh: "new"} {
		if got, err := s.Open(ctx, v, []byte("aad")); err != nil || string(got) != want {
			t.Errorf("Open = %q, %v; want %q", got, err, want)
		}
	}
}

func TestKMS_RejectsTamperingAndForeignAAD(t *testing.T) {
	fake, keyARN := newKMS(t)
	sealer := sealing.NewKMS(fake.Client(), keyARN)
	sealed, err := sealer.Seal(ctx, []byte("tok"), []byte("inst-1/access_token"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(sealed, ".")
	blob, _ := base64.RawURLEncoding.DecodeString(parts[2])
	blob[len(blob)-1] ^= 1
	badBlob := base64.RawURLEncoding.EncodeToString(blob)
	other, _ := sealing.NewKMS(fake.Client(), keyARN).Seal(ctx, []byte("x"), nil)
	otherParts := strings.Split(other, ".")
	box := []byte(parts[3])
	box[5] ^= 1
	tests := []struct {
		name, sealed string
		aad          string
	}{
		{"other installation's aad", sealed, "inst-2/access_token"},
		{"other field's aad", sealed, "inst-1/refresh_token"},
		{"flipped ciphertext", strings.Join([]string{parts[0], parts[1], parts[2], string(box)}, "."), "inst-1/access_token"},
		// A fresh reader has no cached key: KMS itself must refuse the altered blob.
		{"altered data key blob", strings.Join([]string{parts[0], dataKeyIDOf(badBlob), badBlob, parts[3]}, "."), "inst-1/access_token"},
		{"data key id of another blob", strings.Join([]string{parts[0], otherParts[1], parts[2], parts[3]}, "."), "inst-1/access_token"},
		{"blob of another data key", strings.Join([]string{parts[0], parts[1], otherParts[2], parts[3]}, "."), "inst-1/access_token"},
		{"static format", "s1.k.AAAA", "inst-1/access_token"},
		{"empty", "", ""},
		{"too few parts", "k1.a.b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := sealing.NewKMS(fake.Client(), keyARN)
			got, err := reader.Open(ctx, tt.sealed, []byte(tt.aad))
			if !errors.Is(err, sealing.ErrOpen) || got != nil {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}

// dataKeyIDOf mirrors the sealer's data key id (a hash of the blob) so a test can forge a consistent
// value around an altered blob.
func dataKeyIDOf(blobText string) string {
	blob, _ := base64.RawURLEncoding.DecodeString(blobText)
	return sealing.DataKeyID(blob)
}

func TestKMS_GenerateFailureIsReturnedAndRetried(t *testing.T) {
	fake, keyARN := newKMS(t)
	fake.SetEnabled(keyARN, false)
	s := sealing.NewKMS(fake.Client(), keyARN)
	_, err := s.Seal(ctx, []byte("tok"), nil)
	var disabled *types.DisabledException
	if !errors.As(err, &disabled) {
		t.Fatalf("Seal with a disabled key: err = %v, want DisabledException", err)
	}
	fake.SetEnabled(keyARN, true)
	if _, err := s.Seal(ctx, []byte("tok"), nil); err != nil {
		t.Fatalf("Seal after the key is enabled again: %v", err)
	}
	if n := fake.Calls(kmsfake.OpGenerateDataKey); n != 2 {
		t.Errorf("GenerateDataKey called %d times, want 2 (the failure is not cached)", n)
	}
}

func TestKMS_DecryptOutageIsNotReportedAsTampering(t *testing.T) {
	fake, keyARN := newKMS(t)
	sealed, err := sealing.NewKMS(fake.Client(), keyARN).Seal(ctx, []byte("tok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reader := sealing.NewKMS(fake.Client(), keyARN)
	fake.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 400, Type: "AccessDeniedException"})
	_, err = reader.Open(ctx, sealed, nil)
	if err == nil || errors.Is(err, sealing.ErrOpen) {
		t.Fatalf("Open while KMS denies access: err = %v, want a KMS error that is not ErrOpen", err)
	}
	// A transient 500 is retried by the SDK's retryer.
	fake.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 500, Type: "KMSInternalException", Times: 1})
	got, err := reader.Open(ctx, sealed, nil)
	if err != nil || string(got) != "tok" {
		t.Fatalf("Open after one 500: %q, %v", got, err)
	}
	// Cached now: KMS can go away.
	fake.InjectFault(kmsfake.OpDecrypt, kmsfake.Fault{Status: 500, Type: "KMSInternalException"})
	if _, err := reader.Open(ctx, sealed, nil); err != nil {
		t.Fatalf("Open of a cached data key needed KMS: %v", err)
	}
}

func TestKMS_CanceledContextStopsWaiting(t *testing.T) {
	fake, keyARN := newKMS(t)
	s := sealing.NewKMS(fake.Client(), keyARN)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Seal(cctx, []byte("tok"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestKMS_OpensNothingSealedByAStaticKey(t *testing.T) {
	fake, keyARN := newKMS(t)
	static := mustStatic(t, "local", key(7))
	v, _ := static.Seal(ctx, []byte("tok"), nil)
	if _, err := sealing.NewKMS(fake.Client(), keyARN).Open(ctx, v, nil); !errors.Is(err, sealing.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
}
