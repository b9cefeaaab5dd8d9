package livechat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// List Chats limits documented by LiveChat.
const (
	// MaxListChatsLimit is the largest page size.
	MaxListChatsLimit = 100
	// MaxGroupIDs is the most group ids a filter may name.
	MaxGroupIDs = 200
	// maxPageIDLen bounds page_id; LiveChat's are short base64 strings.
	maxPageIDLen = 1024
	// maxPropertiesFilterBytes bounds the properties filter.
	maxPropertiesFilterBytes = 16 << 10
)

// ListChatsRequest is the body of List Chats. The zero value asks for the first page
// with LiveChat's defaults (10 chats, newest first, chats with threads only).
type ListChatsRequest struct {
	Filters   *ChatFilters `json:"filters,omitempty"`
	SortOrder string       `json:"sort_order,omitempty"`
	Limit     int          `json:"limit,omitempty"`
	PageID    string       `json:"page_id,omitempty"`
}

// ChatFilters narrows List Chats.
type ChatFilters struct {
	Active                     *bool           `json:"active,omitempty"`
	IncludeChatsWithoutThreads *bool           `json:"include_chats_without_threads,omitempty"`
	GroupIDs                   []int           `json:"group_ids,omitempty"`
	Properties                 json.RawMessage `json:"properties,omitempty"`
}

// Validate checks what LiveChat documents, so a bad request costs no round trip and
// gets a precise message: limit 1..100 (0 = default), sort_order asc|desc, at most 200
// non-negative group ids, properties a JSON object, and page_id not combined with
// filters, limit or sort_order. It returns a *ValidationError.
func (r ListChatsRequest) Validate() error {
	if r.PageID != "" {
		switch {
		case r.Filters != nil:
			return &ValidationError{Field: "page_id", Message: "cannot be combined with filters"}
		case r.Limit != 0:
			return &ValidationError{Field: "page_id", Message: "cannot be combined with limit"}
		case r.SortOrder != "":
			return &ValidationError{Field: "page_id", Message: "cannot be combined with sort_order"}
		case len(r.PageID) > maxPageIDLen:
			return &ValidationError{Field: "page_id", Message: fmt.Sprintf("must be at most %d bytes", maxPageIDLen)}
		}
	}
	if r.Limit < 0 || r.Limit > MaxListChatsLimit {
		return &ValidationError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", MaxListChatsLimit)}
	}
	switch r.SortOrder {
	case "", "asc", "desc":
	default:
		return &ValidationError{Field: "sort_order", Message: `must be "asc" or "desc"`}
	}
	if f := r.Filters; f != nil {
		if len(f.GroupIDs) > MaxGroupIDs {
			return &ValidationError{Field: "filters.group_ids", Message: fmt.Sprintf("at most %d group ids", MaxGroupIDs)}
		}
		for _, id := range f.GroupIDs {
			if id < 0 {
				return &ValidationError{Field: "filters.group_ids", Message: "group ids must not be negative"}
			}
		}
		if len(f.Properties) > 0 {
			if len(f.Properties) > maxPropertiesFilterBytes {
				return &ValidationError{Field: "filters.properties", Message: fmt.Sprintf("must be at most %d bytes", maxPropertiesFilterBytes)}
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(f.Properties, &obj); err != nil || obj == nil {
				return &ValidationError{Field: "filters.properties", Message: "must be a JSON object"}
			}
		}
	}
	return nil
}

// ListChatsResponse is LiveChat's answer, body unchanged so a proxy can pass it
// through, plus the fields callers need.
type ListChatsResponse struct {
	// Body is LiveChat's JSON exactly as received.
	Body json.RawMessage
	// NextPageID and PreviousPageID are "" when there is no such page.
	NextPageID, PreviousPageID string
	// FoundChats is LiveChat's estimate of the total.
	FoundChats int
}

// ListChats calls POST /v3.6/agent/action/list_chats with the access token as is
// (with its region prefix) and, as LiveChat's SDKs do, X-Region set to that prefix, so
// an installation outside the default region costs no extra round trip. req is
// validated first. A misdirected_request answer (the account moved) is retried once
// with X-Region set to the region LiveChat named.
func (c *Client) ListChats(ctx context.Context, accessToken string, req ListChatsRequest) (*ListChatsResponse, error) {
	if accessToken == "" || len(accessToken) > maxTokenLen {
		return nil, &ValidationError{Field: "access_token", Message: fmt.Sprintf("must be 1..%d bytes", maxTokenLen)}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("livechat: list_chats: encode request: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	sent := RegionOf(accessToken)
	resp, err := c.listChatsOnce(ctx, accessToken, body, sent)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		apiErr := parseAPIError(opList, resp, c.now(), accessToken)
		region := apiErr.Region()
		if apiErr.Type != "misdirected_request" || region == "" || RegionOf(region+":") == "" || region == sent {
			return nil, apiErr
		}
		resp, err = c.listChatsOnce(ctx, accessToken, body, region)
		if err != nil {
			return nil, err
		}
		if resp.status < 200 || resp.status > 299 {
			return nil, parseAPIError(opList, resp, c.now(), accessToken)
		}
	}
	var parsed struct {
		NextPageID     string `json:"next_page_id"`
		PreviousPageID string `json:"previous_page_id"`
		FoundChats     int    `json:"found_chats"`
	}
	trimmed := bytes.TrimSpace(resp.body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &ResponseError{Op: opList, StatusCode: resp.status, Err: fmt.Errorf("%w: not a JSON object", ErrMalformedResponse)}
	}
	if err := json.Unmarshal(trimmed, &parsed); err != nil {
		return nil, &ResponseError{Op: opList, StatusCode: resp.status, Err: fmt.Errorf("%w: %s", ErrMalformedResponse, jsonErrorKind(err))}
	}
	return &ListChatsResponse{
		Body:           json.RawMessage(trimmed),
		NextPageID:     parsed.NextPageID,
		PreviousPageID: parsed.PreviousPageID,
		FoundChats:     parsed.FoundChats,
	}, nil
}

func (c *Client) listChatsOnce(ctx context.Context, accessToken string, body []byte, region string) (*response, error) {
	req, err := newRequest(ctx, http.MethodPost, c.api, ListChatsPath, body)
	if err != nil {
		return nil, fmt.Errorf("livechat: list_chats: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if region != "" {
		req.Header.Set("X-Region", region)
	}
	return c.do(req, opList, c.maxChats)
}
