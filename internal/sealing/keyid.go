package sealing

import (
	"crypto/sha256"
	"encoding/hex"
)

// StaticKeyID names a local sealing key inside sealed values: a hash of the key, so processes that
// share a key (LCAUTH_SEALING_KEY, or the one lcauth dev keeps under .lcauth/) agree on its id without
// configuring one, a new key gets a new id, and the id reveals nothing usable about the key.
func StaticKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("lcauth sealing key id\x00"), key...))
	return "local-" + hex.EncodeToString(sum[:6])
}
