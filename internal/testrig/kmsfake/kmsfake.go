// Package kmsfake is an in-process AWS KMS for tests: an httptest server that speaks KMS's JSON 1.1
// wire protocol (POST /, X-Amz-Target: TrentService.<Operation>) to the real aws-sdk-go-v2 KMS
// client. It implements the symmetric operations lcauth uses - GenerateDataKey, Decrypt and Encrypt -
// with KMS's semantics (encryption context bound to the ciphertext, key ids, key ARNs and aliases,
// disabled keys) and KMS's error shapes, counts calls, and can inject errors.
//
// Ciphertext blobs are opaque and only this fake can decrypt them, as with the real service.
package kmsfake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Region and Account appear in the key ARNs the fake hands out.
const (
	Region  = "us-east-1"
	Account = "111122223333"
)

// Operation names as they appear after "TrentService." in X-Amz-Target.
const (
	OpGenerateDataKey = "GenerateDataKey"
	OpDecrypt         = "Decrypt"
	OpEncrypt         = "Encrypt"
)

// Fault makes the next Times calls of an operation fail with a KMS error (Times 0 = until cleared).
type Fault struct {
	Status int    // HTTP status, e.g. 400 or 500
	Type   string // KMS error type, e.g. "KMSInternalException", "AccessDeniedException"
	Times  int
}

type key struct {
	id       string
	aead     cipher.AEAD
	disabled bool
}

// Server is the fake KMS.
type Server struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    map[string]*key   // by key id
	aliases map[string]string // "alias/x" -> key id
	calls   map[string]int
	faults  map[string]*Fault
}

// New starts a fake KMS on 127.0.0.1 with no keys; it is closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{keys: map[string]*key{}, aliases: map[string]string{}, calls: map[string]int{}, faults: map[string]*Fault{}}
	s.srv = httptest.NewUnstartedServer(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("kmsfake: listen: %v", err)
	}
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's endpoint, for kms.Options.BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Client returns a real SDK KMS client pointed at the fake, with static credentials (requests are
// SigV4-signed as usual) and the SDK's default retryer.
func (s *Server) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
	})
}

// CreateKey adds an enabled symmetric key and returns its ARN.
func (s *Server) CreateKey() string {
	var b [16]byte
	mustRand(b[:])
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	material := make([]byte, 32)
	mustRand(material)
	block, _ := aes.NewCipher(material)
	aead, _ := cipher.NewGCM(block)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = &key{id: id, aead: aead}
	return arn(id)
}

// CreateAlias points alias ("alias/name") at a key (id or ARN), replacing any previous target.
func (s *Server) CreateAlias(alias, keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliases[alias] = strings.TrimPrefix(keyID, arn(""))
}

// SetEnabled enables or disables a key (id or ARN). Disabled keys refuse every operation.
func (s *Server) SetEnabled(keyID string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[strings.TrimPrefix(keyID, arn(""))]; k != nil {
		k.disabled = !enabled
	}
}

// Calls returns how many requests an operation received (including failed ones).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// InjectFault makes an operation fail as f says.
func (s *Server) InjectFault(op string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = &f
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

func arn(id string) string { return "arn:aws:kms:" + Region + ":" + Account + ":key/" + id }

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
}

// kmsError is an error in KMS's JSON shape.
type kmsError struct {
	status  int
	typ     string
	message string
}

func (e *kmsError) Error() string { return e.typ + ": " + e.message }

