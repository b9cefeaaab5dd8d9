package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func key_(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: id}}
}

func name(n string) expression.NameBuilder { return expression.Name(n) }

func value(v any) expression.ValueBuilder { return expression.Value(v) }

// setDue puts an installation into the due index at its token expiry.
func setDue(u expression.UpdateBuilder, id string, expiresAt time.Time) expression.UpdateBuilder {
	return u.Set(name(AttrDueShard), value(DueShard(id))).Set(name(AttrDueAt), value(expiresAt.Unix()))
}

func removeAll(u expression.UpdateBuilder, attrs ...string) expression.UpdateBuilder {
	for _, a := range attrs {
		u = u.Remove(name(a))
	}
	return u
}

var leaseAttrs = []string{attrLeaseOwner, attrLeaseID, attrLeaseExpiresAt}

var lastErrorAttrs = []string{attrLastErrorClass, attrLastErrorMsg, attrLastErrorAt}

var deadTokenAttrs = []string{attrDeadTokenStrikes, attrDeadTokenSince}

// getItem reads an item with a consistent read; nil when absent.
func (s *Store) getItem(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key_(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// update runs a conditional UpdateItem returning ALL_NEW. On a failed condition it returns the old
// item (from DynamoDB's ReturnValuesOnConditionCheckFailure, or a consistent read where the server does
// not support it, as dynalite) so the caller can say why.
func (s *Store) update(ctx context.Context, id string, u expression.UpdateBuilder, c expression.ConditionBuilder) (newItem map[string]types.AttributeValue, failed bool, old map[string]types.AttributeValue, err error) {
	expr, err := expression.NewBuilder().WithUpdate(u).WithCondition(c).Build()
	if err != nil {
		return nil, false, nil, err
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key_(id),
		UpdateExpression:                    expr.Update(),
		ConditionExpression:                 expr.Condition(),
		ExpressionAttributeNames:            expr.Names(),
		ExpressionAttributeValues:           expr.Values(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) > 0 {
			return nil, true, ccf.Item, nil
		}
		old, err := s.getItem(ctx, id)
		return nil, true, old, err
	}
	if err != nil {
		return nil, false, nil, err
	}
	return out.Attributes, false, nil, nil
}

// Install creates or updates the installation of a code exchange's grant: tokens replaced, status
// active (a reauthorization_required installation is reactivated), version + 1, any lease and last
// error cleared, created_at kept. Keys depend on what was there:
//   - a fresh start (no item yet, or an uninstalled one) issues a new installation key, returned once
//     (only its hash is stored), and drops any keys the item had;
//   - a reinstall (active or reauthorization_required) keeps every key working and returns "" as the
//     key: a reinstall that anyone can trigger must not revoke a working integration's key.
//
// A first install costs one conditional write, a reinstall two (the fresh-start condition fails
// first). An older refresh still in flight cannot overwrite the result: its CompleteRefresh fails with
// ErrVersionConflict.
func (s *Store) Install(ctx context.Context, g Grant) (*Installation, string, error) {
	if err := validateGrant(g, true); err != nil {
		return nil, "", fmt.Errorf("store: install: %w", err)
	}
	id := InstallationID(g.OrganizationID, g.AccountID)
	access, refresh, err := s.sealTokens(ctx, id, g)
	if err != nil {
		return nil, "", fmt.Errorf("store: install %s: %w", id, err)
	}
	// The id is a hash of (organization, account); the conditions turn a collision into an error
	// instead of a silent takeover of another installation.
	ours := name(attrOrganizationID).Equal(value(g.OrganizationID)).And(name(attrAccountID).Equal(value(g.AccountID)))
	uninstalled := name(attrStatus).Equal(value(string(StatusUninstalled)))
	for attempt := 0; attempt < 3; attempt++ {
		apiKey, hash, err := newAPIKey(id)
		if err != nil {
			return nil, "", err
		}
		kid, err := newKeyID()
		if err != nil {
			return nil, "", err
		}
		now := millis(s.now())
		entry := keyEntry{Hash: hash, Name: "issued at install", CreatedAt: now}
		fresh := s.installUpdate(id, g, access, refresh, now).
			Set(name(attrAPIKeys), value(map[string]keyEntry{kid: entry})).
			Remove(name(attrAPIKeyHash)).Remove(name(attrLegacyLastUsed))
		newItem, failed, old, err := s.update(ctx, id, fresh, expression.AttributeNotExists(name(AttrPK)).Or(ours.And(uninstalled)))
		if err != nil {
			return nil, "", fmt.Errorf("store: install %s: %w", id, err)
		}
		if !failed {
			return s.installed(id, newItem, g, apiKey)
		}
		if e := installConflict(id, old, g); e != nil || old == nil {
			if e != nil {
				return nil, "", e
			}
			continue // deleted in between: a fresh start after all
		}
		newItem, failed, old, err = s.update(ctx, id, s.installUpdate(id, g, access, refresh, now),
			expression.AttributeExists(name(AttrPK)).And(ours).And(name(attrStatus).NotEqual(value(string(StatusUninstalled)))))
		if err != nil {
			return nil, "", fmt.Errorf("store: install %s: %w", id, err)
		}
		if !failed {
			return s.installed(id, newItem, g, "")
		}
		if e := installConflict(id, old, g); e != nil {
			return nil, "", e
		}
		// Uninstalled or deleted in between: decide again.
	}
	return nil, "", fmt.Errorf("store: install %s: the installation kept changing; try again", id)
}

// installUpdate is the part of an Install write common to a fresh start and a reinstall.
func (s *Store) installUpdate(id string, g Grant, access, refresh string, now int64) expression.UpdateBuilder {
	u := expression.Set(name(attrOrganizationID), value(g.OrganizationID)).
		Set(name(attrAccountID), value(g.AccountID)).
		Set(name(attrAccessToken), value(access)).
		Set(name(attrRefreshToken), value(refresh)).
		Set(name(attrTokenType), value(g.TokenType)).
		Set(name(attrScope), value(g.Scope)).
		Set(name(attrExpiresAt), value(millis(g.ExpiresAt))).
		Set(name(attrStatus), value(string(StatusActive))).
		Set(name(attrStatusChangedAt), value(now)).
		// ADD treats a missing version as 0: 1 for a new installation, +1 for a reinstall.
		Add(name(attrVersion), value(1)).
		Set(name(attrCreatedAt), name(attrCreatedAt).IfNotExists(value(now))).
		Set(name(attrUpdatedAt), value(now))
	if g.Region != "" {
		u = u.Set(name(attrRegion), value(g.Region))
	}
	u = setDue(u, id, g.ExpiresAt)
	return removeAll(u, append(append(append([]string{attrStatusReason}, leaseAttrs...), lastErrorAttrs...), deadTokenAttrs...)...)
}

// installConflict reports an item under the id that belongs to another organization/account.
func installConflict(id string, old map[string]types.AttributeValue, g Grant) error {
	if old == nil {
		return nil
	}
	it, err := parseItem(old)
	if err != nil {
		return fmt.Errorf("store: install %s: %w", id, err)
	}
	if it.OrganizationID != g.OrganizationID || it.AccountID != g.AccountID {
		return fmt.Errorf("store: install %s: the id is taken by another organization/account", id)
	}
	return nil
}

func (s *Store) installed(id string, newItem map[string]types.AttributeValue, g Grant, apiKey string) (*Installation, string, error) {
	it, err := parseItem(newItem)
	if err != nil {
		return nil, "", fmt.Errorf("store: install %s: %w", id, err)
	}
	inst := it.installation()
	inst.AccessToken, inst.RefreshToken = g.AccessToken, g.RefreshToken
	return inst, apiKey, nil
}

// Get returns an installation with its tokens opened (a consistent read).
func (s *Store) Get(ctx context.Context, id string) (*Installation, error) {
	if !validID(id) {
		return nil, fmt.Errorf("store: get: %w", ErrNotFound)
	}
	av, err := s.getItem(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	if av == nil {
		return nil, fmt.Errorf("store: get %s: %w", id, ErrNotFound)
	}
	inst, err := s.decodeMap(ctx, av)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	return inst, nil
}

// Delete removes an installation (uninstall). ErrNotFound if there is none.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("store: delete: %w", ErrNotFound)
	}
	expr, err := expression.NewBuilder().WithCondition(expression.AttributeExists(name(AttrPK))).Build()
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key_(id),
		ConditionExpression:      expr.Condition(),
		ExpressionAttributeNames: expr.Names(),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("store: delete %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	return nil
}
