package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"lcauth/internal/livechat"
	"lcauth/internal/refresh"
	"lcauth/internal/store"
)

// minUsableValidity is how long a token must still be valid to be used without waiting for a refresh
// another process has in flight.
const minUsableValidity = 15 * time.Second

// maxAuthorizationLen bounds the Authorization header; an lcauth API key is well under 100 characters.
const maxAuthorizationLen = 512

// chatsQueryParams are the GET /chats parameters; anything else is a 400, so typos do not pass silently.
var chatsQueryParams = map[string]bool{
	"limit": true, "page_id": true, "sort_order": true, "active": true, "group_ids": true, "include_chats_without_threads": true,
	paramInstallationID: true,
}

// paramInstallationID names the installation a service key acts for (GET and POST /chats).
const paramInstallationID = "installation_id"

// chats answers GET and POST /chats: authenticate the API key, find the installation it acts for,
// refresh first if its token is about to expire, call List Chats, and return LiveChat's JSON unchanged.
func (s *Server) chats(w http.ResponseWriter, r *http.Request) *apiError {
	var (
		req            livechat.ListChatsRequest
		installationID string
		inputErr       *apiError
	)
	switch r.Method {
	case http.MethodGet:
		req, installationID, inputErr = s.parseChatsQuery(r)
	case http.MethodPost:
		req, installationID, inputErr = s.parseChatsBody(w, r)
	default:
		return methodNotAllowed(w, "GET, POST")
	}
	// The key is checked before the input so that a caller without a valid key learns nothing about
	// our validation; parsing is cheap and bounded (and must consume the body), so it runs first and its
	// error waits until the key is authenticated.
	ctx, cancel := s.withTimeout(r)
	defer cancel()
	c, e := s.authenticate(ctx, r)
	if e != nil {
		return e
	}
	inst, e := s.installationFor(ctx, r, c, installationID)
	if e != nil {
		return e
	}
	if inputErr != nil {
		return inputErr
	}
	if e := validateListChats(req); e != nil {
		return e
	}
	if e := s.usable(r, inst); e != nil {
		return e
	}
	if inst, e = s.freshen(ctx, r, inst); e != nil {
		return e
	}
	return s.listChats(ctx, w, r, inst, req)
}

func validateListChats(req livechat.ListChatsRequest) *apiError {
	err := req.Validate()
	if err == nil {
		return nil
	}
	var ve *livechat.ValidationError
	if errors.As(err, &ve) {
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: strings.TrimPrefix(ve.Error(), "livechat: ")}
	}
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "The request is not valid."}
}

// freshen refreshes the installation first when its access token expires within the refresh margin.
// A token still valid for a while is used as is while another process refreshes it: waiting for that
// process would only add latency.
func (s *Server) freshen(ctx context.Context, r *http.Request, inst *store.Installation) (*store.Installation, *apiError) {
	now := s.now()
	leasedElsewhere := inst.LeaseOwner != "" && inst.LeaseExpiresAt.After(now)
	if inst.ExpiresAt.Sub(now) >= s.refreshMargin || (leasedElsewhere && inst.ExpiresAt.Sub(now) > minUsableValidity) {
		return inst, nil
	}
	ri := infoFrom(r.Context())
	ri.refreshed = "expiring"
	fresh, err := s.refresher.RefreshInstallation(ctx, inst)
	switch {
	case err == nil && fresh != nil:
		return fresh, nil
	case err != nil && inst.ExpiresAt.After(s.now()) && (livechat.IsTransient(err) || errors.Is(err, refresh.ErrRefreshInProgress)):
		// The old token is still valid for a moment: use it rather than fail. The refresher recorded
		// the error; the scheduled pass retries.
		ri.errClass = "refresh_" + string(livechat.Classify(err))
		return inst, nil
	case err != nil:
		return nil, s.mapChatsError(r, err)
	}
	return inst, nil
}

// listChats calls List Chats; on LiveChat's authentication error (token revoked or rotated elsewhere
// before its expiry) it refreshes once and retries once.
func (s *Server) listChats(ctx context.Context, w http.ResponseWriter, r *http.Request, inst *store.Installation, req livechat.ListChatsRequest) *apiError {
	res, err := s.lc.ListChats(ctx, inst.AccessToken, req)
	if err != nil && livechat.Classify(err) == livechat.ClassAuthentication {
		infoFrom(r.Context()).refreshed = "rejected"
		fresh, rerr := s.refresher.RefreshInstallation(ctx, inst)
		if rerr != nil {
			return s.mapChatsError(r, rerr)
		}
		res, err = s.lc.ListChats(ctx, fresh.AccessToken, req)
	}
	if err != nil {
		return s.mapChatsError(r, err)
	}
	return writeChats(w, res.Body)
}

// parseChatsQuery reads the GET parameters into a List Chats request.
func (s *Server) parseChatsQuery(r *http.Request) (livechat.ListChatsRequest, string, *apiError) {
	q, installationID, e := s.chatsQuery(r, chatsQueryParams)
	if e != nil {
		return livechat.ListChatsRequest{}, installationID, e
	}
	req, e := listChatsFromQuery(q)
	return req, installationID, e
}

