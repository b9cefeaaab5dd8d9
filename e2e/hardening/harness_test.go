package hardening_test

import (
	"testing"

	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

const (
	clientSecret = harness.ClientSecret
	secretARN    = harness.SecretARN
)

// stack is one lcauth process built by app.New in front of the simulator, dynalite (through
// harness.DynamoFaults) and optionally the Secrets Manager and KMS fakes (see internal/testrig/harness).
// The suites add their own steps as methods.
type stack struct{ *harness.Stack }

func newStack(t *testing.T, o harness.Options) *stack {
	t.Helper()
	return &stack{harness.New(t, o)}
}
