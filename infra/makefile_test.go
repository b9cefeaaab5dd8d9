package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMakefile_EveryPhonyTargetHasAHelpLine: `make help` lists the rules with a "## " text, so every
// .PHONY target (what a person runs) must have one.
func TestMakefile_EveryPhonyTargetHasAHelpLine(t *testing.T) {
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	helped := map[string]bool{}
	rule := regexp.MustCompile(`^([a-zA-Z_%-]+):.*## \S`)
	var phony []string
	for _, line := range strings.Split(string(raw), "\n") {
		if m := rule.FindStringSubmatch(line); m != nil {
			helped[m[1]] = true
		}
		if rest, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			phony = append(phony, strings.Fields(rest)...)
		}
	}
	for _, target := range phony {
		if !helped[target] && target != "FORCE" {
			t.Errorf("make target %s has no `## ` help text, so make help does not list it", target)
		}
	}
	if !strings.Contains(string(raw), "-buildvcs=false") || !strings.Contains(string(raw), "-trimpath") {
		t.Error("the Lambda build lost -trimpath -buildvcs=false (reproducible bootstraps)")
	}
}
