package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed assets/copy.js
var assetFS embed.FS

// AssetParam is the query parameter of the callback URL that names a static asset of the pages
// (/callback?asset=copy.js). Serving assets from the callback route itself needs no extra API route,
// and the CSP's script-src 'self' covers it.
const AssetParam = "asset"

// assetNames are the files that can be asked for.
var assetNames = map[string]bool{"copy.js": true}

// pageCSS is inlined in every page and allowed by its hash, so the CSP needs neither 'unsafe-inline'
// nor another route for a stylesheet.
const pageCSS = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}` +
	`h1{font-size:1.5rem}dt{font-weight:600}dd{margin:0 0 .5rem 0;font-family:ui-monospace,monospace}` +
	`input{width:100%;font-family:ui-monospace,monospace;font-size:1rem;padding:.4rem;box-sizing:border-box}` +
	`pre{background:#f4f4f4;padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}` +
	`.warn{background:#fff4ce;padding:.5rem .75rem}.code{color:#666;font-size:.9rem}button{margin:.4rem 0}input[type=checkbox]{width:auto}`

// contentSecurityPolicy: nothing but our own script file and the inline style above; no framing, no
// connections, no base URL tricks; forms (the reinstall page's new-key form) post only to us.
var contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src '" + hashSource(pageCSS) +
	"'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
	`<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">` +
	`<title>{{.Title}} - lcauth</title><style>` + pageCSS + `</style></head><body><main>`

const pageFoot = `</main></body></html>`

var successPage = template.Must(template.New("success").Parse(pageHead + `
<h1>{{.Title}}</h1>
<p>The LiveChat app is now installed for this organization.</p>
<dl>
{{if .OrganizationID}}<dt>Organization</dt><dd>{{.OrganizationID}}</dd>
<dt>Account</dt><dd>{{.AccountID}}</dd>{{end}}
<dt>Installation</dt><dd>{{.InstallationID}}</dd>
</dl>
<h2>API key</h2>
<p class="warn">This key is shown only once. Store it now. Installing the app again keeps it working.</p>
{{if .RevokedKeys}}<p>{{.RevokedKeys}} older key(s) of this installation were revoked.</p>{{end}}
<label for="api-key">API key</label>
<input id="api-key" type="text" readonly value="{{.APIKey}}" autocomplete="off" spellcheck="false">
<button type="button" data-copy="api-key" hidden>Copy</button>
<h2>Try it</h2>
<pre id="curl">curl -H 'Authorization: Bearer {{.APIKey}}' '{{.ChatsURL}}?limit=10'</pre>
<button type="button" data-copy="curl" hidden>Copy</button>
<script src="{{.ScriptURL}}"></script>
` + pageFoot))

var reinstallPage = template.Must(template.New("reinstall").Parse(pageHead + `
<h1>{{.Title}}</h1>
<p>The LiveChat app was already installed for this organization and has been authorized again.</p>
<dl>
<dt>Organization</dt><dd>{{.OrganizationID}}</dd>
<dt>Account</dt><dd>{{.AccountID}}</dd>
<dt>Installation</dt><dd>{{.InstallationID}}</dd>
</dl>
<p><strong>Your existing API keys keep working.</strong> No new key was issued.</p>
<p>If you need a new key (for example because the old one was lost), you can issue one here within {{.Minutes}} minutes, in this browser:</p>
<form method="post" action="{{.NewKeyURL}}">
<input type="hidden" name="csrf_token" value="{{.CSRFToken}}">
<p><label><input type="checkbox" name="revoke_old" value="1"> Also revoke the old keys</label></p>
<button type="submit">Issue a new key</button>
</form>
` + pageFoot))

var errorPage = template.Must(template.New("error").Parse(pageHead + `
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Hint}}<p>{{.Hint}}</p>{{end}}
{{if .InstallURL}}<p><a href="{{.InstallURL}}">Start the installation again</a></p>{{end}}
<p class="code">Error code: {{.Code}}</p>
` + pageFoot))

type successData struct {
	Title, OrganizationID, AccountID, InstallationID, APIKey, ChatsURL, ScriptURL string
	RevokedKeys                                                                   int
}

type reinstallData struct {
	Title, OrganizationID, AccountID, InstallationID, NewKeyURL, CSRFToken string
	Minutes                                                                int
}

type errorData struct {
	Title, Message, Hint, InstallURL, Code string
}

// errorTitles are the headings of the HTML error pages.
var errorTitles = map[string]string{
	CodeInvalidState:        "This installation link is not valid",
	CodeRestartRefused:      "The installation could not be completed",
	CodeAccessDenied:        "Access was not allowed",
	CodeAuthorizationFailed: "LiveChat reported an error",
	CodeInvalidRequest:      "The request is not valid",
	CodeExchangeFailed:      "The installation could not be completed",
	CodeNotConfigured:       "This service is not configured yet",
	CodeRequestTooLarge:     "The request is too large",
	CodeNotFound:            "Not found",
	CodeMethodNotAllowed:    "Method not allowed",
	CodeInternal:            "Something went wrong",
	CodeCrossSiteRequest:    "The request was refused",
	CodeNewKeyRefused:       "A new key cannot be issued here",
	CodeTooManyKeys:         "Too many keys",
}

func renderHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		// Templates are fixed and tested; this is only reachable through a bug.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeAPIErrorHTML(w http.ResponseWriter, e *apiError, installURL string) {
	title := errorTitles[e.Code]
	if title == "" {
		title = "Error"
	}
	link := e.InstallURL
	switch e.Code {
	case CodeInvalidState, CodeRestartRefused, CodeAccessDenied, CodeAuthorizationFailed, CodeExchangeFailed, CodeInternal:
		link = installURL
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	renderHTML(w, e.Status, errorPage, errorData{Title: title, Message: e.Message, Hint: e.Hint, InstallURL: link, Code: e.Code})
}

// serveAsset answers GET <callback path>?asset=<name> for the embedded files.
func serveAsset(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET, HEAD")
	}
	q := r.URL.Query()
	name := q.Get(AssetParam)
	if len(q) != 1 || len(q[AssetParam]) != 1 || !assetNames[name] {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such asset."}
	}
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such asset."}
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
	return nil
}

func methodNotAllowed(w http.ResponseWriter, allow string) *apiError {
	w.Header().Set("Allow", allow)
	return &apiError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "Use " + allow + "."}
}
