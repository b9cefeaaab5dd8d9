package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"lcauth/internal/store"
)

// A reinstall keeps every key (anyone can send a signed-in admin's browser through /install, so a
// reinstall must not revoke a working integration's key). The person who just completed the callback
// may ask for a new key with an explicit POST to <callback>/keys, which must carry:
//   - the grant cookie set by that callback (bound to that browser; sealed with the state key; valid
//     for NewKeyWindow; single use), and
//   - the CSRF token shown on that callback's page (an HMAC of the grant's nonce),
//
// and must not be cross-site (Sec-Fetch-Site / Origin).

// NewKeyPath is appended to the callback path for the new-key POST.
const NewKeyPath = "/keys"

// KeysCookieName is the grant cookie on plain http; on https it is "__Host-" + KeysCookieName.
const KeysCookieName = "lcauth_keys"

// NewKeyWindow is how long after a reinstall the new-key POST is accepted.
const NewKeyWindow = 10 * time.Minute

const (
	grantVersion  = 1
	grantAAD      = "lcauth keys grant v1"
	csrfLabel     = "lcauth keys csrf v1\x00"
	maxFormBytes  = 4 << 10
	grantPlainLen = 1 + 8 + nonceSize
)

// issueGrant seals (version, issued-at, nonce, installation id) into the grant cookie value and
// returns it with the CSRF token for the page.
func (k *stateKeys) issueGrant(now time.Time, installationID string) (cookie, csrf string, err error) {
	plain := make([]byte, grantPlainLen, grantPlainLen+len(installationID))
	plain[0] = grantVersion
	binary.BigEndian.PutUint64(plain[1:9], uint64(now.Unix()))
	if _, err := rand.Read(plain[9:grantPlainLen]); err != nil {
		return "", "", err
	}
	plain = append(plain, installationID...)
	gcmNonce := make([]byte, k.aes.NonceSize())
	if _, err := rand.Read(gcmNonce); err != nil {
		return "", "", err
	}
	sealed := k.aes.Seal(gcmNonce, gcmNonce, plain, []byte(grantAAD))
	return base64.RawURLEncoding.EncodeToString(sealed), k.csrf(plain[9:grantPlainLen]), nil
}

func (k *stateKeys) csrf(nonce []byte) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(csrfLabel))
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errGrant = errors.New("no valid new-key permission")

// openGrant checks the grant cookie and the CSRF token; it returns the installation id and nonce.
func (k *stateKeys) openGrant(now time.Time, cookie, csrf string) (id string, nonce [nonceSize]byte, issued time.Time, err error) {
	if cookie == "" || len(cookie) > maxCookieLen {
		return "", nonce, issued, errGrant
	}
	sealed, err := base64.RawURLEncoding.DecodeString(cookie)
	ns := k.aes.NonceSize()
	if err != nil || len(sealed) < ns+k.aes.Overhead() {
		return "", nonce, issued, errGrant
	}
	plain, err := k.aes.Open(nil, sealed[:ns], sealed[ns:], []byte(grantAAD))
	if err != nil || len(plain) <= grantPlainLen || plain[0] != grantVersion {
		return "", nonce, issued, errGrant
	}
	issued = time.Unix(int64(binary.BigEndian.Uint64(plain[1:9])), 0)
	if age := now.Sub(issued); age > NewKeyWindow || age < -clockSkew {
		return "", nonce, issued, errGrant
	}
	copy(nonce[:], plain[9:grantPlainLen])
	if !hmac.Equal([]byte(csrf), []byte(k.csrf(nonce[:]))) {
		return "", nonce, issued, errGrant
	}
	return string(plain[grantPlainLen:]), nonce, issued, nil
}

func (s *Server) keysCookie(value string, maxAge int) *http.Cookie {
	// Strict: the POST comes from our own page; a cross-site request never carries it.
	return s.hostCookie(KeysCookieName, value, maxAge, http.SameSiteStrictMode)
}

func (s *Server) keysCookieName() string {
	if s.secure {
		return "__Host-" + KeysCookieName
	}
	return KeysCookieName
}

func (s *Server) newKeyURL() string {
	c := *s.callbackURL
	c.RawQuery, c.Fragment, c.RawPath = "", "", ""
	c.Path = strings.TrimSuffix(c.Path, "/") + NewKeyPath
	return c.String()
}

// answerReinstall answers a reinstall: no key, the existing ones keep working; a grant cookie and a
// CSRF token allow this browser to ask for a new key within NewKeyWindow.
func (s *Server) answerReinstall(w http.ResponseWriter, r *http.Request, res callbackResult) *apiError {
	keys, e := s.stateKeys(r.Context())
	if e != nil {
		return e
	}
	cookie, csrf, err := keys.issueGrant(s.now(), res.InstallationID)
	if err != nil {
		return s.internal(r, "grant", err)
	}
	http.SetCookie(w, s.keysCookie(cookie, int(NewKeyWindow.Seconds())))
	res.Reinstalled, res.ExistingKeysKept, res.NewKeyURL, res.CSRFToken = true, true, s.newKeyURL(), csrf
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	renderHTML(w, http.StatusOK, reinstallPage, reinstallData{
		Title: "LiveChat app installed again", OrganizationID: res.OrganizationID, AccountID: res.AccountID,
		InstallationID: res.InstallationID, NewKeyURL: res.NewKeyURL, CSRFToken: csrf, Minutes: int(NewKeyWindow.Minutes()),
	})
	return nil
}

