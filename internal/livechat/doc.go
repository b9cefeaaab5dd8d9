// Package livechat is the project's only client of LiveChat: the Accounts OAuth server
// (authorize URL, code exchange, refresh, token info, revoke) and the Agent Chat Web API
// (List Chats).
//
// What it guarantees to its callers:
//
//   - Every call takes a context.Context; a call whose context has no deadline gets
//     Config.Timeout (10s by default), so nothing waits forever on LiveChat.
//   - Every response body is read through a size limit (1 MiB for Accounts endpoints,
//     10 MiB for List Chats); a larger body is a *ResponseError, never a panic or an OOM.
//   - Errors are typed (*TokenError, *APIError, *ValidationError, *ResponseError,
//     *TransportError) and Classify maps any of them to the one decision callers make:
//     re-authorize, stop because our configuration is wrong, retry later, or give up.
//   - No access token, refresh token, authorization code or client secret ever appears
//     in an error string; Token's String, GoString and LogValue redact both tokens.
//   - A misdirected_request answer from the Agent API is retried once, by the client
//     itself, with the X-Region header LiveChat asked for.
//
// The token endpoint is called directly rather than through golang.org/x/oauth2's
// Config.Exchange: LiveChat answers with extra fields we must keep (account_id,
// organization_id) and with two error shapes of its own (the current {"error": ...} and
// the legacy {"oauth_exception": ...}) that oauth2.RetrieveError does not parse, and
// the client secret must be fetched per call from a SecretSource. x/oauth2 is still
// used where it fits: AuthCodeURL with AuthStyleInParams, and the PKCE helpers.
package livechat
