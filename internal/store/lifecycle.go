package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxOrganizationInstallations bounds OrganizationInstallations: one organization is one LiveChat
// license, and each of its agents who authorizes the app is one installation. Far above any real
// license, it only keeps a corrupt table from making the listing unbounded.
const maxOrganizationInstallations = 10000

// OrganizationInstallations returns the ids of every installation of a LiveChat organization, whatever
// their status, from the keys-only "organization" index (Query, never Scan). The index is eventually
// consistent: an installation created a moment ago may be missing. Read each one with Get before
// acting on it.
func (s *Store) OrganizationInstallations(ctx context.Context, organizationID string) ([]string, error) {
	if err := checkField("organization id", organizationID, maxIDField, true); err != nil {
		return nil, fmt.Errorf("store: organization installations: %w", err)
	}
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrOrganizationID).Equal(expression.Value(organizationID))).Build()
	if err != nil {
		return nil, fmt.Errorf("store: organization installations: %w", err)
	}
	var (
		ids   []string
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(OrganizationIndexName),
			KeyConditionExpression:    expr.KeyCondition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("store: organization installations: %w", err)
		}
		for _, av := range out.Items {
			if pk, ok := av[AttrPK].(*types.AttributeValueMemberS); ok && validID(pk.Value) {
				ids = append(ids, pk.Value)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		if len(ids) >= maxOrganizationInstallations {
			return nil, fmt.Errorf("store: organization installations: more than %d", maxOrganizationInstallations)
		}
		start = out.LastEvaluatedKey
	}
}

// UninstallReason says who uninstalled an installation; it is stored as the status reason.
type UninstallReason string

// Reasons for MarkUninstalled.
const (
	// UninstalledByWebhook: LiveChat's application_uninstalled App Webhook.
	UninstalledByWebhook UninstallReason = "application_uninstalled"
	// UninstalledByOperator: `lcauth installations uninstall` (or delete).
	UninstalledByOperator UninstallReason = "operator"
)

// MarkUninstalled records that an installation was uninstalled, in one write conditional on the
// version the caller read: status uninstalled with reason, sealed tokens and expiry erased, out of the
// due index, any refresh lease dropped, version + 1. The item stays (organization, account,
// timestamps, status, key hashes, so a key holder learns why it is refused). A refresh in flight cannot
// bring the tokens back: its write is conditional on the old version. Installing again is a fresh
// start (Install). Errors: ErrNotFound, ErrVersionConflict (changed since read: read and revoke
// again), ErrUninstalled (already uninstalled: nothing to do).
func (s *Store) MarkUninstalled(ctx context.Context, id string, version int64, reason UninstallReason) (*Installation, error) {
	if !validID(id) {
		return nil, fmt.Errorf("store: mark uninstalled: %w", ErrNotFound)
	}
	now := millis(s.now())
	u := expression.Set(name(attrStatus), value(string(StatusUninstalled))).
		Set(name(attrStatusReason), value(truncate(string(reason), MaxErrorMessage))).
		Set(name(attrStatusChangedAt), value(now)).
		Set(name(attrUpdatedAt), value(now)).
		Set(name(attrVersion), name(attrVersion).Plus(value(1)))
	u = removeAll(u, append([]string{attrAccessToken, attrRefreshToken, attrExpiresAt, AttrDueShard, AttrDueAt}, leaseAttrs...)...)
	c := expression.AttributeExists(name(AttrPK)).
		And(name(attrVersion).Equal(value(version))).
		And(name(attrStatus).NotEqual(value(string(StatusUninstalled))))
	newItem, failed, old, err := s.update(ctx, id, u, c)
	if err != nil {
		return nil, fmt.Errorf("store: mark uninstalled %s: %w", id, err)
	}
	if failed {
		return nil, fmt.Errorf("store: mark uninstalled %s: %w", id, whyNotUninstalled(old, version))
	}
	it, err := parseItem(newItem)
	if err != nil {
		return nil, fmt.Errorf("store: mark uninstalled %s: %w", id, err)
	}
	return it.installation(), nil
}

func whyNotUninstalled(old map[string]types.AttributeValue, version int64) error {
	if old == nil {
		return ErrNotFound
	}
	it, err := parseItem(old)
	if err != nil {
		return err
	}
	if Status(it.Status) == StatusUninstalled {
		return ErrUninstalled
	}
	if it.Version != version {
		return ErrVersionConflict
	}
	return fmt.Errorf("condition failed for an unknown reason")
}
