package livechatsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxAgentBodyBytes bounds a list_chats request body.
const maxAgentBodyBytes = 1 << 20

// chat is one generated chat with its summary rendered once.
type chat struct {
	id        string
	hasThread bool
	active    bool
	groupIDs  []int
	sortAt    time.Time
	summary   json.RawMessage
}

var (
	firstNames = []string{"Alice", "Bob", "Carmen", "Dmitri", "Erin", "Farah", "Goran", "Hana", "Ivan", "Julia", "Kenji", "Lena", "Marek", "Nadia", "Oscar", "Priya"}
	lastNames  = []string{"Nowak", "Smith", "Garcia", "Kowalski", "Müller", "Rossi", "Tanaka", "Dubois", "Silva", "Olsen"}
	messages   = []string{
		"Hi, I have a question about my order.",
		"Can I change the delivery address?",
		"Thanks, that solved it!",
		"Is there a discount for annual plans?",
		"The checkout page shows an error.",
		"How do I reset my password?",
		"Do you ship to Norway?",
		"Great, thank you for your help.",
	}
)

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func chatID(r *rand.Rand) string {
	b := make([]byte, 10)
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b)
}

func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.Uint64())
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// generateChats makes a's chats deterministically from its account id, in the v3.6
// chat summary shape: every tenth chat has no thread, the newest few are active, and
// they spread over groups 0-2.
func generateChats(a Account, now time.Time) []chat {
	seed := sha256.Sum256([]byte(a.AccountID))
	r := rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed[:8]), binary.BigEndian.Uint64(seed[8:16])))
	now = now.UTC().Truncate(time.Second)
	out := make([]chat, 0, a.Chats)
	for i := 0; i < a.Chats; i++ {
		created := now.Add(-time.Duration(i)*97*time.Minute - time.Duration(r.IntN(3600))*time.Second)
		c := chat{
			id:        chatID(r),
			hasThread: i%10 != 9,
			groupIDs:  []int{i % 3},
			sortAt:    created,
		}
		c.active = c.hasThread && i < 5
		var customerID string
		customer := customerUser(r, &customerID, created, c.active)
		access := map[string]any{"group_ids": c.groupIDs}
		summary := map[string]any{
			"id":          c.id,
			"users":       []any{customer, agentUser(a, created, c.active)},
			"access":      access,
			"is_followed": false,
			"properties": map[string]any{
				"routing": map[string]any{"continuous": false, "idle": false, "unassigned": false},
				"source":  map[string]any{"client_id": "c5e4f61e1a6c3b1521b541bc5c5a2ac5"},
			},
		}
		if c.hasThread {
			addThread(r, summary, access, a, customerID, created, c.active)
		}
		b, err := json.Marshal(summary)
		if err != nil {
			panic(err) // only maps of strings, numbers and bools: cannot fail
		}
		c.summary = b
		out = append(out, c)
	}
	return out
}

// customerUser draws a customer (name, id, visit) from r; *id receives the customer's id.
func customerUser(r *rand.Rand, id *string, created time.Time, active bool) map[string]any {
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	*id = uuidFrom(r)
	return map[string]any{
		"id":                *id,
		"type":              "customer",
		"name":              first + " " + last,
		"email":             strings.ToLower(first+"."+last) + "@example.net",
		"present":           active,
		"events_seen_up_to": created.Add(2 * time.Minute).Format(time.RFC3339Nano),
		"last_visit": map[string]any{
			"started_at": created.Add(-5 * time.Minute).Format(time.RFC3339Nano),
			"ip":         fmt.Sprintf("203.0.113.%d", r.IntN(250)+1),
			"user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
			"geolocation": map[string]any{
				"country": "Poland", "country_code": "PL", "city": "Wroclaw", "timezone": "Europe/Warsaw",
			},
		},
		"statistics": map[string]any{"chats_count": r.IntN(5) + 1, "threads_count": r.IntN(8) + 1, "visits_count": r.IntN(20) + 1},
		"created_at": created.Add(-48 * time.Hour).Format(time.RFC3339Nano),
	}
}

