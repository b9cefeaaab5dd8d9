package sealing

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/sync/singleflight"
)

// KMSAPI is the part of the KMS client NewKMS uses; *kms.Client satisfies it.
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMSAPI = (*kms.Client)(nil)

// kmsPrefix starts every value sealed under KMS:
//
//	k1.<data key id>.<base64url(encrypted data key)>.<base64url(nonce||ciphertext)>
//
// The data key id is a hash of the encrypted data key, the cache key for Decrypt. The encrypted data
// key itself names the KMS key that wraps it, so values sealed under an old KMS key keep opening after
// the configured key changes.
const kmsPrefix = "k1"

// encryptionContext is bound to every data key KMS wraps for lcauth: a blob taken from elsewhere
// (another application using the same KMS key) does not decrypt here, and CloudTrail shows the purpose.
var encryptionContext = map[string]string{"lcauth": "token-sealing/v1"}

// Bounds of the data-key cache and of one data key's use. AES-GCM with random 96-bit nonces stays
// within NIST's collision bound for 2^32 messages per key; a process rolls its key long before.
const (
	maxCachedKeys  = 1024
	maxSealsPerKey = 1 << 30
)

// KMS is envelope encryption under an AWS KMS key: each process asks KMS for one data key
// (GenerateDataKey) on its first Seal and seals locally with it; opening a value sealed elsewhere costs
// one Decrypt per distinct data key, then the plaintext data key is cached in memory.
type KMS struct {
	client KMSAPI
	keyID  string

	mu      sync.Mutex
	current *dataKey
	cache   map[string]cipher.AEAD // data key id -> key
	group   singleflight.Group
}

type dataKey struct {
	id    string
	blob  string // base64url of the encrypted data key, as stored
	aead  cipher.AEAD
	seals uint64
}

var _ Sealer = (*KMS)(nil)

// NewKMS returns a Sealer that seals under the KMS key keyID (key id, key ARN, alias name or alias
// ARN); the role needs kms:GenerateDataKey and kms:Decrypt on it. Nothing is called until the first
// Seal or Open.
func NewKMS(client KMSAPI, keyID string) Sealer {
	return &KMS{client: client, keyID: keyID, cache: map[string]cipher.AEAD{}}
}

// dataKeyID names an encrypted data key: a hash, so the id cannot point at another key's blob.
func dataKeyID(blob []byte) string {
	sum := sha256.Sum256(blob)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Seal implements Sealer.
func (k *KMS) Seal(ctx context.Context, plaintext, aad []byte) (string, error) {
	dk, err := k.sealingKey(ctx)
	if err != nil {
		return "", err
	}
	header := kmsPrefix + "." + dk.id
	box, err := seal(dk.aead, header, plaintext, aad)
	if err != nil {
		return "", err
	}
	return header + "." + dk.blob + "." + base64.RawURLEncoding.EncodeToString(box), nil
}

// sealingKey returns the process's data key, asking KMS for one the first time (and after
// maxSealsPerKey seals). Concurrent first callers share one GenerateDataKey; a failure is not cached.
func (k *KMS) sealingKey(ctx context.Context) (*dataKey, error) {
	k.mu.Lock()
	if dk := k.current; dk != nil && dk.seals < maxSealsPerKey {
		dk.seals++
		k.mu.Unlock()
		return dk, nil
	}
	k.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealing: kms generate data key: %w", err)
	}
	ch := k.group.DoChan("generate", func() (any, error) {
		// Detached from the first caller's cancellation: the others share this call.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kmsCallTimeout)
		defer cancel()
		out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             aws.String(k.keyID),
			KeySpec:           types.DataKeySpecAes256,
			EncryptionContext: encryptionContext,
		})
		if err != nil {
			return nil, fmt.Errorf("sealing: kms generate data key: %w", err)
		}
		defer clear(out.Plaintext)
		aead, err := newGCM(out.Plaintext)
		if err != nil {
			return nil, err
		}
		dk := &dataKey{id: dataKeyID(out.CiphertextBlob), blob: base64.RawURLEncoding.EncodeToString(out.CiphertextBlob), aead: aead}
		k.mu.Lock()
		k.current = dk
		k.remember(dk.id, aead)
		k.mu.Unlock()
		return dk, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("sealing: kms generate data key: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		dk := r.Val.(*dataKey)
		k.mu.Lock()
		dk.seals++
		k.mu.Unlock()
		return dk, nil
	}
}

// kmsCallTimeout bounds one shared KMS call (the SDK retries inside it).
const kmsCallTimeout = 10 * time.Second

// remember caches a data key; k.mu must be held. When full, an arbitrary entry makes room: only a
// process reading values from very many other processes' data keys ever gets there.
func (k *KMS) remember(id string, aead cipher.AEAD) {
	if len(k.cache) >= maxCachedKeys {
		for old := range k.cache {
			if k.current == nil || old != k.current.id {
				delete(k.cache, old)
				break
			}
		}
	}
	k.cache[id] = aead
}

// Open implements Sealer. A tampered value, a value sealed for another aad, or a data key KMS
// refuses as invalid gives ErrOpen; KMS being unreachable, throttling or denying access gives a
// wrapped KMS error (not ErrOpen), so callers can tell an outage from corruption.
func (k *KMS) Open(ctx context.Context, sealed string, aad []byte) ([]byte, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 4 || parts[0] != kmsPrefix {
		return nil, ErrOpen
	}
	id, blobText := parts[1], parts[2]
	box, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return nil, ErrOpen
	}
	aead, err := k.openingKey(ctx, id, blobText)
	if err != nil {
		return nil, err
	}
	return open(aead, kmsPrefix+"."+id, box, aad)
}

// openingKey returns the data key id, from the cache or through one (shared) KMS Decrypt.
func (k *KMS) openingKey(ctx context.Context, id, blobText string) (cipher.AEAD, error) {
	k.mu.Lock()
	aead, ok := k.cache[id]
	k.mu.Unlock()
	if ok {
		return aead, nil
	}
	blob, err := base64.RawURLEncoding.DecodeString(blobText)
	if err != nil || len(blob) == 0 || dataKeyID(blob) != id {
		return nil, ErrOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealing: kms decrypt data key %s: %w", id, err)
	}
	ch := k.group.DoChan("decrypt:"+id, func() (any, error) {
		// A caller that missed the cache just before an earlier flight for this key finished starts a
		// new flight: look again, so each data key costs one Decrypt however the callers interleave.
		k.mu.Lock()
		cached, ok := k.cache[id]
		k.mu.Unlock()
		if ok {
			return cached, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kmsCallTimeout)
		defer cancel()
		// No KeyId: the blob names its KMS key, so values sealed before a key change still open. The
		// role's policy decides which keys may decrypt.
		out, err := k.client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encryptionContext})
		if err != nil {
			var invalid *types.InvalidCiphertextException
			if errors.As(err, &invalid) {
				return nil, fmt.Errorf("%w: kms refused the data key", ErrOpen)
			}
			return nil, fmt.Errorf("sealing: kms decrypt data key %s: %w", id, err)
		}
		defer clear(out.Plaintext)
		aead, err := newGCM(out.Plaintext)
		if err != nil {
			return nil, fmt.Errorf("%w: data key %s: %v", ErrOpen, id, err)
		}
		k.mu.Lock()
		k.remember(id, aead)
		k.mu.Unlock()
		return aead, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("sealing: kms decrypt data key %s: %w", id, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(cipher.AEAD), nil
	}
}
