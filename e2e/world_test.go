//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"lcauth/internal/config"
	"lcauth/internal/dynalite"
	"lcauth/internal/httpapi"
	"lcauth/internal/livechatsim"
	"lcauth/internal/testrig/dynalitetest"
	"lcauth/internal/testrig/harness"
	"lcauth/internal/testrig/kmsfake"
	"lcauth/internal/testrig/simtest"
	"lcauth/internal/testrig/smfake"
	"lcauth/internal/testrig/syncbuf"
)

// Deploy-time values the stack would put in the functions' environment, here pointing at the local
// stand-ins. The public URL looks like an API Gateway default endpoint: https, as in AWS.
const (
	worldBaseURL   = "https://lcauth-e2e.execute-api.us-east-1.amazonaws.com"
	worldSecretARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:lcauth-client-secret-e2eAbC"
	// worldWebhookSecretARN holds worldWebhookSecret, the secret of the App Webhooks URL.
	worldWebhookSecretARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:lcauth-webhook-secret-e2eDeF"
	worldWebhookSecret    = "e2e-webhook-secret-Qm9vZ2xlIGl0IHlvdXJzZWxm"
	worldRegion           = "us-east-1"
	// worldStateKeyARN is the stack's generated state key (install and callback only).
	worldStateKeyARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:lcauth-state-key-e2eGhI"
)

// world is what AWS and LiveChat would be for the deployed functions: dynalite with the table, the
// LiveChat simulator, and the Secrets Manager and KMS fakes, all on 127.0.0.1.
type world struct {
	sim      *livechatsim.Simulator
	simURL   string
	kms      *kmsfake.Server
	sm       *smfake.Fake
	smURL    string
	dynamo   *dynalite.Server
	db       *dynamodb.Client
	table    string
	kmsKeyID string
}

// worldOptions adjusts newWorld.
type worldOptions struct {
	// TokenLifetime of the simulator's access tokens; default LiveChat's 8h.
	TokenLifetime time.Duration
}

// newWorld starts the stand-ins; everything stops when the test ends.
func newWorld(tb testing.TB, opts worldOptions) *world {
	tb.Helper()
	w := &world{}
	secret := "e2e-client-secret-" + randomID()
	var simSrv *httptest.Server
	w.sim, simSrv = simtest.NewServer(tb, livechatsim.Options{
		ClientSecret:  secret,
		RedirectURIs:  []string{worldBaseURL + "/callback"},
		TokenLifetime: opts.TokenLifetime,
		Seed:          true,
	})
	w.simURL = simSrv.URL

	w.sm = smfake.New()
	w.sm.Set(worldSecretARN, `{"client_secret":"`+secret+`"}`)
	w.sm.Set(worldWebhookSecretARN, worldWebhookSecret)
	w.sm.Set(worldStateKeyARN, "e2e-state-key-"+randomID()+randomID())
	smSrv := httptest.NewServer(w.sm)
	tb.Cleanup(smSrv.Close)
	w.smURL = smSrv.URL

	w.kms = kmsfake.New(tb)
	w.kmsKeyID = w.kms.CreateKey()

	w.dynamo = dynalitetest.Server(tb)
	w.db, w.table = dynalitetest.Table(tb)
	return w
}

// stackValues are the values the stack provides for its variables (infra: stackValues plus the
// LiveChat URLs, which the stack leaves at their defaults and the test points at the simulator).
func (w *world) stackValues() map[string]string {
	return map[string]string{
		config.EnvClientID:         w.sim.ClientID(),
		config.EnvRedirectURL:      worldBaseURL + "/callback",
		config.EnvInstallURL:       worldBaseURL + "/install",
		config.EnvAccountsURL:      w.simURL,
		config.EnvAPIURL:           w.simURL,
		config.EnvClientSecretARN:  worldSecretARN,
		config.EnvWebhookSecretARN: worldWebhookSecretARN,
		config.EnvStateKeyARN:      worldStateKeyARN,
		config.EnvTable:            w.table,
		config.EnvKMSKeyID:         w.kmsKeyID,
	}
}

// functionEnv is the environment Lambda gives function fn: exactly the variables the stack sets
// from config.ForFunction(fn) (those with a default stay unset unless the stack has a value, as in
// infra), plus what the Lambda service itself sets, fake credentials, and the AWS SDK's endpoint
// variables pointing the real SDK clients at the fakes. A variable the stack's list gains and this
// test cannot fill fails the test, so the suite cannot drift from the stack.
func (w *world) functionEnv(tb testing.TB, fn string, memoryMB int) map[string]string {
	tb.Helper()
	values := w.stackValues()
	env := map[string]string{}
	for _, v := range config.ForFunction(fn) {
		if val, ok := values[v.Name]; ok {
			env[v.Name] = val
			continue
		}
		if v.Default == "" {
			tb.Fatalf("function %s needs %s, which has no default and which this test does not know how to fill; add it to world.stackValues", fn, v.Name)
		}
	}
	for k, v := range map[string]string{
		"AWS_REGION":                       worldRegion,
		"AWS_DEFAULT_REGION":               worldRegion,
		"AWS_ACCESS_KEY_ID":                "AKIAE2EFAKE",
		"AWS_SECRET_ACCESS_KEY":            "e2e-fake-secret-access-key",
		"AWS_SESSION_TOKEN":                "e2e-fake-session-token",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_ENDPOINT_URL_DYNAMODB":        w.dynamo.Endpoint(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": w.smURL,
		"AWS_ENDPOINT_URL_KMS":             w.kms.URL(),
		"AWS_LAMBDA_FUNCTION_NAME":         "lcauth-" + fn,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE":  strconv.Itoa(memoryMB),
		"AWS_LAMBDA_LOG_FORMAT":            "JSON",
		"AWS_LAMBDA_LOG_LEVEL":             "INFO",
	} {
		env[k] = v
	}
	return env
}

// startFunctions runs every function under its own emulator with its stack environment and
// returns a Gateway routing httpapi.Routes to them, and the emulators by function name. logs
// receives each function's output, keyed by function name.
func (w *world) startFunctions(tb testing.TB, logs map[string]*syncbuf.Buffer) (*Gateway, map[string]*Emulator) {
	tb.Helper()
	rie, _ := tools(tb)
	bins := lambdas(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emus := map[string]*Emulator{}
	invokers := map[string]Invoker{}
	for _, fn := range functionNames {
		log := &syncbuf.Buffer{}
		if logs != nil {
			logs[fn] = log
		}
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("%s function log:\n%s", fn, log)
			}
		})
		e, err := StartEmulator(ctx, EmulatorOptions{
			RIE: rie, Binary: bins[fn], Env: w.functionEnv(tb, fn, 256), Timeout: 60 * time.Second, Log: log,
		})
		if err != nil {
			tb.Fatalf("start %s under the emulator: %v", fn, err)
		}
		tb.Cleanup(func() {
			if err := e.Close(); err != nil {
				tb.Errorf("stop %s: %v", fn, err)
			}
		})
		emus[fn] = e
		invokers[fn] = e
	}
	gw := &Gateway{Functions: invokers}
	for _, r := range httpapi.Routes() {
		gw.Routes = append(gw.Routes, Route{Method: r.Method, Path: r.Path, Function: r.Function})
	}
	return gw, emus
}

// site is the functions behind gw as the shared harness reaches them; the person on LiveChat's
// consent page is played by the in-process simulator (the gateway routes only lcauth's host).
func (w *world) site(t *testing.T, gw *Gateway) *harness.Site {
	return &harness.Site{T: t, URL: worldBaseURL, Transport: gw,
		Allow: func(authorizeURL, accountID string) (string, error) {
			if !strings.HasPrefix(authorizeURL, w.simURL+"/?") {
				return "", fmt.Errorf("/install redirected to %s, want the simulator's authorize URL", authorizeURL)
			}
			return harness.AllowAt(w.sim)(authorizeURL, accountID)
		}}
}
