package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEscapedLen_IsWhatEncodingJSONWrites(t *testing.T) {
	for _, body := range []string{
		``, `{}`, `{"chats_summary":[{"id":"PJ0MRSHTDG"}],"found_chats":1}`,
		"a\"b\\c\nd\re\tf\x00g\x1fh", `<script>&amp;</script>`, "żółć 日本 😀", "bad \xff\xfe utf-8", "line\u2028sep\u2029",
	} {
		want, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := escapedLen([]byte(body)); got != len(want) {
			t.Errorf("escapedLen(%q) = %d, want %d (%s)", body, got, len(want), want)
		}
	}
}

func TestFitsLambdaResponse_CountsTheEscapedBody(t *testing.T) {
	plain := bytes.Repeat([]byte("a"), maxChatsEnvelopeBody-2)
	if !fitsLambdaResponse(plain) {
		t.Error("a body that fits exactly was refused")
	}
	if fitsLambdaResponse(append(plain, 'a')) {
		t.Error("a body one byte over was accepted")
	}
	// 4 MiB of quotes is 8 MiB escaped: over, although the raw body is under 6 MB.
	if fitsLambdaResponse(bytes.Repeat([]byte(`"`), 4<<20)) {
		t.Error("a body that escapes past 6 MB was accepted")
	}
	if !fitsLambdaResponse([]byte(`{"chats_summary":[]}`)) {
		t.Error("a small body was refused")
	}
}

func TestWriteChats_RefusesWhatLambdaCouldNotReturn(t *testing.T) {
	w := httptest.NewRecorder()
	e := writeChats(w, []byte(`{"chats_summary":["`+strings.Repeat("<", 2<<20)+`"]}`))
	if e == nil || e.Status != http.StatusBadGateway || e.Code != CodeResponseTooLarge || !strings.Contains(e.Message, "smaller limit") {
		t.Fatalf("writeChats = %+v, want 502 response_too_large asking for a smaller limit", e)
	}
	if w.Body.Len() != 0 {
		t.Error("part of the refused body was written")
	}
	w = httptest.NewRecorder()
	if e := writeChats(w, []byte(`{"found_chats":0}`)); e != nil || w.Code != http.StatusOK || w.Body.String() != `{"found_chats":0}` {
		t.Errorf("small answer: %+v %d %q", e, w.Code, w.Body.String())
	}
}
