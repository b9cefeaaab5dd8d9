package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Bounds of ListInstallations.
const (
	// DefaultListLimit is the page size when ListOptions.Limit is 0.
	DefaultListLimit = 50
	// MaxListLimit is the largest page.
	MaxListLimit    = 100
	pageTokenPrefix = "v1."
)

// ListOptions select a page of installations.
type ListOptions struct {
	// Limit is how many items the page reads (1..MaxListLimit; 0 means DefaultListLimit).
	Limit int
	// PageToken continues from a previous page's NextPageToken; "" starts at the beginning.
	PageToken string
	// Status keeps only installations with that status; "" keeps all.
	Status Status
}

// InstallationPage is one page of ListInstallations.
type InstallationPage struct {
	// Installations have no tokens (they are never read) and no key hashes.
	Installations []*Installation
	// NextPageToken is "" on the last page. A page may hold fewer than Limit installations (even none)
	// and still have a next page: the status filter and the service-keys item are applied after the read.
	NextPageToken string
	// ItemsRead is how many items DynamoDB read for the page (its ScannedCount): at most Limit.
	ItemsRead int
	// CapacityUnits is the read capacity the page consumed, as DynamoDB reports it (0 if it did not).
	CapacityUnits float64
}

// listAttrs are the attributes a listing reads: no tokens, no key hashes.
var listAttrs = []string{AttrPK, attrOrganizationID, attrAccountID, attrRegion, attrStatus, attrStatusReason,
	attrStatusChangedAt, attrVersion, attrCreatedAt, attrUpdatedAt, attrExpiresAt, attrLastRefreshedAt,
	attrLastErrorClass, attrLastErrorMsg, attrLastErrorAt, attrTokenType, attrScope}

// ListInstallations returns one page of installations, in no particular order but stable across
// pages. It is one Scan request with Limit: the table holds one item per installation (plus the
// service-keys item), so a page reads at most Limit items whatever the table's size, and paging on
// costs the same per page. Order is not promised (an index would be needed for that, and would cost a
// write on every installation change for nothing the callers need). Errors: ErrInvalid for a bad limit,
// status or page token.
func (s *Store) ListInstallations(ctx context.Context, opts ListOptions) (*InstallationPage, error) {
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, fmt.Errorf("store: list installations: %w", invalidf("limit must be 1..%d", MaxListLimit))
	}
	switch opts.Status {
	case "", StatusActive, StatusReauthorizationRequired, StatusUninstalled:
	default:
		return nil, fmt.Errorf("store: list installations: %w", invalidf("unknown status"))
	}
	var start map[string]types.AttributeValue
	if opts.PageToken != "" {
		id, ok := parsePageToken(opts.PageToken)
		if !ok {
			return nil, fmt.Errorf("store: list installations: %w", invalidf("malformed page token"))
		}
		start = key_(id)
	}
	proj := expression.NamesList(name(listAttrs[0]))
	for _, a := range listAttrs[1:] {
		proj = proj.AddNames(name(a))
	}
	b := expression.NewBuilder().WithProjection(proj)
	filter := name(AttrPK).NotEqual(value(ServiceKeysPK))
	if opts.Status != "" {
		filter = filter.And(name(attrStatus).Equal(value(string(opts.Status))))
	}
	expr, err := b.WithFilter(filter).Build()
	if err != nil {
		return nil, fmt.Errorf("store: list installations: %w", err)
	}
	out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		Limit:                     aws.Int32(int32(limit)),
		ExclusiveStartKey:         start,
		ProjectionExpression:      expr.Projection(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, fmt.Errorf("store: list installations: %w", err)
	}
	page := &InstallationPage{ItemsRead: int(out.ScannedCount), Installations: []*Installation{}}
	if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		page.CapacityUnits = *out.ConsumedCapacity.CapacityUnits
	}
	for _, av := range out.Items {
		it, err := parseItem(av)
		if err != nil {
			return nil, fmt.Errorf("store: list installations: %w", err)
		}
		page.Installations = append(page.Installations, it.installation())
	}
	if pk, ok := out.LastEvaluatedKey[AttrPK].(*types.AttributeValueMemberS); ok {
		page.NextPageToken = pageTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(pk.Value))
	}
	return page, nil
}

// parsePageToken reads a page token back into the key to continue after. Only keys this table can
// hold are accepted, so a caller cannot steer the Scan anywhere else.
func parsePageToken(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, pageTokenPrefix)
	if !ok || len(rest) > 64 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", false
	}
	id := string(b)
	return id, validID(id) || id == ServiceKeysPK
}
