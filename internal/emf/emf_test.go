package emf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"lcauth/internal/emf"
)

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEmit_OneLineCloudWatchReads(t *testing.T) {
	var buf bytes.Buffer
	w := emf.New(&buf, "")
	if err := w.Emit(map[string]float64{"B": 2, "A": 1}, map[string]string{"B": "Milliseconds"}, map[string]any{"event": "x"}); err != nil {
		t.Fatal(err)
	}
	line := buf.Bytes()
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("want exactly one line, got %q", line)
	}
	var doc struct {
		A, B    float64
		Event   string `json:"event"`
		Service string
		AWS     struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.A != 1 || doc.B != 2 || doc.Event != "x" || doc.Service != emf.DefaultService || doc.AWS.Timestamp == 0 {
		t.Fatalf("doc = %+v", doc)
	}
	d := doc.AWS.CloudWatchMetrics
	if len(d) != 1 || d[0].Namespace != emf.Namespace || len(d[0].Dimensions) != 1 || d[0].Dimensions[0][0] != emf.Dimension {
		t.Fatalf("directive = %+v", d)
	}
	if m := d[0].Metrics; len(m) != 2 || m[0].Name != "A" || m[0].Unit != "Count" || m[1].Name != "B" || m[1].Unit != "Milliseconds" {
		t.Fatalf("metrics = %+v, want A (Count) then B (Milliseconds)", m)
	}
}

func TestEmit_ServiceNamesTheDimension(t *testing.T) {
	var buf bytes.Buffer
	if err := emf.New(&buf, "LcauthDev").Emit(map[string]float64{"A": 1}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"Service":"LcauthDev"`)) {
		t.Fatalf("line %s: want Service=LcauthDev", buf.Bytes())
	}
}

func TestEmit_NoWriterWritesNothingAndWriteErrorsAreReturned(t *testing.T) {
	if err := emf.New(nil, "").Emit(map[string]float64{"A": 1}, nil, nil); err != nil {
		t.Fatalf("nil writer: %v", err)
	}
	var nilWriter *emf.Writer
	if err := nilWriter.Emit(map[string]float64{"A": 1}, nil, nil); err != nil {
		t.Fatalf("nil *Writer: %v", err)
	}
	if err := emf.New(failingWriter{}, "").Emit(map[string]float64{"A": 1}, nil, nil); err == nil {
		t.Fatal("a failed write was not reported")
	}
}
