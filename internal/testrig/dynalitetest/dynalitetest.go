// Package dynalitetest gives tests a dynalite server and fresh lcauth tables in it. One server is
// started per test binary (package run) and shared; each test gets its own table, so tests stay
// independent and may run in parallel.
//
// A missing dynalite is a test failure that says to run `make setup`, never a skip.
package dynalitetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/dynalite"
	"lcauth/internal/store"
)

var shared struct {
	once sync.Once
	srv  *dynalite.Server
	err  error
}

// Server returns the package run's shared dynalite server, starting it on first use. It fails the test
// (with a hint to run `make setup`) if dynalite cannot start. Call Main from TestMain to stop the server
// when the tests end; without it, the server dies with the test binary (Linux parent-death signal).
func Server(tb testing.TB) *dynalite.Server {
	tb.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		shared.srv, shared.err = dynalite.Start(ctx, dynalite.Options{})
	})
	if shared.err != nil {
		tb.Fatalf("dynalite is required for this test and could not start (run `make setup` to install it): %v", shared.err)
	}
	return shared.srv
}

// Main runs the package's tests and then stops the shared server. Use it as
//
//	func TestMain(m *testing.M) { dynalitetest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the shared server if it was started; for a TestMain that does more than Main.
func Stop() {
	if shared.srv != nil {
		_ = shared.srv.Close()
	}
}

// Table creates a fresh, uniquely named lcauth table (from store.Schema) in the shared server and
// returns a client and the table's name. The table is deleted when the test ends.
func Table(tb testing.TB) (*dynamodb.Client, string) {
	tb.Helper()
	srv := Server(tb)
	db := srv.Client(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "lcauth-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := dynalite.CreateTable(ctx, db, name); err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return db, name
}

// RawItem reads installation id's item from table as stored (a consistent read, bypassing the store),
// for tests that look at what is really written. It fails the test if the read fails or finds nothing.
func RawItem(tb testing.TB, db *dynamodb.Client, table, id string) map[string]types.AttributeValue {
	tb.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{store.AttrPK: &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil || out.Item == nil {
		tb.Fatalf("read item %s: %v (found %v)", id, err, out != nil && out.Item != nil)
	}
	return out.Item
}
