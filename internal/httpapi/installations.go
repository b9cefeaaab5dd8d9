package httpapi

import (
	"errors"
	"net/http"
	"time"

	"lcauth/internal/store"
)

// installationsQueryParams are the GET /installations parameters.
var installationsQueryParams = map[string]bool{"limit": true, "page_token": true, "status": true}

// installationView is one installation in GET /installations: no tokens, no key hashes, ever.
type installationView struct {
	InstallationID  string     `json:"installation_id"`
	OrganizationID  string     `json:"organization_id"`
	AccountID       string     `json:"account_id"`
	Status          string     `json:"status"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	ExpiresAt       *time.Time `json:"expires_at"`        // null once uninstalled (tokens erased)
	LastRefreshedAt *time.Time `json:"last_refreshed_at"` // null until the first refresh
}

type installationsPage struct {
	Installations []installationView `json:"installations"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

// installations answers GET /installations for a service key: one page of installations. An
// installation key is refused (403 service_key_required).
func (s *Server) installations(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	opts, inputErr := s.installationsQuery(r)
	ctx, cancel := s.withTimeout(r)
	defer cancel()
	c, e := s.authenticate(ctx, r)
	if e != nil {
		return e
	}
	if !c.service {
		return &apiError{Status: http.StatusForbidden, Code: CodeServiceKeyRequired,
			Message: "Listing installations needs a service key (lcs_...); an installation key reaches only its own installation."}
	}
	if inputErr != nil {
		return inputErr
	}
	page, err := s.st.ListInstallations(ctx, opts)
	if errors.Is(err, store.ErrInvalid) {
		return badRequest("page_token is not valid.")
	}
	if err != nil {
		return s.unavailable(r, "store", err)
	}
	out := installationsPage{Installations: make([]installationView, 0, len(page.Installations)), NextPageToken: page.NextPageToken}
	for _, inst := range page.Installations {
		out.Installations = append(out.Installations, installationView{
			InstallationID: inst.ID, OrganizationID: inst.OrganizationID, AccountID: inst.AccountID, Status: string(inst.Status),
			CreatedAt: inst.CreatedAt.UTC(), UpdatedAt: inst.UpdatedAt.UTC(),
			ExpiresAt: store.OptionalTime(inst.ExpiresAt), LastRefreshedAt: store.OptionalTime(inst.LastRefreshedAt),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// installationsQuery reads limit (1-100, default 50), page_token and status.
func (s *Server) installationsQuery(r *http.Request) (store.ListOptions, *apiError) {
	var o store.ListOptions
	q, e := s.strictQuery(r, installationsQueryParams, unknownParam("limit, page_token, status"))
	if e != nil {
		return o, e
	}
	if o.Limit, e = limitParam(q, store.MaxListLimit); e != nil {
		return o, e
	}
	if v, ok := one(q, "status"); ok {
		switch st := store.Status(v); st {
		case store.StatusActive, store.StatusReauthorizationRequired, store.StatusUninstalled:
			o.Status = st
		default:
			return o, badRequest(`status must be "active", "reauthorization_required" or "uninstalled".`)
		}
	}
	if v, ok := one(q, "page_token"); ok {
		if v == "" {
			return o, badRequest("page_token must not be empty.")
		}
		o.PageToken = v
	}
	return o, nil
}
