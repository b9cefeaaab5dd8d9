// Command infra is the lcauth CDK app: `cdk synth` / `cdk deploy` run it (see cdk.json). It reads the
// settings from CDK context and the environment, builds the one stack and runs cdk-nag over it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		jsii.Close()
		os.Exit(1)
	}
	jsii.Close()
}

func run() error {
	app := awscdk.NewApp(nil)
	s, err := LoadSettings(appContext(app), appContextKeys(app), os.Getenv)
	if err != nil {
		return err
	}
	if _, err := NewLcauth(app, s); err != nil {
		return err
	}
	AddNagChecks(app)
	app.Synth(nil)
	return nil
}

// appContext reads one context value as a string.
func appContext(app awscdk.App) ContextLookup {
	return func(key string) (string, bool) {
		v := app.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return "", false
		}
		return contextString(v), true
	}
}

// contextString renders a context value: `-c` gives strings, cdk.json may hold numbers, booleans and
// objects (stages), which are rendered as JSON.
func contextString(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]interface{}, []interface{}:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

// appContextKeys lists every context key that is set, so LoadSettings can reject misspelt overrides.
func appContextKeys(app awscdk.App) []string {
	all, _ := app.Node().GetAllContext(nil).(map[string]interface{})
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
