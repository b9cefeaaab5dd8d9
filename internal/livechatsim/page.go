package livechatsim

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
)

// The consent page (GET /) and its form (POST /).
//
// Allow redirects to the redirect URI with ?code=<region>%3A...&state=..., as LiveChat
// does. Deny is where the simulator knowingly departs from LiveChat: LiveChat sends a
// refusing user to its own accounts.livechat.com/ooops page, and whether an
// ?error=access_denied ever reaches the redirect URI is unverified. The simulator
// redirects Deny to the redirect URI with error=access_denied (RFC 6749 section
// 4.1.2.1) and the state, so that the callback's error path can be exercised end to
// end. Invalid requests (unknown client_id, redirect_uri not whitelisted, bad PKCE
// parameters) do go to the simulator's own /ooops page, never to the redirect URI.
//
// The pages use no JavaScript and no external assets; their only inline CSS is allowed
// by hash in the Content-Security-Policy.

const pageCSS = `body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1b1f24;margin:0}
main{max-width:30rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 .5rem}
.note{color:#5b6470;font-size:.9rem}
fieldset{border:1px solid #dfe3e8;border-radius:8px;margin:1rem 0;padding:.75rem 1rem}
legend{font-weight:600;padding:0 .3rem}
label{display:block;margin:.35rem 0}
code{background:#f0f2f4;padding:.1rem .3rem;border-radius:4px;word-break:break-all}
ul{padding-left:1.2rem}
.buttons{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #c5ccd3;background:#fff;cursor:pointer}
button.allow{background:#ff5100;border-color:#ff5100;color:#fff;font-weight:600}
.error{color:#b00020}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; frame-ancestors 'none'"
}()

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Authorize {{.ClientID}} - LiveChat simulator</title><style>{{.CSS}}</style></head>
<body><main>
<h1>Allow <code>{{.ClientID}}</code> to access your LiveChat account?</h1>
<p class="note">LiveChat simulator: no real LiveChat account is involved. <a href="{{.AppsPath}}">Installed apps</a> lets you uninstall the app again.</p>
<form method="post" action="{{.Action}}">
<fieldset><legend>Sign in as</legend>
{{range $i, $a := .Accounts}}<label><input type="radio" name="account_id" value="{{$a.AccountID}}"{{if eq $i 0}} checked{{end}}> {{$a.Email}} <span class="note">(region {{$a.Region}}, {{$a.Chats}} chats)</span></label>
{{end}}</fieldset>
<p>The app asks for:</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<p class="note">You will be sent back to <code>{{.RedirectURI}}</code>.</p>
<div class="buttons">
<button type="submit" name="decision" value="allow" class="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
</main></body></html>
`))

var ooopsTmpl = template.Must(template.New("ooops").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ooops - LiveChat simulator</title><style>{{.CSS}}</style></head>
<body><main>
<h1 class="error">Ooops, something went wrong</h1>
<p>The authorization request was refused.</p>
<p><strong>oauth_exception:</strong> <code>{{.Exception}}</code></p>
{{if .Details}}<p><strong>exception_details:</strong> {{.Details}}</p>{{end}}
<p class="note">LiveChat simulator. LiveChat shows errors like this on its own page and does not redirect back to the app.</p>
</main></body></html>
`))

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// handleAuthorizePage is GET /: validate, then show the consent page.
func (s *Simulator) handleAuthorizePage(w http.ResponseWriter, r *http.Request) {
	if s.intercept(EndpointAuthorize, w, r) {
		return
	}
	ar, aerr := s.validateAuthorize(r.URL.Query())
	if aerr == nil {
		aerr = s.checkRedirectLimit()
	}
	if aerr != nil {
		http.Redirect(w, r, aerr.ooopsURL().String(), http.StatusFound)
		return
	}
	s.mu.Lock()
	s.pickAccountLocked("") // make sure there is someone to sign in as
	s.mu.Unlock()
	data := struct {
		ClientID, RedirectURI string
		Action                string
		Accounts              []Account
		Scopes                []string
		AppsPath              string
		CSS                   template.CSS
	}{
		ClientID:    s.opts.ClientID,
		RedirectURI: ar.redirectURI,
		Action:      "/?" + r.URL.RawQuery,
		Accounts:    s.Accounts(),
		Scopes:      strings.Split(s.opts.Scope, ","),
		AppsPath:    PathApps,
		CSS:         template.CSS(pageCSS),
	}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = consentTmpl.Execute(w, data)
}

// handleConsent is POST /: the Allow or Deny button.
func (s *Simulator) handleConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ar, aerr := s.validateAuthorize(r.URL.Query())
	if aerr != nil {
		http.Redirect(w, r, aerr.ooopsURL().String(), http.StatusFound)
		return
	}
	var allow bool
	switch r.PostForm.Get("decision") {
	case "allow":
		allow = true
	case "deny":
	default:
		http.Error(w, "decision must be allow or deny", http.StatusBadRequest)
		return
	}
	target, err := s.redirectFor(ar, r.PostForm.Get("account_id"), allow)
	if err != nil {
		http.Error(w, "unknown account", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// handleOoops is LiveChat's error page for refused authorization requests.
func (s *Simulator) handleOoops(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := struct {
		Exception, Details string
		CSS                template.CSS
	}{q.Get("oauth_exception"), q.Get("exception_details"), template.CSS(pageCSS)}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = ooopsTmpl.Execute(w, data)
}
