package sealing

import (
	"context"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"strings"
)

// staticPrefix starts every value sealed by a static key: "s1.<key id>.<base64url(nonce||ciphertext)>".
const staticPrefix = "s1"

// Static seals with one fixed AES-256 key. It is what local mode uses; in AWS, use NewKMS.
type Static struct {
	keyID string
	aead  cipher.AEAD
}

var _ Sealer = (*Static)(nil)

// NewStatic returns a Sealer with one AES-256 key. keyID names the key inside every sealed value (so a
// later key can be told apart); it must be 1-64 characters of [A-Za-z0-9_-]. key must be 32 bytes.
func NewStatic(keyID string, key []byte) (Sealer, error) {
	if !validKeyID(keyID) {
		return nil, fmt.Errorf("sealing: key id must be 1-64 characters of [A-Za-z0-9_-]")
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &Static{keyID: keyID, aead: aead}, nil
}

// Seal implements Sealer.
func (s *Static) Seal(_ context.Context, plaintext, aad []byte) (string, error) {
	header := staticPrefix + "." + s.keyID
	box, err := seal(s.aead, header, plaintext, aad)
	if err != nil {
		return "", err
	}
	return header + "." + base64.RawURLEncoding.EncodeToString(box), nil
}

// Open implements Sealer. A value sealed under another key id fails with ErrUnknownKey.
func (s *Static) Open(_ context.Context, sealed string, aad []byte) ([]byte, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != staticPrefix {
		return nil, ErrOpen
	}
	if parts[1] != s.keyID {
		return nil, fmt.Errorf("%w (key id %q, have %q)", ErrUnknownKey, parts[1], s.keyID)
	}
	box, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrOpen
	}
	return open(s.aead, staticPrefix+"."+s.keyID, box, aad)
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
