package lambdamain_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"lcauth/internal/app"
	"lcauth/internal/app/lambdamain"
	"lcauth/internal/config"
)

// installEnv is a complete environment of the install function (it needs no table).
var installEnv = map[string]string{
	config.EnvClientID:     "client-id",
	config.EnvClientSecret: "client-secret",
	config.EnvRedirectURL:  "https://abc.execute-api.us-east-1.amazonaws.com/callback",
}

func TestApp_BuildsTheFunctionsAppFromTheEnvironment(t *testing.T) {
	for k, v := range installEnv {
		t.Setenv(k, v)
	}
	a := lambdamain.App(config.FunctionInstall)
	rec := httptest.NewRecorder()
	a.InstallHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/install", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("install: %d, want 302", rec.Code)
	}
}

// TestApp_ExitsOneWhenTheConfigurationIsIncomplete runs App in a child process (it exits) with no
// configuration: exit status 1 and a log line on stdout naming what is missing.
func TestApp_ExitsOneWhenTheConfigurationIsIncomplete(t *testing.T) {
	if os.Getenv("LAMBDAMAIN_CHILD") == "1" {
		lambdamain.App(config.FunctionChats, app.WithOwnerPrefix("child"))
		os.Exit(0) // not reached when App exits
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApp_ExitsOneWhenTheConfigurationIsIncomplete$")
	cmd.Env = []string{"LAMBDAMAIN_CHILD=1", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), config.EnvClientID) {
		t.Fatalf("stdout does not name %s:\n%s", config.EnvClientID, out)
	}
}
