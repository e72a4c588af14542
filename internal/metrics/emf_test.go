package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEMFDocuments(t *testing.T) {
	var out bytes.Buffer
	secret := &counts{reads: 1}
	e := NewEMF(&out, "TestNamespace", secret)
	must(t, e.Record(Invocation{Outcome: "closed", Trigger: "direct", AWSRequestID: "r1", Latency: 12500 * time.Microsecond, Attempts: 1}))
	must(t, e.Record(Invocation{Outcome: "transient", Trigger: "http-api", AWSRequestID: "r2", Latency: time.Second, Attempts: 4,
		RateLimited: 3, PaceWait: 1500 * time.Microsecond}))
	secret.reads, secret.stale = 2, 3
	must(t, e.Record(Invocation{Outcome: "closed", Trigger: "eventbridge", AWSRequestID: "r3", Attempts: 2}))
	must(t, e.Record(Invocation{Outcome: "transient", Trigger: "sqs", AWSRequestID: "r4", Attempts: 1,
		Queued: &Queued{Age: 90*time.Second + 500*time.Millisecond, Receives: 4}}))

	var docs []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("not one JSON document per line: %s", sc.Text())
		}
		docs = append(docs, d)
	}
	if len(docs) != 4 {
		t.Fatalf("%d documents", len(docs))
	}
	want := []struct {
		outcome                                            string
		cold, reads, stale, attempts, latMs, limited, wait float64
	}{{"closed", 1, 1, 0, 1, 12.5, 0, 0}, {"transient", 0, 0, 0, 4, 1000, 3, 1.5}, {"closed", 0, 1, 3, 2, 0, 0, 0}, {"transient", 0, 0, 0, 1, 0, 0, 0}}
	for i, d := range docs {
		w := want[i]
		if d["Outcome"] != w.outcome || d["ColdStart"] != w.cold || d["SecretReads"] != w.reads || d["StaleKeys"] != w.stale || d["Attempts"] != w.attempts ||
			d["CloseLatency"] != w.latMs || d["Invocations"] != 1.0 || d["RateLimited"] != w.limited || d["PaceWait"] != w.wait {
			t.Errorf("document %d = %v", i, d)
		}
		aws := d["_aws"].(map[string]any)
		directives := aws["CloudWatchMetrics"].([]any)
		// A queued record's age and receives are published under Path=queue;
		// nothing else carries them.
		queued := i == 3
		if wantN := map[bool]int{false: 1, true: 2}[queued]; len(directives) != wantN {
			t.Errorf("document %d has %d directives, want %d", i, len(directives), wantN)
		}
		_, hasAge := d["RecordAge"]
		if queued != hasAge || queued && (d["RecordAge"] != 90.5 || d["ReceiveCount"] != 4.0 || d["Path"] != QueuePath) {
			t.Errorf("document %d: RecordAge %v, ReceiveCount %v, Path %v", i, d["RecordAge"], d["ReceiveCount"], d["Path"])
		}
		for _, dir := range directives {
			cwm := dir.(map[string]any)
			if cwm["Namespace"] != "TestNamespace" || aws["Timestamp"] == nil {
				t.Errorf("document %d directive = %v", i, aws)
			}
			// Every declared metric and dimension must be present in the document,
			// or CloudWatch drops the document.
			for _, m := range cwm["Metrics"].([]any) {
				if _, ok := d[m.(map[string]any)["Name"].(string)]; !ok {
					t.Errorf("metric %v declared but missing", m)
				}
			}
			for _, set := range cwm["Dimensions"].([]any) {
				for _, dim := range set.([]any) {
					if _, ok := d[dim.(string)].(string); !ok {
						t.Errorf("dimension %v declared but missing", dim)
					}
				}
			}
		}
	}
}

type counts struct{ reads, stale int }

func (c *counts) Reads() int       { return c.reads }
func (c *counts) StaleServes() int { return c.stale }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
