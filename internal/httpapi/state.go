package httpapi

import (
	"container/heap"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// StateKeyInfo is the HKDF info string that derives the state keys from the state key (a random secret
// of its own, LCAUTH_STATE_KEY(_ARN); or, where none is configured, the client secret). Rotating it
// invalidates the installs in flight (at most StateTTL old), which then simply start again.
const StateKeyInfo = "lcauth/state/v2"

// StateCookieName is the cookie that binds a state to the browser that started /install, on plain
// http (local runs). On https it is SecureStateCookieName.
const StateCookieName = "lcauth_state"

// SecureStateCookieName is the state cookie's name on https: the __Host- prefix makes the browser
// refuse it unless it is Secure, has Path=/ and no Domain, so no sibling host or path can plant one.
const SecureStateCookieName = "__Host-lcauth_state"

const (
	stateVersion  = 1
	nonceSize     = 16
	statePayload  = 1 + 8 + nonceSize // version, issued-at (unix seconds), nonce
	stateMACSize  = sha256.Size
	maxStateLen   = 256 // base64 of payload+MAC is 76 characters; anything longer is not ours
	maxCookieLen  = 1024
	cookieAADText = "lcauth_state cookie v1"
	clockSkew     = 30 * time.Second
)

// Errors of state verification. They all become 400 invalid_state; the distinct messages tell a person
// what to do and help an operator read the logs.
var (
	errStateMissing   = errors.New("the state parameter is missing")
	errStateMalformed = errors.New("the state parameter is not one this server issued")
	errStateSignature = errors.New("the state parameter's signature does not verify")
	errStateExpired   = errors.New("the installation took too long and its state expired")
	errCookieMissing  = errors.New("the state cookie is missing (cookies blocked, another browser, or the flow was already completed)")
	errCookieInvalid  = errors.New("the state cookie does not verify")
	errCookieMismatch = errors.New("the state cookie belongs to another installation attempt")
	errStateReplayed  = errors.New("this state was already used")
)

// stateKeys are derived from the state key with HKDF-SHA256: one key signs the state parameter
// (which travels through LiveChat), the other encrypts the cookie (which may hold the PKCE verifier and
// so must not be readable by anyone, not even the browser).
type stateKeys struct {
	mac []byte
	aes cipher.AEAD
}

func deriveStateKeys(secret []byte) (*stateKeys, error) {
	if len(secret) == 0 {
		return nil, errors.New("httpapi: empty state key")
	}
	k, err := hkdf.Key(sha256.New, secret, nil, StateKeyInfo, 64)
	if err != nil {
		return nil, fmt.Errorf("httpapi: derive state keys: %w", err)
	}
	block, err := aes.NewCipher(k[32:])
	if err != nil {
		return nil, fmt.Errorf("httpapi: state cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("httpapi: state cipher: %w", err)
	}
	return &stateKeys{mac: k[:32], aes: aead}, nil
}

// issuedState is what /install hands out: the state parameter for LiveChat and the cookie value.
type issuedState struct {
	State  string
	Cookie string
}

// issue creates a new state bound to a fresh nonce and seals the nonce (and the PKCE verifier, if any)
// into the cookie.
func (k *stateKeys) issue(now time.Time, verifier string) (issuedState, error) {
	payload := make([]byte, statePayload, statePayload+stateMACSize)
	payload[0] = stateVersion
	binary.BigEndian.PutUint64(payload[1:9], uint64(now.Unix()))
	nonce := payload[9:]
	if _, err := rand.Read(nonce); err != nil {
		return issuedState{}, fmt.Errorf("httpapi: state nonce: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(append(payload, k.sign(payload)...))

	plain := append(append([]byte{}, nonce...), verifier...)
	gcmNonce := make([]byte, k.aes.NonceSize())
	if _, err := rand.Read(gcmNonce); err != nil {
		return issuedState{}, fmt.Errorf("httpapi: cookie nonce: %w", err)
	}
	sealed := k.aes.Seal(gcmNonce, gcmNonce, plain, []byte(cookieAADText))
	return issuedState{State: state, Cookie: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

func (k *stateKeys) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte("lcauth state v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// verifiedState is what a callback learns from a good state and cookie.
type verifiedState struct {
	nonce    [nonceSize]byte
	issuedAt time.Time
	verifier string
}

// verify checks the state parameter's signature and age, then the cookie's authenticity and that it
// carries the same nonce (constant time throughout).
func (k *stateKeys) verify(now time.Time, ttl time.Duration, state, cookie string) (verifiedState, error) {
	var v verifiedState
	if state == "" {
		return v, errStateMissing
	}
	if len(state) > maxStateLen {
		return v, errStateMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(raw) != statePayload+stateMACSize || raw[0] != stateVersion {
		return v, errStateMalformed
	}
	payload, mac := raw[:statePayload], raw[statePayload:]
	if !hmac.Equal(mac, k.sign(payload)) {
		return v, errStateSignature
	}
	v.issuedAt = time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)
	if age := now.Sub(v.issuedAt); age > ttl || age < -clockSkew {
		return v, errStateExpired
	}
	copy(v.nonce[:], payload[9:])

	if cookie == "" {
		return v, errCookieMissing
	}
	if len(cookie) > maxCookieLen {
		return v, errCookieInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(cookie)
	ns := k.aes.NonceSize()
	if err != nil || len(sealed) < ns+k.aes.Overhead()+nonceSize {
		return v, errCookieInvalid
	}
	plain, err := k.aes.Open(nil, sealed[:ns], sealed[ns:], []byte(cookieAADText))
	if err != nil || len(plain) < nonceSize {
		return v, errCookieInvalid
	}
	if subtle.ConstantTimeCompare(plain[:nonceSize], v.nonce[:]) != 1 {
		return v, errCookieMismatch
	}
	v.verifier = string(plain[nonceSize:])
	return v, nil
}

// usedStates remembers the nonces of states (and new-key grants) already accepted, until they expire,
// so that a callback replayed to the same process (same state and cookie) is refused before its code
// is sent anywhere. The browser's cookie is also cleared on every callback, which covers other
// processes. Memory is bounded: when full, expired entries go first (a min-heap by expiry), then the
// entry closest to its expiry; it is never cleared as a whole.
type usedStates struct {
	mu   sync.Mutex
	seen map[[nonceSize]byte]time.Time // nonce -> when it stops mattering
	heap usedHeap                      // the same entries, soonest expiry first
	max  int
}

type usedEntry struct {
	nonce [nonceSize]byte
	until time.Time
}

type usedHeap []usedEntry

func (h usedHeap) Len() int           { return len(h) }
func (h usedHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h usedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *usedHeap) Push(x any)        { *h = append(*h, x.(usedEntry)) }
func (h *usedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newUsedStates(max int) *usedStates {
	return &usedStates{seen: map[[nonceSize]byte]time.Time{}, max: max}
}

// use marks nonce as used until until and reports whether it was fresh.
func (u *usedStates) use(now time.Time, nonce [nonceSize]byte, until time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if exp, ok := u.seen[nonce]; ok && now.Before(exp) {
		return false
	}
	// Drop what has expired, then, if still full, what expires soonest (the least useful to keep).
	for len(u.heap) > 0 && (!now.Before(u.heap[0].until) || len(u.seen) >= u.max) {
		e := heap.Pop(&u.heap).(usedEntry)
		if exp, ok := u.seen[e.nonce]; ok && exp.Equal(e.until) {
			delete(u.seen, e.nonce)
		}
	}
	u.seen[nonce] = until
	heap.Push(&u.heap, usedEntry{nonce: nonce, until: until})
	return true
}
