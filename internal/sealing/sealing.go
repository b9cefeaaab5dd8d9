// Package sealing encrypts tokens before they are stored: AES-256-GCM with caller-supplied additional
// data, so a sealed value only opens in the place (installation and field) it was sealed for.
//
// Two Sealers exist: NewStatic for local mode (one key from configuration) and NewKMS for AWS
// (envelope encryption under a KMS key, data keys cached in memory). The sealed string names the key it
// was sealed with, so keys can rotate: old values keep opening while new ones use the new key.
package sealing

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer seals and opens small secrets. aad (additional authenticated data) is not stored in the
// sealed value; Open must be given the same aad that Seal was, or it fails.
type Sealer interface {
	// Seal encrypts plaintext and returns a printable string that records the key used.
	Seal(ctx context.Context, plaintext, aad []byte) (string, error)
	// Open decrypts a value produced by Seal with the same aad.
	Open(ctx context.Context, sealed string, aad []byte) ([]byte, error)
}

var (
	// ErrOpen means a sealed value is malformed, was tampered with, or was sealed with a different aad
	// (another installation or field). The message never contains the value.
	ErrOpen = errors.New("sealing: cannot open sealed value")
	// ErrUnknownKey means a sealed value names a key this Sealer does not have.
	ErrUnknownKey = errors.New("sealing: sealed with an unknown key")
)

// KeySize is the size in bytes of every AES key used here (AES-256).
const KeySize = 32

// newGCM returns AES-256-GCM for key.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealing: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal returns nonce||ciphertext. The header (format and key id) is authenticated along with aad, so
// a value cannot be relabelled with another key id.
func seal(aead cipher.AEAD, header string, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, fullAAD(header, aad)), nil
}

func open(aead cipher.AEAD, header string, box, aad []byte) ([]byte, error) {
	if len(box) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := box[:aead.NonceSize()], box[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, fullAAD(header, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// fullAAD binds the header and the caller's aad unambiguously (length-prefixed header).
func fullAAD(header string, aad []byte) []byte {
	out := make([]byte, 0, 4+len(header)+len(aad))
	n := len(header)
	out = append(out, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	out = append(out, header...)
	return append(out, aad...)
}