func errf(status int, typ, format string, args ...any) *kmsError {
	return &kmsError{status: status, typ: typ, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements the wire protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "TrentService.")
	s.mu.Lock()
	s.calls[op]++
	fault := s.faults[op]
	if fault != nil && fault.Times > 0 {
		if fault.Times--; fault.Times == 0 {
			delete(s.faults, op)
		}
	}
	s.mu.Unlock()

	var resp any
	var kerr *kmsError
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/" || !ok:
		kerr = errf(400, "UnknownOperationException", "unknown operation %q", target)
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		kerr = errf(400, "SerializationException", "content type %q", r.Header.Get("Content-Type"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="):
		kerr = errf(400, "MissingAuthenticationTokenException", "request is not SigV4-signed")
	case fault != nil:
		kerr = errf(fault.Status, fault.Type, "injected fault")
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			kerr = errf(400, "SerializationException", "read body: %v", err)
			break
		}
		resp, kerr = s.dispatch(op, body)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	if kerr != nil {
		w.WriteHeader(kerr.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": kerr.typ, "message": kerr.message})
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// request is the union of the fields of the three operations; []byte fields are base64 in JSON, as in
// KMS's protocol.
type request struct {
	KeyId               string
	KeySpec             string
	NumberOfBytes       *int
	Plaintext           []byte
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
}

func (s *Server) dispatch(op string, body []byte) (any, *kmsError) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errf(400, "SerializationException", "body: %v", err)
	}
	if req.EncryptionAlgorithm != "" && req.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return nil, errf(400, "ValidationException", "unsupported encryption algorithm %s", req.EncryptionAlgorithm)
	}
	switch op {
	case OpGenerateDataKey:
		n := 0
		switch {
		case req.KeySpec == "AES_256" && req.NumberOfBytes == nil:
			n = 32
		case req.KeySpec == "AES_128" && req.NumberOfBytes == nil:
			n = 16
		case req.KeySpec == "" && req.NumberOfBytes != nil && *req.NumberOfBytes >= 1 && *req.NumberOfBytes <= 1024:
			n = *req.NumberOfBytes
		default:
			return nil, errf(400, "ValidationException", "exactly one of KeySpec (AES_128, AES_256) or NumberOfBytes (1-1024) is required")
		}
		k, kerr := s.resolve(req.KeyId)
		if kerr != nil {
			return nil, kerr
		}
		plain := make([]byte, n)
		mustRand(plain)
		return map[string]any{"KeyId": arn(k.id), "Plaintext": plain, "CiphertextBlob": encrypt(k, plain, req.EncryptionContext)}, nil
	case OpEncrypt:
		if len(req.Plaintext) == 0 || len(req.Plaintext) > 4096 {
			return nil, errf(400, "ValidationException", "plaintext must be 1-4096 bytes")
		}
		k, kerr := s.resolve(req.KeyId)
		if kerr != nil {
			return nil, kerr
		}
		return map[string]any{"KeyId": arn(k.id), "CiphertextBlob": encrypt(k, req.Plaintext, req.EncryptionContext), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
	case OpDecrypt:
		return s.decrypt(req)
	default:
		return nil, errf(400, "UnknownOperationException", "operation %s is not implemented by kmsfake", op)
	}
}

// resolve finds an enabled key by id, ARN, alias name or alias ARN.
func (s *Server) resolve(keyID string) (*key, *kmsError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if keyID == "" {
		return nil, errf(400, "ValidationException", "KeyId is required")
	}
	id := keyID
	if rest, ok := strings.CutPrefix(keyID, "arn:aws:kms:"+Region+":"+Account+":"); ok {
		id = rest
	}
	id = strings.TrimPrefix(id, "key/")
	if strings.HasPrefix(id, "alias/") {
		target, ok := s.aliases[id]
		if !ok {
			return nil, errf(400, "NotFoundException", "alias %s is not found", keyID)
		}
		id = target
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, errf(400, "NotFoundException", "key %s does not exist", keyID)
	}
	if k.disabled {
		return nil, errf(400, "DisabledException", "%s is disabled", arn(k.id))
	}
	return k, nil
}

// Blob layout: "fkms1" | u16 len(key id) | key id | nonce | GCM ciphertext, with the canonical
// encryption context as additional data (as KMS binds it).
const blobMagic = "fkms1"

func encrypt(k *key, plain []byte, ec map[string]string) []byte {
	blob := []byte(blobMagic)
	blob = binary.BigEndian.AppendUint16(blob, uint16(len(k.id)))
	blob = append(blob, k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	mustRand(nonce)
	blob = append(blob, nonce...)
	return k.aead.Seal(blob, nonce, plain, canonical(ec))
}

func (s *Server) decrypt(req request) (any, *kmsError) {
	bad := errf(400, "InvalidCiphertextException", "the ciphertext or its encryption context is invalid")
	blob := req.CiphertextBlob
	if len(blob) < len(blobMagic)+2 || string(blob[:len(blobMagic)]) != blobMagic {
		return nil, bad
	}
	blob = blob[len(blobMagic):]
	n := int(binary.BigEndian.Uint16(blob))
	blob = blob[2:]
	if len(blob) < n {
		return nil, bad
	}
	id := string(blob[:n])
	blob = blob[n:]
	k, kerr := s.resolve(id)
	if kerr != nil {
		if kerr.typ == "NotFoundException" {
			return nil, bad
		}
		return nil, kerr
	}
	if req.KeyId != "" {
		want, kerr := s.resolve(req.KeyId)
		if kerr != nil {
			return nil, kerr
		}
		if want.id != k.id {
			return nil, errf(400, "IncorrectKeyException", "the ciphertext was not encrypted under %s", req.KeyId)
		}
	}
	if len(blob) < k.aead.NonceSize() {
		return nil, bad
	}
	plain, err := k.aead.Open(nil, blob[:k.aead.NonceSize()], blob[k.aead.NonceSize():], canonical(req.EncryptionContext))
	if err != nil {
		return nil, bad
	}
	return map[string]any{"KeyId": arn(k.id), "Plaintext": plain, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

// canonical serializes an encryption context independent of map order.
func canonical(ec map[string]string) []byte {
	var out []byte
	for _, k := range slices.Sorted(maps.Keys(ec)) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(ec[k])))
		out = append(out, ec[k]...)
	}
	return out
}

// KeyIDOf returns the key id inside a blob produced by this fake, for assertions ("" if malformed).
func KeyIDOf(blob []byte) string {
	if len(blob) < len(blobMagic)+2 || string(blob[:len(blobMagic)]) != blobMagic {
		return ""
	}
	n := int(binary.BigEndian.Uint16(blob[len(blobMagic):]))
	if len(blob) < len(blobMagic)+2+n {
		return ""
	}
	return string(blob[len(blobMagic)+2 : len(blobMagic)+2+n])
}
