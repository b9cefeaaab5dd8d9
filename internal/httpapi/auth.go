package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"lcauth/internal/store"
)

// caller is who a request's API key belongs to: the app maker's backend (a service key, which reaches
// every installation) or one installation's integration (an installation key).
type caller struct {
	service bool
	keyID   string              // the service key's id
	inst    *store.Installation // the installation key's installation
}

// authenticate checks the request's Bearer key (lca_ or lcs_) against the store. Unknown, wrong,
// revoked and malformed keys are all answered with the same 401.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (caller, *apiError) {
	key, e := bearerKey(r)
	if e != nil {
		return caller{}, e
	}
	if s.st == nil {
		return caller{}, noStore()
	}
	ri := infoFrom(r.Context())
	if strings.HasPrefix(key, store.ServiceKeyPrefix) {
		k, err := s.st.AuthenticateService(ctx, key)
		if err != nil {
			return caller{}, s.authError(r, err)
		}
		ri.keyID = k.ID
		return caller{service: true, keyID: k.ID}, nil
	}
	inst, err := s.st.Authenticate(ctx, key)
	if err != nil {
		return caller{}, s.authError(r, err)
	}
	ri.installationID = inst.ID
	return caller{inst: inst}, nil
}

func (s *Server) authError(r *http.Request, err error) *apiError {
	if errors.Is(err, store.ErrUnauthorized) {
		return unauthorized(`error="invalid_token"`, "The API key is not valid.")
	}
	return s.unavailable(r, "store", err)
}

// bearerKey extracts the API key from "Authorization: Bearer lca_..." (or lcs_...).
func bearerKey(r *http.Request) (string, *apiError) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 || h[0] == "" {
		return "", unauthorized("", "An API key is required: Authorization: Bearer lca_... (or a service key, lcs_...)")
	}
	if len(h) > 1 || len(h[0]) > maxAuthorizationLen {
		return "", unauthorized(`error="invalid_request"`, "The Authorization header is malformed.")
	}
	scheme, key, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", unauthorized(`error="invalid_request"`, "Use Authorization: Bearer lca_...")
	}
	if !strings.HasPrefix(key, store.APIKeyPrefix) && !strings.HasPrefix(key, store.ServiceKeyPrefix) {
		return "", unauthorized(`error="invalid_token"`, "The API key is not valid.")
	}
	return key, nil
}

func unauthorized(challengeParams, msg string) *apiError {
	challenge := `Bearer realm="lcauth"`
	if challengeParams != "" {
		challenge += ", " + challengeParams
	}
	return &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg, challenge: challenge}
}

// installationFor resolves the installation a /chats request acts for. A service key must name one
// (installation_id); an installation key acts for its own and is refused (before any LiveChat call)
// when it names another.
func (s *Server) installationFor(ctx context.Context, r *http.Request, c caller, installationID string) (*store.Installation, *apiError) {
	if !c.service {
		if installationID != "" && installationID != c.inst.ID {
			return nil, &apiError{Status: http.StatusForbidden, Code: CodeInstallationMismatch,
				Message: "This API key belongs to another installation than installation_id names."}
		}
		return c.inst, nil
	}
	if installationID == "" {
		return nil, badRequest("A service key must name the installation: add ?installation_id=... (on GET and POST).")
	}
	inst, err := s.st.Get(ctx, installationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &apiError{Status: http.StatusNotFound, Code: CodeInstallationNotFound, Message: "No installation has that installation_id."}
	}
	if err != nil {
		return nil, s.unavailable(r, "store", err)
	}
	infoFrom(r.Context()).installationID = inst.ID
	return inst, nil
}

// usable refuses installations that cannot call LiveChat: uninstalled (401 for the installation's own
// key, whose key no longer works (issue 11); 410 for a service key, whose key is fine) or needing
// re-authorization (401 for the installation's own key, as before; 409 for a service key).
func (s *Server) usable(r *http.Request, inst *store.Installation) *apiError {
	ri := infoFrom(r.Context())
	switch inst.Status {
	case store.StatusUninstalled:
		ri.errDetail = "installation status uninstalled"
		return s.uninstalled(r)
	case store.StatusReauthorizationRequired:
		ri.errDetail = "installation status reauthorization_required"
		return s.reauthorization(r, "This installation's authorization was withdrawn or expired.")
	}
	return nil
}

// uninstalled answers for an uninstalled installation: 401 to its own key (issue 11: the key no longer
// works), 410 to a service key (the key is fine; the installation is gone).
func (s *Server) uninstalled(r *http.Request) *apiError {
	status := http.StatusUnauthorized
	if infoFrom(r.Context()).keyID != "" {
		status = http.StatusGone
	}
	return &apiError{Status: status, Code: CodeUninstalled, InstallURL: s.installURL,
		Message: "This installation was uninstalled. Installing the app again at " + s.installURL + " starts afresh (with a new key)."}
}
