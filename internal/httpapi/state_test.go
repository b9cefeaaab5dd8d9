package httpapi

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestState_RoundTripCarriesVerifierOnlyInCookie(t *testing.T) {
	k, err := deriveStateKeys([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	verifier := strings.Repeat("v", 64)
	st, err := k.issue(now, verifier)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"state": st.State, "cookie": st.Cookie} {
		raw, _ := base64.RawURLEncoding.DecodeString(v)
		if strings.Contains(v, verifier) || strings.Contains(string(raw), verifier) {
			t.Fatalf("the verifier is readable from the %s", name)
		}
	}
	got, err := k.verify(now.Add(time.Minute), 10*time.Minute, st.State, st.Cookie)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.verifier != verifier {
		t.Fatalf("verifier = %q, want %q", got.verifier, verifier)
	}
}

func TestState_RejectsEveryTamperedByte(t *testing.T) {
	k, _ := deriveStateKeys([]byte("secret"))
	now := time.Unix(1_800_000_000, 0)
	st, _ := k.issue(now, "")
	raw, _ := base64.RawURLEncoding.DecodeString(st.State)
	for i := range raw {
		bad := append([]byte{}, raw...)
		bad[i] ^= 0x01
		if _, err := k.verify(now, time.Hour, base64.RawURLEncoding.EncodeToString(bad), st.Cookie); err == nil {
			t.Fatalf("state with byte %d flipped verified", i)
		}
	}
	craw, _ := base64.RawURLEncoding.DecodeString(st.Cookie)
	for i := range craw {
		bad := append([]byte{}, craw...)
		bad[i] ^= 0x01
		if _, err := k.verify(now, time.Hour, st.State, base64.RawURLEncoding.EncodeToString(bad)); err == nil {
			t.Fatalf("cookie with byte %d flipped verified", i)
		}
	}
}

func TestState_Errors(t *testing.T) {
	k, _ := deriveStateKeys([]byte("secret"))
	other, _ := deriveStateKeys([]byte("another secret"))
	now := time.Unix(1_800_000_000, 0)
	st, _ := k.issue(now, "")
	st2, _ := k.issue(now, "")
	foreign, _ := other.issue(now, "")
	tests := []struct {
		name          string
		at            time.Time
		state, cookie string
		want          error
	}{
		{"missing state", now, "", st.Cookie, errStateMissing},
		{"garbage", now, "%%%", st.Cookie, errStateMalformed},
		{"too long", now, strings.Repeat("A", 400), st.Cookie, errStateMalformed},
		{"signed with another secret", now, foreign.State, st.Cookie, errStateSignature},
		{"expired", now.Add(10*time.Minute + time.Second), st.State, st.Cookie, errStateExpired},
		{"from the future", now.Add(-time.Minute), st.State, st.Cookie, errStateExpired},
		{"no cookie", now, st.State, "", errCookieMissing},
		{"cookie of another secret", now, st.State, foreign.Cookie, errCookieInvalid},
		{"cookie of another attempt", now, st.State, st2.Cookie, errCookieMismatch},
		{"valid at the edge", now.Add(10 * time.Minute), st.State, st.Cookie, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.verify(tt.at, 10*time.Minute, tt.state, tt.cookie)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUsedStates_RefusesSecondUseAndForgetsExpired(t *testing.T) {
	u := newUsedStates(2)
	now := time.Unix(1000, 0)
	n1, n2, n3 := [nonceSize]byte{1}, [nonceSize]byte{2}, [nonceSize]byte{3}
	if !u.use(now, n1, now.Add(time.Minute)) || u.use(now, n1, now.Add(time.Minute)) {
		t.Fatal("first use must pass and the second fail")
	}
	later := now.Add(2 * time.Minute)
	if !u.use(later, n1, later.Add(time.Minute)) {
		t.Fatal("an expired entry still blocks")
	}
	if u.use(later, n1, later.Add(time.Minute)) {
		t.Fatal("a nonce used again after expiry is not remembered")
	}
	u.use(later, n2, later.Add(time.Minute))
	u.use(later, n3, later.Add(2*time.Minute))
	if n := u.size(); n > 2 {
		t.Fatalf("memory grew to %d entries, bound 2", n)
	}
}

// When full of live entries, the one closest to its expiry goes; the others stay remembered (the
// memory is never cleared as a whole, which would let every recent state be replayed).
func TestUsedStates_EvictsSoonestExpiryNeverEverything(t *testing.T) {
	u := newUsedStates(3)
	now := time.Unix(1000, 0)
	for i := byte(1); i <= 3; i++ {
		u.use(now, [nonceSize]byte{i}, now.Add(time.Duration(i)*time.Minute))
	}
	if !u.use(now, [nonceSize]byte{9}, now.Add(10*time.Minute)) {
		t.Fatal("a fresh nonce was refused")
	}
	if u.size() != 3 {
		t.Fatalf("size %d, want 3", u.size())
	}
	for i := byte(2); i <= 3; i++ {
		if u.use(now, [nonceSize]byte{i}, now.Add(time.Hour)) {
			t.Fatalf("nonce %d was forgotten; only the soonest-expiring one (1) may be", i)
		}
	}
	if u.use(now, [nonceSize]byte{9}, now.Add(time.Hour)) {
		t.Fatal("the newest nonce was forgotten")
	}
}

func TestWantsJSON(t *testing.T) {
	tests := map[string]bool{
		"":                                    false,
		"application/json":                    true,
		"application/json; charset=utf-8":     true,
		"text/html,application/xhtml+xml,*/*": false,
		"text/html, application/json;q=0.5":   true,
		"application/json;q=0":                false,
		"*/*":                                 false,
	}
	for accept, want := range tests {
		r := newRequest(accept)
		if got := wantsJSON(r); got != want {
			t.Errorf("Accept %q: wantsJSON = %v, want %v", accept, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("héllo\x00\nworld", 100); got != "hélloworld" {
		t.Fatalf("control characters kept: %q", got)
	}
	if got := clip(strings.Repeat("é", 10), 5); got != "éé…" {
		t.Fatalf("clip split a rune: %q", got)
	}
}

func BenchmarkState_IssueAndVerify(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	for b.Loop() {
		k, _ := deriveStateKeys([]byte("secret"))
		st, _ := k.issue(now, "")
		if _, err := k.verify(now, time.Minute, st.State, st.Cookie); err != nil {
			b.Fatal(err)
		}
	}
}

// size is how many nonces are remembered.
func (u *usedStates) size() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}
