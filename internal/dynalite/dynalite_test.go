package dynalite_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/dynalite"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

func TestStart_ServesDynamoDBOnLoopback(t *testing.T) {
	srv := dynalitetest.Server(t)
	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("endpoint %q, want http://127.0.0.1:<port>", srv.Endpoint())
	}
	if _, err := srv.Client(context.Background()).ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
}

func TestCreateTable_BuildsSchemaAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := dynalitetest.Server(t).Client(ctx)
	const table = "lcauth-idempotent"
	for i := 0; i < 2; i++ {
		if err := dynalite.CreateTable(ctx, db, table); err != nil {
			t.Fatalf("CreateTable #%d: %v", i+1, err)
		}
	}
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	tbl := out.Table
	if tbl.TableStatus != types.TableStatusActive {
		t.Errorf("status %s, want ACTIVE", tbl.TableStatus)
	}
	if len(tbl.KeySchema) != 1 || aws.ToString(tbl.KeySchema[0].AttributeName) != store.AttrPK {
		t.Errorf("key schema %+v, want hash key %s", tbl.KeySchema, store.AttrPK)
	}
	if tbl.BillingModeSummary == nil || tbl.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing %+v, want PAY_PER_REQUEST", tbl.BillingModeSummary)
	}
	indexes := map[string]types.GlobalSecondaryIndexDescription{}
	for _, ix := range tbl.GlobalSecondaryIndexes {
		indexes[aws.ToString(ix.IndexName)] = ix
	}
	if len(indexes) != len(store.Schema().Indexes) {
		t.Fatalf("got GSIs %v, want %d", indexes, len(store.Schema().Indexes))
	}
	ix := indexes[store.DueIndexName]
	if ix.IndexStatus != types.IndexStatusActive || len(ix.KeySchema) != 2 {
		t.Fatalf("index %s: status %s keys %d, want ACTIVE with 2 keys", store.DueIndexName, ix.IndexStatus, len(ix.KeySchema))
	}
	if got := aws.ToString(ix.KeySchema[0].AttributeName) + "/" + aws.ToString(ix.KeySchema[1].AttributeName); got != store.AttrDueShard+"/"+store.AttrDueAt {
		t.Errorf("index keys %s, want %s/%s", got, store.AttrDueShard, store.AttrDueAt)
	}
	org := indexes[store.OrganizationIndexName]
	if org.IndexStatus != types.IndexStatusActive || len(org.KeySchema) != 1 || aws.ToString(org.KeySchema[0].AttributeName) != store.AttrOrganizationID ||
		org.Projection == nil || org.Projection.ProjectionType != types.ProjectionTypeKeysOnly {
		t.Errorf("index %s = %+v, want ACTIVE keys-only on %s", store.OrganizationIndexName, org, store.AttrOrganizationID)
	}
}

func TestCreateTable_SaysWhatToDoWithAnOlderTableItCannotUpgrade(t *testing.T) {
	ctx := context.Background()
	db := dynalitetest.Server(t).Client(ctx)
	const table = "lcauth-older"
	old := store.Schema()
	old.Indexes = old.Indexes[:1] // the table as lcauth created it before the organization index
	if _, err := db.CreateTable(ctx, old.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	// dynalite accepts UpdateTable's index creation but ignores it; CreateTable must notice.
	err := dynalite.CreateTable(ctx, db, table)
	if err == nil || !strings.Contains(err.Error(), store.OrganizationIndexName) || !strings.Contains(err.Error(), "new data folder") {
		t.Fatalf("CreateTable on an older table: %v; want an error naming the index and what to do", err)
	}
}

func TestStart_MissingInstallSaysMakeSetup(t *testing.T) {
	_, err := dynalite.Start(context.Background(), dynalite.Options{RepoRoot: t.TempDir()})
	if !errors.Is(err, dynalite.ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "make setup") {
		t.Errorf("error %q does not say to run make setup", err)
	}
}

func TestClose_StopsTheProcessAndFreesThePort(t *testing.T) {
	srv, err := dynalite.Start(context.Background(), dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.Endpoint(), "http://")
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", addr)
	}
}

func TestStart_DirKeepsDataAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	put := func(srv *dynalite.Server) {
		db := srv.Client(ctx)
		if err := dynalite.CreateTable(ctx, db, "persist"); err != nil {
			t.Fatal(err)
		}
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("persist"), Item: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: "kept"},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := dynalite.Start(ctx, dynalite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	put(srv)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err = dynalite.Start(ctx, dynalite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	db := srv.Client(ctx)
	if err := dynalite.CreateTable(ctx, db, "persist"); err != nil {
		t.Fatalf("CreateTable on an existing table: %v", err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("persist"), Key: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: "kept"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		t.Fatal("item written before the restart is gone")
	}
}

func TestStart_CanceledContextFailsWithoutLeavingAServer(t *testing.T) {
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := dynalite.Start(cctx, dynalite.Options{})
	if err == nil {
		srv.Close()
		t.Fatal("Start with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
