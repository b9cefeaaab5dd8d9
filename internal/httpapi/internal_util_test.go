package httpapi

import (
	"net/http"
	"net/http/httptest"
)

func newRequest(accept string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return r
}
