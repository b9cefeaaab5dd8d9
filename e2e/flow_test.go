//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// installResult is /callback's JSON answer (Accept: application/json).
type installResult struct {
	InstallationID string `json:"installation_id"`
	OrganizationID string `json:"organization_id"`
	AccountID      string `json:"account_id"`
	APIKey         string `json:"api_key"`
}

// newFlowClient is an HTTP client that behaves like a browser for the install flow's cookies but
// stops at every redirect, so a flow can check each hop.
func newFlowClient(t *testing.T, transport http.RoundTripper) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Transport:     transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// consentFunc plays the user on LiveChat's consent page: given the authorize URL /install redirected
// to, it returns the URL LiveChat sends the browser back to.
type consentFunc func(ctx context.Context, authorizeURL string) (string, error)

// installOverHTTP runs /install -> consent -> /callback with client (whose jar carries the state
// cookie from /install to /callback) and returns /callback's JSON.
func installOverHTTP(ctx context.Context, client *http.Client, installURL string, consent consentFunc) (installResult, error) {
	var res installResult
	resp, err := get(ctx, client, installURL, "")
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusFound {
		return res, fmt.Errorf("/install answered %d, want 302", resp.StatusCode)
	}
	callbackURL, err := consent(ctx, resp.Header.Get("Location"))
	if err != nil {
		return res, err
	}
	resp, err = get(ctx, client, callbackURL, "application/json")
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("/callback answered %d: %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("/callback JSON: %w", err)
	}
	if !strings.HasPrefix(res.APIKey, "lca_") || res.InstallationID == "" {
		return res, fmt.Errorf("/callback's answer lacks an API key or installation id (installation %q)", res.InstallationID)
	}
	return res, nil
}

var accountRadio = regexp.MustCompile(`name="account_id" value="([^"]+)"`)

// consentOverHTTP clicks Allow on the simulator's consent page with plain HTTP: GET the page, POST
// its form with the first account.
func consentOverHTTP(client *http.Client) consentFunc {
	return func(ctx context.Context, authorizeURL string) (string, error) {
		resp, err := get(ctx, client, authorizeURL, "")
		if err != nil {
			return "", err
		}
		page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("consent page answered %d: %s", resp.StatusCode, page)
		}
		m := accountRadio.FindSubmatch(page)
		if m == nil {
			return "", fmt.Errorf("consent page has no account to sign in as: %s", page)
		}
		form := url.Values{"decision": {"allow"}, "account_id": {string(m[1])}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, authorizeURL, strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err = client.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return "", fmt.Errorf("Allow answered %d, want 302", resp.StatusCode)
		}
		return resp.Header.Get("Location"), nil
	}
}

func get(ctx context.Context, client *http.Client, u, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return client.Do(req)
}

// getJSON sends a GET with headers and decodes a JSON answer of at most 1 MiB.
func getJSON(ctx context.Context, client *http.Client, u string, header http.Header) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s answered %d with a body that is not JSON: %q", u, resp.StatusCode, b)
	}
	return resp.StatusCode, body, nil
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }
