//go:build linux

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which `make setup` installs when it is missing.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and returns a tab's context. It fails the
// test, never skips, when Chromium is missing.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if !fileExists(chromiumPath) {
		t.Fatalf("Chromium is required for the browser tests and %s is missing: run `make setup` (it installs Debian's chromium package)", chromiumPath)
	}
	var browserLog strings.Builder
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
		chromedp.CombinedOutput(writerFunc(func(p []byte) (int, error) {
			if browserLog.Len() < 64<<10 {
				browserLog.Write(p)
			}
			return len(p), nil
		})),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", browserLog.String())
		}
	})
	// Start the browser with no deadline: the first Run binds the browser's life to its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a deadline, failing the test with what it was doing.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page: %s)", what, err, loc)
	}
}

// read runs one browser action that returns a value, with a deadline.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page: %s)", what, err, loc)
	}
	return v
}

// TestBrowser_InstallFlowInLocalMode drives `lcauth dev` with Chromium the way a person does: open
// /install, land on the (simulated) LiveChat consent page, Allow, read the API key from the success
// page and call /chats with it; then Deny, and a state tampered with on the way, each end on the
// right error page.
func TestBrowser_InstallFlowInLocalMode(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	dev := startDev(t, devOptions{})
	if dev.simURL == "" {
		t.Fatalf("lcauth dev without LiveChat credentials did not start the simulator:\n%s", dev.out())
	}

	var firstKey string // the key the first install showed
	t.Run("AllowShowsTheAPIKeyThatListsChats", func(t *testing.T) {
		step(t, ctx, "open /install", chromedp.Navigate(dev.installURL), chromedp.WaitVisible(chromedp.CSS("button.allow")))
		loc := read(t, ctx, "location", chromedp.Location())
		if !strings.HasPrefix(loc, dev.simURL+"/") {
			t.Fatalf("/install led to %s, want the simulator's consent page at %s", loc, dev.simURL)
		}
		step(t, ctx, "click Allow", chromedp.Click(chromedp.CSS("button.allow")), chromedp.WaitVisible(chromedp.ID("api-key")))
		loc = read(t, ctx, "location", chromedp.Location())
		if !strings.HasPrefix(loc, dev.baseURL+"/callback?") {
			t.Fatalf("Allow led to %s, want %s/callback", loc, dev.baseURL)
		}
		if h1 := read(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1"))); h1 != "LiveChat app installed" {
			t.Fatalf("success page heading %q, want %q", h1, "LiveChat app installed")
		}
		apiKey := read(t, ctx, "API key", chromedp.Value(chromedp.ID("api-key")))
		if !strings.HasPrefix(apiKey, "lca_") {
			t.Fatalf("the success page shows an API key of an unexpected shape (%d characters)", len(apiKey))
		}
		firstKey = apiKey
		shot := read(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		saveArtifact(t, "success-page.png", shot)

		site := dev.site(t)
		site.ListChats(apiKey, 5) // the page's API key works
		site.Chats(apiKey+"x", "").Want(t, http.StatusUnauthorized, "")
		if logs := dev.out() + dev.errOut(); strings.Contains(logs, apiKey) || strings.Contains(logs, apiKey[len(apiKey)-12:]) {
			t.Fatal("lcauth dev's output contains the API key")
		}
	})

	// Installing again keeps the key; the page's form (a real same-origin POST with the SameSite=Strict
	// grant cookie, allowed by the CSP's form-action 'self') issues a new one on request.
	t.Run("ReinstallKeepsTheKeyAndTheFormIssuesANewOne", func(t *testing.T) {
		if firstKey == "" {
			t.Fatal("the first install showed no key")
		}
		step(t, ctx, "open /install", chromedp.Navigate(dev.installURL), chromedp.WaitVisible(chromedp.CSS("button.allow")))
		step(t, ctx, "click Allow", chromedp.Click(chromedp.CSS("button.allow")), chromedp.WaitVisible(chromedp.CSS(`form[action$="/callback/keys"] button`)))
		if h1 := read(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1"))); h1 != "LiveChat app installed again" {
			t.Fatalf("reinstall page heading %q", h1)
		}
		if n := read(t, ctx, "API key field", chromedp.Evaluate[int](`document.querySelectorAll("#api-key").length`)); n != 0 {
			t.Fatal("the reinstall page shows a key")
		}
		site := dev.site(t)
		if r := site.Chats(firstKey, "limit=1"); r.Status != http.StatusOK {
			t.Fatalf("the first key after the reinstall: status %d, want 200; body %s", r.Status, r.Body)
		}
		step(t, ctx, "click Issue a new key", chromedp.Click(chromedp.CSS(`form[action$="/callback/keys"] button`)), chromedp.WaitVisible(chromedp.CSS("#api-key, p.code")))
		if n := read(t, ctx, "API key field", chromedp.Evaluate[int](`document.querySelectorAll("#api-key").length`)); n != 1 {
			t.Fatalf("the new-key form answered %q", read(t, ctx, "page", chromedp.Text(chromedp.CSS("main"))))
		}
		if h1 := read(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1"))); h1 != "New API key issued" {
			t.Fatalf("new-key page heading %q", h1)
		}
		newKey := read(t, ctx, "new API key", chromedp.Value(chromedp.ID("api-key")))
		if !strings.HasPrefix(newKey, "lca_") || newKey == firstKey {
			t.Fatalf("the new-key page shows an unexpected key (%d characters)", len(newKey))
		}
		for _, k := range []string{firstKey, newKey} {
			if r := site.Chats(k, "limit=1"); r.Status != http.StatusOK {
				t.Fatalf("/chats with a key after the new-key form: status %d, want 200; body %s", r.Status, r.Body)
			}
		}
	})

	t.Run("DenyShowsAccessNotAllowed", func(t *testing.T) {
		step(t, ctx, "open /install", chromedp.Navigate(dev.installURL), chromedp.WaitVisible(chromedp.CSS(`button[value="deny"]`)))
		step(t, ctx, "click Deny", chromedp.Click(chromedp.CSS(`button[value="deny"]`)), chromedp.WaitVisible(chromedp.CSS("p.code")))
		assertErrorPage(t, ctx, dev, "Access was not allowed", "access_denied")
	})

	t.Run("TamperedStateShowsInvalidLink", func(t *testing.T) {
		step(t, ctx, "open /install", chromedp.Navigate(dev.installURL), chromedp.WaitVisible(chromedp.CSS("button.allow")))
		consent, err := url.Parse(read(t, ctx, "location", chromedp.Location()))
		if err != nil {
			t.Fatal(err)
		}
		q := consent.Query()
		state := q.Get("state")
		if len(state) < 10 {
			t.Fatalf("the authorization request carries no usable state: %q", state)
		}
		// Flip one character in the middle: still well-formed, no longer what lcauth signed.
		mid := len(state) / 2
		flipped := byte('A')
		if state[mid] == 'A' {
			flipped = 'B'
		}
		q.Set("state", state[:mid]+string(flipped)+state[mid+1:])
		consent.RawQuery = q.Encode()
		step(t, ctx, "open the consent page with a tampered state", chromedp.Navigate(consent.String()), chromedp.WaitVisible(chromedp.CSS("button.allow")))
		step(t, ctx, "click Allow", chromedp.Click(chromedp.CSS("button.allow")), chromedp.WaitVisible(chromedp.CSS("p.code")))
		assertErrorPage(t, ctx, dev, "This installation link is not valid", "invalid_state")
		if n := read(t, ctx, "API key field", chromedp.Evaluate[int](`document.querySelectorAll("#api-key").length`)); n != 0 {
			t.Fatal("a tampered state produced a page with an API key")
		}
	})
}

// assertErrorPage checks that the browser shows lcauth's error page with heading and error code.
func assertErrorPage(t *testing.T, ctx context.Context, dev *devProcess, heading, code string) {
	t.Helper()
	loc := read(t, ctx, "location", chromedp.Location())
	if !strings.HasPrefix(loc, dev.baseURL+"/callback") {
		t.Fatalf("ended on %s, want lcauth's /callback", loc)
	}
	if h1 := read(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1"))); h1 != heading {
		t.Fatalf("error page heading %q, want %q", h1, heading)
	}
	if got := read(t, ctx, "error code", chromedp.Text(chromedp.CSS("p.code"))); !strings.Contains(got, code) {
		t.Fatalf("error page says %q, want error code %s", got, code)
	}
	link := read(t, ctx, "retry link", chromedp.AttributeValue(chromedp.CSS("a"), "href"))
	if !link.Exists || link.Value != dev.installURL {
		t.Fatalf("the error page's link is %+v, want %s", link, dev.installURL)
	}
}

// saveArtifact writes a test artifact under a temporary folder that outlives the test, and logs it.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("LCAUTH_E2E_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "lcauth-e2e-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s (%d bytes)", path, len(data))
}
