//go:build linux

package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/chromedp/chromedp"

	"lcauth/internal/dynalite"
	"lcauth/internal/livechatsim"
	"lcauth/internal/store"
	"lcauth/internal/testrig/dynalitetest"
)

// TestBrowser_UninstallThroughTheSimulatorsButton is issue 11's story in local mode, as a person sees
// it: install in the browser, press the simulator's "Uninstall app" button (LiveChat's App Webhook
// reaches lcauth dev's /webhooks/livechat with the generated secret), then the key is refused with 401
// uninstalled, the refresher leaves the installation alone, and installing again gives a new key
// that works.
func TestBrowser_UninstallThroughTheSimulatorsButton(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	// Tokens of one minute are always due (window 60m), so every pass (each second) refreshes every
	// active installation: a pass that touched the uninstalled one would show.
	dev := startDev(t, devOptions{
		Args: []string{"-simulator-token-lifetime", "1m"},
		Env:  []string{"LCAUTH_REFRESH_INTERVAL=1s", "LCAUTH_LOG_LEVEL=debug"},
	})
	if dev.simURL == "" {
		t.Fatalf("lcauth dev did not start the simulator:\n%s", dev.out())
	}
	if !strings.Contains(dev.out(), "/webhooks/livechat?secret=") {
		t.Fatalf("the banner does not print the webhook URL:\n%s", dev.out())
	}

	key := installInBrowser(t, ctx, dev)
	id := key[len(store.APIKeyPrefix) : len(store.APIKeyPrefix)+store.IDLength]
	waitFor(t, "a refresh pass to refresh the new installation", func() bool { return itemVersion(t, dev, id) > 1 })
	if status, body := chatsStatus(t, dev, key); status != http.StatusOK {
		t.Fatalf("/chats before the uninstall: %d %v", status, body)
	}

	step(t, ctx, "open the simulator's installed apps", chromedp.Navigate(dev.simURL+livechatsim.PathApps),
		chromedp.WaitVisible(chromedp.CSS("button.allow")))
	if b := read(t, ctx, "button", chromedp.Text(chromedp.CSS("button.allow"))); b != "Uninstall app" {
		t.Fatalf("button says %q, want Uninstall app", b)
	}
	step(t, ctx, "click Uninstall app", chromedp.Click(chromedp.CSS("button.allow")), chromedp.WaitVisible(chromedp.ID("result")))
	result := read(t, ctx, "result", chromedp.Text(chromedp.ID("result")))
	if !strings.Contains(result, "answered 200") || !strings.Contains(result, `"result":"uninstalled"`) {
		t.Fatalf("the simulator's page says %q, want the webhook delivered and lcauth's answer", result)
	}
	saveArtifact(t, "uninstalled-page.png", read(t, ctx, "screenshot", chromedp.FullScreenshot(100)))

	status, body := chatsStatus(t, dev, key)
	e, _ := body["error"].(map[string]any)
	if status != http.StatusUnauthorized || e["code"] != "uninstalled" || e["install_url"] != dev.installURL {
		t.Fatalf("/chats after the uninstall: %d %v, want 401 uninstalled with install_url %s", status, body, dev.installURL)
	}
	item := rawItem(t, dev, id)
	if s := item["status"].(*types.AttributeValueMemberS).Value; s != "uninstalled" || item["access_token"] != nil || item[store.AttrDueAt] != nil {
		t.Fatalf("item after the uninstall: status %s, tokens or due index left: %v", s, item)
	}
	version, passes := itemVersion(t, dev, id), strings.Count(dev.errOut(), "refresh pass")
	waitFor(t, "three more refresh passes", func() bool { return strings.Count(dev.errOut(), "refresh pass") >= passes+3 })
	if v := itemVersion(t, dev, id); v != version {
		t.Fatalf("a refresh pass changed the uninstalled installation (version %d -> %d)", version, v)
	}

	again := installInBrowser(t, ctx, dev)
	if again == key || !strings.HasPrefix(again, store.APIKeyPrefix+id+"_") {
		t.Fatal("installing again did not give a new key for the same installation")
	}
	if status, body := chatsStatus(t, dev, again); status != http.StatusOK {
		t.Fatalf("/chats with the new key: %d %v", status, body)
	}
	if status, _ := chatsStatus(t, dev, key); status != http.StatusUnauthorized {
		t.Fatalf("the old key works again after the reinstall (%d)", status)
	}
	if logs := dev.out() + dev.errOut(); strings.Contains(logs, key) || strings.Contains(logs, again) {
		t.Fatal("lcauth dev's output contains an API key")
	}
}

// installInBrowser runs /install -> Allow -> the success page and returns the API key it shows.
func installInBrowser(t *testing.T, ctx context.Context, dev *devProcess) string {
	t.Helper()
	step(t, ctx, "open /install", chromedp.Navigate(dev.installURL), chromedp.WaitVisible(chromedp.CSS("button.allow")))
	step(t, ctx, "click Allow", chromedp.Click(chromedp.CSS("button.allow")), chromedp.WaitVisible(chromedp.ID("api-key")))
	key := read(t, ctx, "API key", chromedp.Value(chromedp.ID("api-key")))
	if !strings.HasPrefix(key, store.APIKeyPrefix) || len(key) < len(store.APIKeyPrefix)+store.IDLength+2 {
		t.Fatalf("the success page shows no API key (%d characters)", len(key))
	}
	return key
}

func chatsStatus(t *testing.T, dev *devProcess, key string) (int, map[string]any) {
	t.Helper()
	r := dev.site(t).Chats(key, "limit=2")
	return r.Status, r.JSON(t)
}

// rawItem reads the installation's item from lcauth dev's dynalite, as stored.
func rawItem(t *testing.T, dev *devProcess, id string) map[string]types.AttributeValue {
	t.Helper()
	return dynalitetest.RawItem(t, dynalite.NewClient(dev.dynamoURL), "lcauth", id)
}

func itemVersion(t *testing.T, dev *devProcess, id string) int64 {
	t.Helper()
	v, _ := rawItem(t, dev, id)["version"].(*types.AttributeValueMemberN)
	if v == nil {
		t.Fatalf("item %s has no version", id)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
