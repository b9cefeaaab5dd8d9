package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// reqInfo collects what the request log line reports beyond status and latency. Handlers fill it in
// through the request's context; it never holds a token, code, secret or key.
type reqInfo struct {
	installationID string
	keyID          string // a service key's id (never the key)
	errCode        string
	errClass       string
	errDetail      string // an internal error's text (already free of secrets), for operators
	refreshed      string // why /chats refreshed the token: "expiring" or "rejected"
}

type reqInfoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handlerFunc is a handler that returns its error answer instead of writing it, so that errors are
// rendered (JSON or HTML) and logged in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) *apiError

// wrap turns a handlerFunc into an http.Handler with security headers, panic recovery, error rendering
// and one log line per request. route is a fixed name ("install", ...), never the URL: the query
// holds codes and states.
func (s *Server) wrap(route string, forceJSON bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
		w := &statusWriter{ResponseWriter: rw}
		setSecurityHeaders(w.Header(), s.hsts)

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				ri.errClass = "panic"
				s.log.ErrorContext(r.Context(), "panic in handler", slog.String("route", route), slog.String("stack", string(debug.Stack())))
				if w.status == 0 {
					s.renderError(w, r, forceJSON, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error."})
				}
			}
			s.logRequest(r, route, w, ri, s.now().Sub(start))
		}()

		if e := h(w, r); e != nil {
			ri.errCode = e.Code
			if ri.errClass == "" {
				ri.errClass = e.Class
			}
			s.renderError(w, r, forceJSON, e)
		}
	})
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, forceJSON bool, e *apiError) {
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	if forceJSON || wantsJSON(r) {
		writeAPIErrorJSON(w, e)
		return
	}
	writeAPIErrorHTML(w, e, s.installURL)
}

func (s *Server) logRequest(r *http.Request, route string, w *statusWriter, ri *reqInfo, latency time.Duration) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("route", route),
		slog.String("method", r.Method),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		slog.Int64("bytes", w.bytes),
	}
	// The request's own facts, each only when known.
	for _, kv := range [...][2]string{
		{"installation_id", ri.installationID}, {"service_key_id", ri.keyID}, {"error_code", ri.errCode},
		{"error_class", ri.errClass}, {"refreshed", ri.refreshed}, {"error", ri.errDetail},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}
