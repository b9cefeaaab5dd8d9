package store

import (
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names of the lcauth table. These are the single source of truth: the CDK stack,
// local mode and the tests all build the table from Schema.
const (
	// AttrPK is the table's partition key: the installation id.
	AttrPK = "pk"
	// AttrDueShard is the refresh index's partition key: a shard number in [0, DueShards), derived from
	// the installation id. Present only on active installations, which makes the index sparse.
	AttrDueShard = "due_shard"
	// AttrDueAt is the refresh index's sort key: the access token's expiry in Unix seconds. Present only
	// on active installations.
	AttrDueAt = "due_at"
	// DueIndexName is the sparse GSI the refresher queries for tokens that are due.
	DueIndexName = "due"
	// DueShards is how many shards the refresh index spreads installations over. A pass makes one
	// Query per shard; more shards spread write load on the index at the cost of more Queries.
	DueShards = 16
	// AttrOrganizationID is the organization index's partition key: the LiveChat organization id, on
	// every installation item.
	AttrOrganizationID = attrOrganizationID
	// OrganizationIndexName is the keys-only GSI that finds an organization's installations (an
	// uninstall webhook names the organization, not an installation).
	OrganizationIndexName = "organization"
)

// KeyAttribute is one key attribute: its name and DynamoDB scalar type ("S", "N" or "B").
type KeyAttribute struct {
	Name string
	Type string
}

// Index describes a global secondary index.
type Index struct {
	Name         string
	PartitionKey KeyAttribute
	SortKey      KeyAttribute
	// Projection is "ALL", "KEYS_ONLY" or "INCLUDE".
	Projection string
	// NonKeyAttributes is set when Projection is "INCLUDE".
	NonKeyAttributes []string
}

// TableSchema describes the lcauth table. Billing is always on-demand.
type TableSchema struct {
	PartitionKey KeyAttribute
	Indexes      []Index
	// TTLAttribute names the attribute DynamoDB expires items by; empty when the table uses no TTL.
	TTLAttribute string
}

// Schema returns the table's schema.
func Schema() TableSchema {
	return TableSchema{
		PartitionKey: KeyAttribute{Name: AttrPK, Type: "S"},
		Indexes: []Index{{
			Name:         DueIndexName,
			PartitionKey: KeyAttribute{Name: AttrDueShard, Type: "N"},
			SortKey:      KeyAttribute{Name: AttrDueAt, Type: "N"},
			Projection:   "ALL",
		}, {
			Name:         OrganizationIndexName,
			PartitionKey: KeyAttribute{Name: AttrOrganizationID, Type: "S"},
			Projection:   "KEYS_ONLY",
		}},
	}
}

// CreateTableInput returns the CreateTable request that builds the table from the schema, for local
// mode and tests (the CDK stack builds the same table from Schema).
func (s TableSchema) CreateTableInput(table string) *dynamodb.CreateTableInput {
	defs := map[string]types.ScalarAttributeType{s.PartitionKey.Name: types.ScalarAttributeType(s.PartitionKey.Type)}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String(s.PartitionKey.Name), KeyType: types.KeyTypeHash}},
	}
	for _, ix := range s.Indexes {
		defs[ix.PartitionKey.Name] = types.ScalarAttributeType(ix.PartitionKey.Type)
		keys := []types.KeySchemaElement{{AttributeName: aws.String(ix.PartitionKey.Name), KeyType: types.KeyTypeHash}}
		if ix.SortKey.Name != "" {
			defs[ix.SortKey.Name] = types.ScalarAttributeType(ix.SortKey.Type)
			keys = append(keys, types.KeySchemaElement{AttributeName: aws.String(ix.SortKey.Name), KeyType: types.KeyTypeRange})
		}
		proj := &types.Projection{ProjectionType: types.ProjectionType(ix.Projection)}
		if len(ix.NonKeyAttributes) > 0 {
			proj.NonKeyAttributes = ix.NonKeyAttributes
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: keys, Projection: proj,
		})
	}
	// Sorted, so the request (and anything derived from it) is the same on every run.
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: defs[name]})
	}
	return in
}
