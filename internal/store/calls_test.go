package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
)

func TestOperations_CostOneRequestEach(t *testing.T) {
	f := newFixture(t)
	// db counts the store's requests per operation on their way to dynalite.
	db := harness.NewDynamoFaults()
	st := store.New(db.Client(dynalitetest.Server(t).Endpoint()), f.table, testSealer(t), store.WithClock(f.clock.Now))
	var (
		inst  *store.Installation
		key   string
		lease *store.Lease
	)
	steps := []struct {
		name string
		do   func() error
		want map[string]int
	}{
		{"Install", func() (err error) {
			inst, key, err = st.Install(ctx, f.grant("org-1", "acct-1", time.Minute, "x"))
			return err
		}, map[string]int{"UpdateItem": 1}},
		// The first use records last_used_at; later uses within LastUsedResolution only read.
		{"Authenticate (first use)", func() error { _, err := st.Authenticate(ctx, key); return err }, map[string]int{"GetItem": 1, "UpdateItem": 1}},
		{"Authenticate", func() error { _, err := st.Authenticate(ctx, key); return err }, map[string]int{"GetItem": 1}},
		{"Reinstall (fresh-start condition fails, then the reinstall write)", func() (err error) {
			_, _, err = st.Install(ctx, f.grant("org-1", "acct-1", time.Minute, "x2"))
			inst, _ = st.Get(ctx, inst.ID)
			return err
		}, map[string]int{"UpdateItem": 2, "GetItem": 2}},
		{"Authenticate with a malformed key", func() error { return want(st.Authenticate(ctx, "lca_nope"))(store.ErrUnauthorized) }, map[string]int{}},
		{"Get", func() error { _, err := st.Get(ctx, inst.ID); return err }, map[string]int{"GetItem": 1}},
		{"CreateInstallationKey", func() (err error) { _, key, err = st.CreateInstallationKey(ctx, inst.ID, "n"); return err }, map[string]int{"UpdateItem": 1}},
		{"ListInstallations", func() error { _, err := st.ListInstallations(ctx, store.ListOptions{Limit: 10}); return err }, map[string]int{"Scan": 1}},
		{"ListDue", func() error {
			_, err := st.ListDue(ctx, f.clock.Now().Add(time.Hour), store.DueShard(inst.ID), "", 10)
			return err
		}, map[string]int{"Query": 1}},
		{"AcquireLease", func() (err error) {
			_, lease, err = st.AcquireLease(ctx, inst.ID, inst.Version, "w", time.Minute)
			return err
		}, map[string]int{"UpdateItem": 1}},
		// A refused write explains itself with one read where the server does not return the old item
		// (dynalite); DynamoDB returns it with the failure (ReturnValuesOnConditionCheckFailure).
		{"AcquireLease refused", func() error {
			_, _, err := st.AcquireLease(ctx, inst.ID, inst.Version, "w2", time.Minute)
			return want(nil, err)(store.ErrLeaseHeld)
		},
			map[string]int{"UpdateItem": 1, "GetItem": 1}},
		{"CompleteRefresh", func() error {
			_, err := st.CompleteRefresh(ctx, lease, f.grant("org-1", "acct-1", time.Hour, "y"))
			return err
		}, map[string]int{"UpdateItem": 1}},
		{"Delete", func() error { return st.Delete(ctx, inst.ID) }, map[string]int{"DeleteItem": 1}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := db.Counts()
		db.Reset()
		if len(got) != len(s.want) {
			t.Errorf("%s made %v, want %v", s.name, got, s.want)
			continue
		}
		for op, n := range s.want {
			if got[op] != n {
				t.Errorf("%s made %v, want %v", s.name, got, s.want)
			}
		}
	}
}

// want checks that err is target; it returns the mismatch as an error.
func want(_ any, err error) func(target error) error {
	return func(target error) error {
		if !errors.Is(err, target) {
			return fmt.Errorf("err = %v, want %v", err, target)
		}
		return nil
	}
}
