package dynalite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"lcauth/internal/store"
)

// tableWait bounds how long CreateTable waits for the table and its indexes to become ACTIVE.
const tableWait = 60 * time.Second

// CreateTable creates table from store.Schema unless it exists, then waits until the table and all its
// indexes are ACTIVE. It works against any DynamoDB endpoint (dynalite, DynamoDB Local, AWS) and is
// idempotent, so local mode can call it on every start.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	_, err := db.CreateTable(ctx, store.Schema().CreateTableInput(table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynalite: create table %s: %w", table, err)
	}
	return waitActive(ctx, db, table)
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
