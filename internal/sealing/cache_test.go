package sealing

import (
	"fmt"
	"testing"
)

// TestKMS_FullCacheKeepsTheCurrentDataKey: a process that has opened values under very many other
// processes' data keys evicts one of those to make room, never the key it seals with, and the cache
// stays bounded.
func TestKMS_FullCacheKeepsTheCurrentDataKey(t *testing.T) {
	aead, err := newGCM(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKMS(nil, "alias/test").(*KMS)
	k.current = &dataKey{id: "current", aead: aead}
	k.cache["current"] = aead
	for i := len(k.cache); i < maxCachedKeys; i++ {
		k.cache[fmt.Sprintf("other-%d", i)] = aead
	}
	for i := range 3 {
		k.remember(fmt.Sprintf("new-%d", i), aead)
		if len(k.cache) != maxCachedKeys {
			t.Fatalf("cache holds %d keys, want at most %d", len(k.cache), maxCachedKeys)
		}
		if _, ok := k.cache["current"]; !ok {
			t.Fatal("the current data key was evicted")
		}
		if _, ok := k.cache[fmt.Sprintf("new-%d", i)]; !ok {
			t.Fatal("the remembered key is not in the cache")
		}
	}
}