func agentUser(a Account, created time.Time, active bool) map[string]any {
	return map[string]any{
		"id":                a.Email,
		"type":              "agent",
		"name":              "Support Agent",
		"email":             a.Email,
		"present":           active,
		"events_seen_up_to": created.Add(3 * time.Minute).Format(time.RFC3339Nano),
		"visibility":        "all",
	}
}

// addThread adds the last thread's summary and its last message to a chat summary.
func addThread(r *rand.Rand, summary, access map[string]any, a Account, customerID string, created time.Time, active bool) {
	threadID := chatID(r)
	msg := messages[r.IntN(len(messages))]
	eventAt := created.Add(time.Duration(r.IntN(600)) * time.Second)
	summary["last_thread_summary"] = map[string]any{
		"id":         threadID,
		"created_at": created.Format(time.RFC3339Nano),
		"user_ids":   []string{customerID, a.Email},
		"properties": map[string]any{"routing": map[string]any{"idle": false}},
		"active":     active,
		"access":     access,
	}
	summary["last_event_per_type"] = map[string]any{
		"message": map[string]any{
			"thread_id":         threadID,
			"thread_created_at": created.Format(time.RFC3339Nano),
			"event": map[string]any{
				"id":         threadID + "_" + fmt.Sprint(r.IntN(9)+1),
				"created_at": eventAt.Format(time.RFC3339Nano),
				"type":       "message",
				"text":       msg,
				"author_id":  customerID,
				"visibility": "all",
			},
		},
	}
}

// listFilters is the filters object of list_chats.
type listFilters struct {
	Active                     *bool           `json:"active,omitempty"`
	IncludeChatsWithoutThreads *bool           `json:"include_chats_without_threads,omitempty"`
	GroupIDs                   []int           `json:"group_ids,omitempty"`
	Properties                 json.RawMessage `json:"properties,omitempty"`
}

// pageState is what a page_id encodes: the query and where the page starts. It is
// bound to the account, so one account's page_id is invalid for another.
type pageState struct {
	Account string       `json:"a"`
	Offset  int          `json:"o"`
	Limit   int          `json:"l"`
	Sort    string       `json:"s"`
	Filters *listFilters `json:"f,omitempty"`
}

// encodePageID uses standard base64 with padding, as LiveChat's page ids do, so that
// '+', '/' and '=' test how callers carry them in URLs.
func encodePageID(p pageState) string {
	b, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(b)
}

func decodePageID(s string) (pageState, bool) {
	var p pageState
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &p) != nil || p.Limit < 1 || p.Limit > 100 || p.Offset < 0 {
		return pageState{}, false
	}
	return p, true
}

// handleListChats is POST /v3.6/agent/action/list_chats.
func (s *Simulator) handleListChats(w http.ResponseWriter, r *http.Request) {
	if s.intercept(EndpointListChats, w, r) {
		return
	}
	acct := s.agentCaller(w, r)
	if acct == nil {
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeAPIError(w, http.StatusUnsupportedMediaType, "validation", "Content-Type must be application/json", nil)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAgentBodyBytes))
	if err != nil {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "entity_too_large", "Request body too large", nil)
		return
	}
	st, msg := parseListChats(raw, acct.AccountID)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, "validation", msg, nil)
		return
	}
	writeJSON(w, http.StatusOK, listPage(acct.chats, st))
}

// agentCaller authenticates an Agent API request: a known, unexpired access token with a chats
// scope, sent to the account's region (X-Region; api.livechatinc.com's default region without it).
// It answers the error itself and returns nil when the request cannot go on.
func (s *Simulator) agentCaller(w http.ResponseWriter, r *http.Request) *account {
	tok, ok := bearer(r)
	s.mu.Lock()
	at, known := s.access[tok]
	now := s.nowLocked()
	var acct *account
	var region string
	if known {
		acct = s.accounts[at.accountID]
	}
	if acct != nil {
		region = acct.Region
	}
	s.mu.Unlock()
	switch {
	case !ok || !known || acct == nil:
		writeAPIError(w, http.StatusUnauthorized, "authentication", "Invalid access token", nil)
		return nil
	case !now.Before(at.expiresAt):
		writeAPIError(w, http.StatusUnauthorized, "authentication", "Access token expired", nil)
		return nil
	case !hasScope(at.scope, "chats--all:ro") && !hasScope(at.scope, "chats--access:ro"):
		writeAPIError(w, http.StatusForbidden, "authorization", "Scope chats--all:ro or chats--access:ro is required", nil)
		return nil
	}
	sent := r.Header.Get("X-Region")
	if sent == "" {
		sent = DefaultRegion
	}
	if !strings.EqualFold(sent, region) {
		writeAPIError(w, http.StatusMisdirectedRequest, "misdirected_request", "Wrong region", map[string]string{"region": region})
		return nil
	}
	return acct
}

