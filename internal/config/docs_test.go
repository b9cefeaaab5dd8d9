package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// configRow matches one row of the variables table in docs/configuration.md:
// | `NAME` | default | functions | description |
var configRow = regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| ([^|]*) \\|")

// TestDocsListEveryVariable keeps docs/configuration.md and Vars() one list: a variable added to the
// code without a line in the docs, a line left behind after a variable is removed, or a default that
// drifted fails here.
func TestDocsListEveryVariable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("read docs/configuration.md: %v", err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if m := configRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
		}
	}
	for _, v := range Vars() {
		def, ok := documented[v.Name]
		if !ok {
			t.Errorf("docs/configuration.md has no row for %s", v.Name)
			continue
		}
		want := v.Default
		if want == "" {
			want = "-"
		}
		if def != want {
			t.Errorf("docs/configuration.md: %s default %q, code says %q", v.Name, def, want)
		}
		delete(documented, v.Name)
	}
	for name := range documented {
		t.Errorf("docs/configuration.md documents %s, which config.Vars() does not list", name)
	}
}
