// Package simtest starts the LiveChat simulator (internal/livechatsim) for a test: on an httptest
// server on 127.0.0.1, stopped with the test. It is the only piece of the simulator that needs the
// testing package, so the product (lcauth dev serves the simulator) never links it.
package simtest

import (
	"net/http/httptest"
	"testing"

	"lcauth/internal/livechatsim"
)

// NewServer starts the simulator on an httptest server on 127.0.0.1, closed (with any hanging
// requests released) when tb's test ends.
func NewServer(tb testing.TB, opts livechatsim.Options) (*livechatsim.Simulator, *httptest.Server) {
	tb.Helper()
	s := livechatsim.New(opts)
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return s, srv
}