// parseListChats validates a list_chats body as LiveChat does and returns the page to answer, or a
// validation message.
func parseListChats(raw []byte, accountID string) (pageState, string) {
	var req struct {
		Filters   *listFilters `json:"filters"`
		SortOrder *string      `json:"sort_order"`
		Limit     *int         `json:"limit"`
		PageID    *string      `json:"page_id"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return pageState{}, "Wrong format of request"
		}
	}
	if req.PageID != nil {
		if req.Filters != nil || req.SortOrder != nil || req.Limit != nil {
			return pageState{}, "Cannot use page_id together with filters, limit or sort_order"
		}
		p, ok := decodePageID(*req.PageID)
		if !ok || p.Account != accountID {
			return pageState{}, "Invalid page_id"
		}
		return p, ""
	}
	st := pageState{Account: accountID, Limit: 10, Sort: "desc", Filters: req.Filters}
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 100 {
			return pageState{}, "limit must be between 1 and 100"
		}
		st.Limit = *req.Limit
	}
	if req.SortOrder != nil {
		if *req.SortOrder != "asc" && *req.SortOrder != "desc" {
			return pageState{}, "sort_order must be asc or desc"
		}
		st.Sort = *req.SortOrder
	}
	if f := req.Filters; f != nil {
		if len(f.GroupIDs) > 200 {
			return pageState{}, "group_ids: too many elements (max 200)"
		}
		if len(f.Properties) > 0 {
			var obj map[string]json.RawMessage
			if json.Unmarshal(f.Properties, &obj) != nil || obj == nil {
				return pageState{}, "properties must be an object"
			}
		}
	}
	return st, ""
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Split(scopes, ",") {
		if strings.TrimSpace(s) == want {
			return true
		}
	}
	return false
}

// listPage filters, sorts and slices. Property filters are validated but not applied.
func listPage(all []chat, st pageState) map[string]any {
	var sel []chat
	for _, c := range all {
		f := st.Filters
		// LiveChat's default (v3.5, v3.6) is to include chats without threads.
		withoutThreads := f == nil || f.IncludeChatsWithoutThreads == nil || *f.IncludeChatsWithoutThreads
		if !c.hasThread && !withoutThreads {
			continue
		}
		if f != nil && f.Active != nil && c.active != *f.Active {
			continue
		}
		if f != nil && len(f.GroupIDs) > 0 && !slices.ContainsFunc(c.groupIDs, func(g int) bool { return slices.Contains(f.GroupIDs, g) }) {
			continue
		}
		sel = append(sel, c)
	}
	slices.SortStableFunc(sel, func(a, b chat) int {
		d := a.sortAt.Compare(b.sortAt)
		if d == 0 {
			d = strings.Compare(a.id, b.id)
		}
		if st.Sort == "desc" {
			d = -d
		}
		return d
	})
	start := min(st.Offset, len(sel))
	end := min(start+st.Limit, len(sel))
	summaries := make([]json.RawMessage, 0, end-start)
	for _, c := range sel[start:end] {
		summaries = append(summaries, c.summary)
	}
	out := map[string]any{"chats_summary": summaries, "found_chats": len(sel)}
	if end < len(sel) {
		next := st
		next.Offset = end
		out["next_page_id"] = encodePageID(next)
	}
	if start > 0 {
		prev := st
		prev.Offset = max(0, start-st.Limit)
		out["previous_page_id"] = encodePageID(prev)
	}
	return out
}
