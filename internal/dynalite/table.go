package dynalite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/store"
)

// tableWait bounds how long CreateTable waits for the table and its indexes to become ACTIVE.
const tableWait = 60 * time.Second

// CreateTable creates table from store.Schema unless it exists, adds the schema's indexes an existing
// table lacks (a local data folder from an older lcauth; dynalite cannot add an index, so there the
// answer is an error that says what to do), then waits until the table and all its indexes are ACTIVE. It works against any DynamoDB endpoint (dynalite, DynamoDB Local, AWS) and is
// idempotent, so local mode can call it on every start.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	in := store.Schema().CreateTableInput(table)
	_, err := db.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynalite: create table %s: %w", table, err)
	}
	if err != nil {
		if err := addMissingIndexes(ctx, db, in); err != nil {
			return err
		}
	}
	return waitActive(ctx, db, table)
}

// addMissingIndexes creates, one at a time (DynamoDB allows one index creation per UpdateTable), the
// indexes of in that the existing table lacks.
func addMissingIndexes(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	table := aws.ToString(in.TableName)
	for _, want := range in.GlobalSecondaryIndexes {
		if err := waitActive(ctx, db, table); err != nil {
			return err
		}
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err != nil {
			return fmt.Errorf("dynalite: describe table %s: %w", table, err)
		}
		exists := false
		for _, ix := range out.Table.GlobalSecondaryIndexes {
			exists = exists || aws.ToString(ix.IndexName) == aws.ToString(want.IndexName)
		}
		if exists {
			continue
		}
		create := &types.CreateGlobalSecondaryIndexAction{IndexName: want.IndexName, KeySchema: want.KeySchema, Projection: want.Projection}
		update := &dynamodb.UpdateTableInput{
			TableName:                   in.TableName,
			AttributeDefinitions:        in.AttributeDefinitions,
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: create}},
		}
		_, err = db.UpdateTable(ctx, update)
		if err != nil && strings.Contains(err.Error(), "provisionedThroughput") {
			// dynalite insists on a throughput even for an on-demand table (DynamoDB refuses one there).
			create.ProvisionedThroughput = &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)}
			_, err = db.UpdateTable(ctx, update)
		}
		if err != nil {
			return fmt.Errorf("dynalite: add index %s to table %s: %w", aws.ToString(want.IndexName), table, err)
		}
		if err := waitActive(ctx, db, table); err != nil {
			return err
		}
		if out, err = db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}); err != nil {
			return fmt.Errorf("dynalite: describe table %s: %w", table, err)
		}
		if !slices.ContainsFunc(out.Table.GlobalSecondaryIndexes, func(ix types.GlobalSecondaryIndexDescription) bool {
			return aws.ToString(ix.IndexName) == aws.ToString(want.IndexName)
		}) {
			return fmt.Errorf("dynalite: table %s was created by an older lcauth and lacks the index %q, which this server cannot add: "+
				"start with a new data folder (move the old one away) or delete the table", table, aws.ToString(want.IndexName))
		}
	}
	return nil
}

// waitActive polls DescribeTable. The SDK's TableExistsWaiter is not used: its 20 s minimum delay
// would dominate every test, and it ignores index status.
func waitActive(ctx context.Context, db *dynamodb.Client, table string) error {
	ctx, cancel := context.WithTimeout(ctx, tableWait)
	defer cancel()
	delay := 10 * time.Millisecond
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("dynalite: describe table %s: %w", table, err)
		}
		if active(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynalite: table %s not ACTIVE: %w", table, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func active(t *types.TableDescription) bool {
	if t == nil || t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if ix.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}
