package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"lcauth/internal/secrets"
	"lcauth/internal/store"
)

// addData creates the durable state: the data key, the table and the three secrets. keep is
// RETAIN_ON_UPDATE_OR_DELETE (CloudFormation's RetainExceptOnCreate) unless the stack is throwaway:
// kept when the stack is updated or deleted, removed when the create that made them rolls back, so a
// failed first deploy leaves nothing paid behind.
func (l *Lcauth) addData(stack awscdk.Stack, s Settings, keep awscdk.RemovalPolicy) error {
	l.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("lcauth: encrypts the installations table and seals the tokens in it"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     keep,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})
	table, err := newTable(stack, store.Schema(), l.DataKey, s.Throwaway, keep)
	if err != nil {
		return err
	}
	l.Table = table

	// The client secret is created holding a placeholder the code recognizes as "not configured"; the
	// real value is put after deploy (make secret) and never passes through CDK. The placeholder must
	// stay constant: CloudFormation rewrites the secret only when this property changes, so redeploys
	// keep the value the operator put.
	l.Secret = awssecretsmanager.NewSecret(stack, jsii.String("ClientSecret"), &awssecretsmanager.SecretProps{
		Description:       jsii.String("lcauth: the LiveChat app's client secret (set with make secret)"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String(secrets.Placeholder)),
		RemovalPolicy:     keep,
	})
	// The webhook secret and the state key are ours: Secrets Manager generates them at create, so no
	// value is ever in the template, and only the functions whose environment names them may read them.
	l.WebhookSecret = generatedSecret(stack, "WebhookSecret", "lcauth: the secret in the LiveChat App Webhooks URL (make webhook-url prints the URL)", keep)
	l.StateKey = generatedSecret(stack, "StateKey", "lcauth: signs the OAuth state and encrypts its cookie (install and callback only)", keep)
	return nil
}

// generatedSecret is 64 random letters and digits: URL-safe as is (the webhook URL carries it) and
// 380 bits of key material for a KDF.
func generatedSecret(stack awscdk.Stack, id, description string, keep awscdk.RemovalPolicy) awssecretsmanager.Secret {
	return awssecretsmanager.NewSecret(stack, jsii.String(id), &awssecretsmanager.SecretProps{
		Description: jsii.String(description),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		RemovalPolicy: keep,
	})
}

// newTable builds the table from the store's schema: the store package is the one source of truth.
func newTable(stack awscdk.Stack, schema store.TableSchema, key awskms.Key, throwaway bool, keep awscdk.RemovalPolicy) (awsdynamodb.Table, error) {
	pk, err := attribute(schema.PartitionKey)
	if err != nil {
		return nil, err
	}
	props := &awsdynamodb.TableProps{
		PartitionKey: pk,
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(!throwaway),
		RemovalPolicy:      keep,
		Encryption:         awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:      key,
	}
	if schema.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(schema.TTLAttribute)
	}
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), props)
	for _, ix := range schema.Indexes {
		ipk, err := attribute(ix.PartitionKey)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", ix.Name, err)
		}
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{IndexName: jsii.String(ix.Name), PartitionKey: ipk}
		if ix.SortKey.Name != "" {
			if gsi.SortKey, err = attribute(ix.SortKey); err != nil {
				return nil, fmt.Errorf("index %s: %w", ix.Name, err)
			}
		}
		switch ix.Projection {
		case "ALL":
			gsi.ProjectionType = awsdynamodb.ProjectionType_ALL
		case "KEYS_ONLY":
			gsi.ProjectionType = awsdynamodb.ProjectionType_KEYS_ONLY
		case "INCLUDE":
			gsi.ProjectionType = awsdynamodb.ProjectionType_INCLUDE
			gsi.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
		default:
			return nil, fmt.Errorf("index %s: unknown projection %q in store.Schema", ix.Name, ix.Projection)
		}
		table.AddGlobalSecondaryIndex(gsi)
	}
	return table, nil
}

func attribute(k store.KeyAttribute) (*awsdynamodb.Attribute, error) {
	types := map[string]awsdynamodb.AttributeType{
		"S": awsdynamodb.AttributeType_STRING,
		"N": awsdynamodb.AttributeType_NUMBER,
		"B": awsdynamodb.AttributeType_BINARY,
	}
	t, ok := types[k.Type]
	if !ok || k.Name == "" {
		return nil, fmt.Errorf("store.Schema: key attribute %q has type %q, want S, N or B", k.Name, k.Type)
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: t}, nil
}
