package store_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"lcauth/internal/store"
)

func TestCreateTableInput_IsDeterministicAndDefinesEveryKey(t *testing.T) {
	in := store.Schema().CreateTableInput("t")
	var names []string
	for _, d := range in.AttributeDefinitions {
		names = append(names, aws.ToString(d.AttributeName)+":"+string(d.AttributeType))
	}
	want := []string{store.AttrDueAt + ":N", store.AttrDueShard + ":N", store.AttrOrganizationID + ":S", store.AttrPK + ":S"}
	if len(names) != len(want) {
		t.Fatalf("definitions %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("definition %d = %s, want %s (sorted by name)", i, names[i], want[i])
		}
	}
}