// chatsQuery parses and bounds the query string, allowing only the names in allowed, each once, and
// takes installation_id out of it (returned even with a 400 about another parameter).
func (s *Server) chatsQuery(r *http.Request, allowed map[string]bool) (url.Values, string, *apiError) {
	unknown := unknownParam("limit, page_id, sort_order, active, group_ids, include_chats_without_threads, installation_id")
	if len(allowed) == 1 {
		unknown = func(string) string {
			return "POST /chats takes its parameters in the JSON body; the query string may hold only installation_id."
		}
	}
	q, e := s.strictQuery(r, allowed, unknown)
	id := ""
	if v, ok := q[paramInstallationID]; ok && len(v) == 1 {
		id = v[0]
	}
	if e != nil {
		return nil, id, e
	}
	delete(q, paramInstallationID)
	return q, id, nil
}

// strictQuery parses and bounds the query string, allowing only the names in allowed, each once;
// unknown(name) is the 400's message for any other name. With a 400 about a name, the parsed query
// is returned too.
func (s *Server) strictQuery(r *http.Request, allowed map[string]bool, unknown func(name string) string) (url.Values, *apiError) {
	if len(r.URL.RawQuery) > s.maxQuery {
		return nil, tooLarge(http.StatusRequestURITooLong, "The query string is too long.")
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("The query string is malformed.")
	}
	for name, vals := range q {
		if !allowed[name] {
			return q, badRequest(unknown(name))
		}
		if len(vals) > 1 {
			return q, badRequest("The parameter " + name + " appears more than once.")
		}
	}
	return q, nil
}

// unknownParam is strictQuery's message for a parameter outside the list (as the 400 spells it).
func unknownParam(list string) func(name string) string {
	return func(name string) string {
		return "Unknown parameter " + strconv.Quote(clip(name, 64)) + "; allowed: " + list + "."
	}
}

// limitParam reads the optional limit parameter, 1 to max (0 when it is absent).
func limitParam(q url.Values, max int) (int, *apiError) {
	v, ok := one(q, "limit")
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit must be an integer from 1 to " + strconv.Itoa(max) + ".")
	}
	return n, nil
}

// listChatsFromQuery reads the GET parameters into a List Chats request.
func listChatsFromQuery(q url.Values) (livechat.ListChatsRequest, *apiError) {
	var req livechat.ListChatsRequest
	var e *apiError
	if req.Limit, e = limitParam(q, livechat.MaxListChatsLimit); e != nil {
		return req, e
	}
	if v, ok := one(q, "sort_order"); ok {
		if v != "asc" && v != "desc" {
			return req, badRequest(`sort_order must be "asc" or "desc".`)
		}
		req.SortOrder = v
	}
	if v, ok := one(q, "page_id"); ok {
		if v == "" {
			return req, badRequest("page_id must not be empty.")
		}
		req.PageID = v
	}
	var f livechat.ChatFilters
	filtered := false
	for _, name := range []string{"active", "include_chats_without_threads"} {
		v, ok := one(q, name)
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return req, badRequest(name + ` must be "true" or "false".`)
		}
		if name == "active" {
			f.Active = &b
		} else {
			f.IncludeChatsWithoutThreads = &b
		}
		filtered = true
	}
	if v, ok := one(q, "group_ids"); ok {
		parts := strings.Split(v, ",")
		if len(parts) > livechat.MaxGroupIDs {
			return req, badRequest("group_ids may name at most 200 groups.")
		}
		for _, p := range parts {
			id, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || id < 0 {
				return req, badRequest("group_ids must be comma-separated non-negative integers.")
			}
			f.GroupIDs = append(f.GroupIDs, id)
		}
		filtered = true
	}
	if filtered {
		req.Filters = &f
	}
	return req, nil
}

// parseChatsBody reads a POST body in LiveChat's list_chats shape, bounded in size, and the
// installation_id of the query string.
func (s *Server) parseChatsBody(w http.ResponseWriter, r *http.Request) (livechat.ListChatsRequest, string, *apiError) {
	_, installationID, e := s.chatsQuery(r, map[string]bool{paramInstallationID: true})
	req, e2 := s.chatsBody(w, r)
	if e == nil {
		e = e2
	}
	return req, installationID, e
}

// chatsBody reads the JSON body of POST /chats.
func (s *Server) chatsBody(w http.ResponseWriter, r *http.Request) (livechat.ListChatsRequest, *apiError) {
	var req livechat.ListChatsRequest
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return req, &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "Send the body as Content-Type: application/json."}
		}
	}
	if r.ContentLength > s.maxBody {
		return req, tooLarge(http.StatusRequestEntityTooLarge, "The body is larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, tooLarge(http.StatusRequestEntityTooLarge, "The body is larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes.")
		}
		return req, badRequest("The body could not be read.")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("The body is not a valid list_chats request: " + jsonProblem(err))
	}
	if dec.More() {
		return req, badRequest("The body must hold one JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, badRequest("The body must hold one JSON object.")
	}
	return req, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10) + "."
	case errors.As(err, &te):
		return "field " + strconv.Quote(clip(te.Field, 64)) + " has the wrong type."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return clip(strings.TrimPrefix(err.Error(), "json: "), 100) + "."
	}
	return "malformed JSON."
}

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg}
}

func one(q map[string][]string, k string) (string, bool) {
	v, ok := q[k]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// parseQuery is url.ParseQuery without its silent acceptance of semicolons as separators.
func parseQuery(raw string) (map[string][]string, error) {
	if strings.Contains(raw, ";") {
		return nil, errors.New("semicolon in query")
	}
	return url.ParseQuery(raw)
}

// withTimeout bounds one request's work.
func (s *Server) withTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.timeout)
}
