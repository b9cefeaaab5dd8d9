package httpapi

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// MaxLambdaResponseBytes is Lambda's limit on a synchronous invocation's response payload (6 MB). The
// API Gateway proxy response carries the body as a JSON string next to the status and headers, so
// what counts is the body's size once escaped into that string.
const MaxLambdaResponseBytes = 6 * 1024 * 1024

// responseEnvelopeReserve is room left in MaxLambdaResponseBytes for the status, the headers and the
// envelope's own keys.
const responseEnvelopeReserve = 16 << 10

// maxChatsEnvelopeBody is the largest escaped body a /chats answer may have.
const maxChatsEnvelopeBody = MaxLambdaResponseBytes - responseEnvelopeReserve

// escapedLen is how many bytes body takes as a JSON string in the Lambda response, as encoding/json
// writes it: quote and backslash as two bytes, <, > and & (HTML-escaped) and other control characters
// as six, invalid UTF-8 as \ufffd (six), U+2028/U+2029 as six.
func escapedLen(body []byte) int {
	n := 2
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// fitsLambdaResponse reports whether a body can be returned by a Lambda function behind API Gateway.
func fitsLambdaResponse(body []byte) bool {
	// Cheap answers first: nothing escapes to more than six bytes.
	if 6*len(body)+2 <= maxChatsEnvelopeBody {
		return true
	}
	if len(body) > maxChatsEnvelopeBody {
		return false
	}
	return escapedLen(body) <= maxChatsEnvelopeBody
}

// responseTooLarge is the answer for a List Chats page too big to return (from Lambda, or at all);
// class is for the request log.
func responseTooLarge(class string) *apiError {
	return &apiError{Status: http.StatusBadGateway, Code: CodeResponseTooLarge, Class: class,
		Message: "LiveChat's answer is too large to return (the limit is " + strconv.Itoa(MaxLambdaResponseBytes/(1024*1024)) +
			" MB); ask for fewer chats with a smaller limit."}
}

// writeChats writes a List Chats answer, or refuses it with 502 response_too_large when it would not
// fit in a Lambda response: the gateway would otherwise answer a bare 500.
func writeChats(w http.ResponseWriter, body []byte) *apiError {
	if !fitsLambdaResponse(body) {
		return responseTooLarge("response_too_large")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