// newKeyResult is the JSON answer of the new-key POST.
type newKeyResult struct {
	InstallationID string `json:"installation_id"`
	KeyID          string `json:"key_id"`
	APIKey         string `json:"api_key"`
	RevokedKeys    int    `json:"revoked_keys"`
}

// newKey answers POST <callback>/keys: a new installation key for the browser that just completed a
// reinstall, optionally revoking the others.
func (s *Server) newKey(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	if e := s.sameOrigin(r); e != nil {
		return e
	}
	form, e := s.newKeyForm(w, r)
	if e != nil {
		return e
	}
	cookie := ""
	if c, err := r.Cookie(s.keysCookieName()); err == nil {
		cookie = c.Value
	}
	http.SetCookie(w, s.keysCookie("", -1)) // single use, whatever happens next
	keys, e := s.stateKeys(r.Context())
	if e != nil {
		return e
	}
	now := s.now()
	id, nonce, issued, err := keys.openGrant(now, cookie, form.Get("csrf_token"))
	if err != nil || !s.used.use(now, nonce, issued.Add(NewKeyWindow+clockSkew)) {
		return &apiError{Status: http.StatusForbidden, Code: CodeNewKeyRefused, Class: "new_key",
			Message: "A new key can be issued only from the page shown right after installing, in the same browser, within " +
				"10 minutes, once. Install the app again to get a new chance."}
	}
	if s.st == nil {
		return noStore()
	}
	ctx, cancel := s.withTimeout(r)
	defer cancel()
	infoFrom(r.Context()).installationID = id
	res, err := s.issueKey(ctx, id, form.Get("revoke_old") == "1")
	switch {
	case errors.Is(err, store.ErrTooManyKeys):
		return &apiError{Status: http.StatusConflict, Code: CodeTooManyKeys,
			Message: "This installation already has the most keys allowed; revoke one (lcauth keys revoke) or tick \"revoke the old keys\"."}
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUninstalled):
		return &apiError{Status: http.StatusForbidden, Code: CodeNewKeyRefused, Message: "The installation is no longer active; install the app again."}
	case err != nil:
		return s.unavailable(r, "store", err)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	renderHTML(w, http.StatusOK, successPage, successData{
		Title: "New API key issued", InstallationID: id, APIKey: res.APIKey, ChatsURL: s.chatsURL, ScriptURL: s.scriptURL,
		RevokedKeys: res.RevokedKeys,
	})
	return nil
}

// issueKey creates the new key and, with revokeOld, revokes every other key of the installation. With
// revokeOld and no room for one more key, the oldest key goes first to make room (the others only once
// the new key exists).
func (s *Server) issueKey(ctx context.Context, id string, revokeOld bool) (newKeyResult, error) {
	const name = "issued after reinstall"
	res := newKeyResult{InstallationID: id}
	k, apiKey, err := s.st.CreateInstallationKey(ctx, id, name)
	if errors.Is(err, store.ErrTooManyKeys) && revokeOld {
		keys, lerr := s.st.ListKeys(ctx, id)
		if lerr != nil {
			return res, lerr
		}
		if len(keys) > 0 {
			if rerr := s.st.RevokeKey(ctx, keys[0].ID); rerr != nil && !errors.Is(rerr, store.ErrKeyNotFound) {
				return res, rerr
			}
			res.RevokedKeys++
		}
		k, apiKey, err = s.st.CreateInstallationKey(ctx, id, name)
	}
	if err != nil {
		return res, err
	}
	res.KeyID, res.APIKey = k.ID, apiKey
	if revokeOld {
		n, err := s.st.RevokeInstallationKeys(ctx, id, k.ID)
		res.RevokedKeys += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// sameOrigin refuses a request a browser marks as cross-site (Sec-Fetch-Site) or, from a browser that
// does not send Sec-Fetch-Site, whose Origin is not ours. Sec-Fetch-Site decides when present: our pages
// are Referrer-Policy: no-referrer, under which Chromium sends "Origin: null" even for a same-origin
// form POST. Non-browser clients send neither header and are not a cross-site risk.
func (s *Server) sameOrigin(r *http.Request) *apiError {
	refuse := &apiError{Status: http.StatusForbidden, Code: CodeCrossSiteRequest, Class: "cross_site",
		Message: "This request came from another site and was refused."}
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" {
		if v != "same-origin" {
			return refuse
		}
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != s.callbackURL.Scheme || u.Host != s.callbackURL.Host {
			return refuse
		}
	}
	return nil
}

// newKeyForm reads the bounded urlencoded form of the new-key POST.
func (s *Server) newKeyForm(w http.ResponseWriter, r *http.Request) (url.Values, *apiError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Message: "Send the form as application/x-www-form-urlencoded."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, tooLarge(http.StatusRequestEntityTooLarge, "The form is too large.")
	}
	form, err := parseQuery(string(body))
	if err != nil {
		return nil, badRequest("The form is malformed.")
	}
	return form, nil
}
