package harness

import (
	"bufio"
	"encoding/json"
	"strings"
)

// LogLines parses the log; every line must be one JSON object (log injection would break that).
func (s *Stack) LogLines() []map[string]any {
	s.T.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.Logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			s.T.Fatalf("log line is not one JSON object (%v): %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// RequestLogs returns the per-request log lines of route.
func (s *Stack) RequestLogs(route string) []map[string]any {
	s.T.Helper()
	var out []map[string]any
	for _, l := range s.LogLines() {
		if l["msg"] == "request" && l["route"] == route {
			out = append(out, l)
		}
	}
	return out
}

// LastRequestLog returns the last request line of route.
func (s *Stack) LastRequestLog(route string) map[string]any {
	s.T.Helper()
	ls := s.RequestLogs(route)
	if len(ls) == 0 {
		s.T.Fatalf("no request log line for %s", route)
	}
	return ls[len(ls)-1]
}

// HasLog reports whether a line with msg exists whose attributes include every key/value of attrs.
func (s *Stack) HasLog(msg string, attrs map[string]any) bool {
	s.T.Helper()
	for _, l := range s.LogLines() {
		if l["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			if l[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// NoSecretsLogged fails if any of the values, or the client secret, appears in the log (values
// shorter than 8 characters are not checked).
func (s *Stack) NoSecretsLogged(values ...string) {
	s.T.Helper()
	logs := s.Logs.String()
	for _, v := range append(values, s.secret) {
		if len(v) >= 8 && strings.Contains(logs, v) {
			s.T.Fatalf("the log carries a secret value (%d chars)", len(v))
		}
	}
}
