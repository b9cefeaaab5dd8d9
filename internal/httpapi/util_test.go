package httpapi_test

import (
	"net/http/httptest"
	"sync/atomic"
)

type atomicString struct{ v atomic.Value }

func (a *atomicString) Store(s string) { a.v.Store(s) }
func (a *atomicString) Load() string {
	s, _ := a.v.Load().(string)
	return s
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
