package sealing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// StaticKeyID derives a key id for NewStatic from the key itself ("k" + 12 hex digits of a hash), so
// processes that share a key agree on its id without configuring one, and a new key gets a new id.
// The id reveals nothing usable about the key.
func StaticKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("lcauth/static-key-id/v1\x00"), key...))
	return "k" + hex.EncodeToString(sum[:6])
}

// rotating seals with one Sealer and opens with any of several.
type rotating struct {
	primary Sealer
	older   []Sealer
}

// Rotating returns a Sealer for key rotation and migration: it seals with primary and opens values
// sealed by primary or by any of older (for example the previous static key, or a static key while
// moving to KMS). Values sealed by an older key are re-sealed under primary the next time the store
// writes them (every refresh and reinstall does).
func Rotating(primary Sealer, older ...Sealer) Sealer {
	if len(older) == 0 {
		return primary
	}
	return &rotating{primary: primary, older: older}
}

// Seal implements Sealer with the primary Sealer.
func (r *rotating) Seal(ctx context.Context, plaintext, aad []byte) (string, error) {
	return r.primary.Seal(ctx, plaintext, aad)
}

// Open implements Sealer: the first Sealer that opens the value wins. A value that names another key
// or format (ErrUnknownKey, ErrOpen) moves on to the next; any other error (KMS unreachable) is
// returned at once, so an outage is not mistaken for a bad value.
func (r *rotating) Open(ctx context.Context, sealed string, aad []byte) ([]byte, error) {
	pt, err := r.primary.Open(ctx, sealed, aad)
	if err == nil || !movesOn(err) {
		return pt, err
	}
	first := err
	for _, s := range r.older {
		pt, err := s.Open(ctx, sealed, aad)
		if err == nil || !movesOn(err) {
			return pt, err
		}
	}
	return nil, first
}

func movesOn(err error) bool { return errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrOpen) }
