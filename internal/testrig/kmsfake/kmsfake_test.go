package kmsfake_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"lcauth/internal/testrig/kmsfake"
)

var ctx = context.Background()

func TestFake_EncryptDecryptThroughTheSDK(t *testing.T) {
	fake := kmsfake.New(t)
	keyARN := fake.CreateKey()
	fake.CreateAlias("alias/app", keyARN)
	c := fake.Client()
	ec := map[string]string{"purpose": "test"}
	keyID := keyARN[strings.LastIndex(keyARN, "/")+1:]
	for _, ref := range []string{keyARN, keyID, "alias/app", "arn:aws:kms:us-east-1:111122223333:alias/app"} {
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(ref), Plaintext: []byte("hello"), EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt(%s): %v", ref, err)
		}
		if aws.ToString(enc.KeyId) != keyARN {
			t.Errorf("Encrypt(%s) KeyId %s, want %s", ref, aws.ToString(enc.KeyId), keyARN)
		}
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil || string(dec.Plaintext) != "hello" || aws.ToString(dec.KeyId) != keyARN {
			t.Fatalf("Decrypt = %q %s, %v", dec.Plaintext, aws.ToString(dec.KeyId), err)
		}
	}
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/app"), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil || len(gen.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey: %d bytes, %v", len(gen.Plaintext), err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, gen.Plaintext) {
		t.Fatalf("Decrypt of the data key: %v", err)
	}
	if fake.Calls(kmsfake.OpEncrypt) != 4 || fake.Calls(kmsfake.OpGenerateDataKey) != 1 || fake.Calls(kmsfake.OpDecrypt) != 5 {
		t.Errorf("calls: encrypt %d generate %d decrypt %d", fake.Calls(kmsfake.OpEncrypt), fake.Calls(kmsfake.OpGenerateDataKey), fake.Calls(kmsfake.OpDecrypt))
	}
}

func TestFake_ErrorsHaveKMSShapes(t *testing.T) {
	fake := kmsfake.New(t)
	keyARN := fake.CreateKey()
	otherARN := fake.CreateKey()
	c := fake.Client()
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x"), EncryptionContext: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		notFound  *types.NotFoundException
		invalid   *types.InvalidCiphertextException
		incorrect *types.IncorrectKeyException
		disabled  *types.DisabledException
	)
	tests := []struct {
		name   string
		call   func() error
		target any
	}{
		{"unknown key", func() error {
			_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/none"), KeySpec: types.DataKeySpecAes256})
			return err
		}, &notFound},
		{"wrong encryption context", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "2"}})
			return err
		}, &invalid},
		{"missing encryption context", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			return err
		}, &invalid},
		{"garbage blob", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("garbage")})
			return err
		}, &invalid},
		{"blob of another key than KeyId", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(otherARN), CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "1"}})
			return err
		}, &incorrect},
		{"disabled key", func() error {
			fake.SetEnabled(otherARN, false)
			defer fake.SetEnabled(otherARN, true)
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(otherARN), Plaintext: []byte("x")})
			return err
		}, &disabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !errors.As(err, tt.target) {
				t.Fatalf("err = %v, want %T", err, tt.target)
			}
		})
	}
}

func TestFake_RejectsUnsignedAndUnknownRequests(t *testing.T) {
	fake := kmsfake.New(t)
	tests := []struct{ name, target, auth string }{
		{"unsigned", "TrentService.Encrypt", ""},
		{"unknown operation", "TrentService.CreateKey", "AWS4-HMAC-SHA256 Credential=x"},
		{"other service", "DynamoDB_20120810.GetItem", "AWS4-HMAC-SHA256 Credential=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", tt.target)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
		})
	}
}

func TestFake_InjectedFaultsCountDown(t *testing.T) {
	fake := kmsfake.New(t)
	keyARN := fake.CreateKey()
	fake.InjectFault(kmsfake.OpGenerateDataKey, kmsfake.Fault{Status: 400, Type: "AccessDeniedException", Times: 1})
	c := fake.Client()
	in := &kms.GenerateDataKeyInput{KeyId: aws.String(keyARN), KeySpec: types.DataKeySpecAes256}
	if _, err := c.GenerateDataKey(ctx, in); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("first call: err = %v, want AccessDeniedException", err)
	}
	if _, err := c.GenerateDataKey(ctx, in); err != nil {
		t.Fatalf("second call: %v", err)
	}
}
