// Package metrics writes CloudWatch metrics as Embedded Metric Format log
// lines: no API calls, no latency added to an invocation; CloudWatch Logs
// extracts the metrics from the function's own log stream.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// DefaultNamespace is the CloudWatch namespace unless METRICS_NAMESPACE says otherwise.
const DefaultNamespace = "WeChatPayRecharge"

// Invocation is what one invocation reports.
type Invocation struct {
	Outcome      string // closed, not_closable, refused, invalid_input, configuration_error, transient
	Trigger      string
	AWSRequestID string
	Latency      time.Duration
	Attempts     int
	RateLimited  int           // WeChat Pay answers saying the merchant's rate limit was exceeded
	PaceWait     time.Duration // waited for paced turns to call WeChat Pay
	// Queued is set for a record of the expiry queue: how long its expiry has
	// waited there and which receive this is. SQS's own age metric leaves out
	// messages received three times or more — the most stuck ones.
	Queued *Queued
}

// Queued is what one SQS record reports of its time in the queue.
type Queued struct {
	Age      time.Duration // since the expiry was first sent
	Receives int           // ApproximateReceiveCount
}

// QueuePath is the value of the Path dimension under which queued records'
// RecordAge and ReceiveCount are published (alarms name it).
const QueuePath = "queue"

// SecretCounts reports, for this instance so far, how many times the merchant
// secret was read and how many times keys past their TTL were served because
// it could not be.
type SecretCounts interface {
	Reads() int
	StaleServes() int
}

// EMF writes one metrics document per invocation.
type EMF struct {
	w         io.Writer
	namespace string
	secret    SecretCounts

	mu        sync.Mutex
	cold      bool
	lastReads int
	lastStale int
}

// NewEMF writes to w under namespace; secret may be nil.
func NewEMF(w io.Writer, namespace string, secret SecretCounts) *EMF {
	return &EMF{w: w, namespace: namespace, secret: secret, cold: true}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

// document is one EMF log line: the metadata under _aws, then the metric
// values and dimension under the names the metadata declares.
type document struct {
	AWS struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	} `json:"_aws"`
	Outcome      string  `json:"Outcome"`
	Invocations  int     `json:"Invocations"`
	CloseLatency float64 `json:"CloseLatency"`
	Attempts     int     `json:"Attempts"`
	ColdStart    int     `json:"ColdStart"`
	SecretReads  int     `json:"SecretReads"`
	StaleKeys    int     `json:"StaleKeys"`
	RateLimited  int     `json:"RateLimited"`
	PaceWait     float64 `json:"PaceWait"`
	Trigger      string  `json:"trigger"`
	AWSRequestID string  `json:"aws_request_id"`
	// A queued record's, under their own directive and dimension.
	Path         string   `json:"Path,omitempty"`
	RecordAge    *float64 `json:"RecordAge,omitempty"`
	ReceiveCount *int     `json:"ReceiveCount,omitempty"`
}

var queuedDefinitions = []metricDef{{"RecordAge", "Seconds"}, {"ReceiveCount", "Count"}}

var definitions = []metricDef{
	{"Invocations", "Count"},
	{"CloseLatency", "Milliseconds"},
	{"Attempts", "Count"},
	{"ColdStart", "Count"},
	{"SecretReads", "Count"},
	{"StaleKeys", "Count"},
	{"RateLimited", "Count"},
	{"PaceWait", "Milliseconds"},
}

// Record writes the document for one invocation. Every metric carries the
// Outcome dimension, so alarms can watch transient or configuration failures.
func (e *EMF) Record(inv Invocation) error {
	e.mu.Lock()
	cold := e.cold
	e.cold = false
	reads, stale := 0, 0
	if e.secret != nil {
		r, s := e.secret.Reads(), e.secret.StaleServes()
		reads, stale, e.lastReads, e.lastStale = r-e.lastReads, s-e.lastStale, r, s
	}
	e.mu.Unlock()

	var d document
	d.AWS.Timestamp = time.Now().UnixMilli()
	d.AWS.CloudWatchMetrics = []directive{{Namespace: e.namespace, Dimensions: [][]string{{"Outcome"}}, Metrics: definitions}}
	if q := inv.Queued; q != nil {
		d.AWS.CloudWatchMetrics = append(d.AWS.CloudWatchMetrics, directive{Namespace: e.namespace, Dimensions: [][]string{{"Path"}}, Metrics: queuedDefinitions})
		age, receives := q.Age.Seconds(), q.Receives
		d.Path, d.RecordAge, d.ReceiveCount = QueuePath, &age, &receives
	}
	d.Outcome, d.Invocations, d.Attempts, d.SecretReads, d.StaleKeys = inv.Outcome, 1, inv.Attempts, reads, stale
	d.CloseLatency = float64(inv.Latency.Microseconds()) / 1e3
	d.RateLimited, d.PaceWait = inv.RateLimited, float64(inv.PaceWait.Microseconds())/1e3
	d.ColdStart = boolToInt(cold)
	d.Trigger, d.AWSRequestID = inv.Trigger, inv.AWSRequestID
	b, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	_, err = e.w.Write(append(b, '\n'))
	return err
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
