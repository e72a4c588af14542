package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/metrics"
	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
	"close-recharge/internal/trigger"
)

// scripted is a Closer whose answers are set per recharge; it keeps what it
// was asked to publish.
type scripted struct {
	mu        sync.Mutex
	answers   map[string]func() (closer.Result, error) // out_recharge_no → its answer; others are closed
	published []closer.Result
	deadlines []time.Time // each Settle's deadline
	// the last Publish's deadline
	publishDeadline time.Time
}

func (s *scripted) Settle(ctx context.Context, _, no string) (closer.Result, error) {
	dl, _ := ctx.Deadline()
	s.mu.Lock()
	s.deadlines = append(s.deadlines, dl)
	s.mu.Unlock()
	if a, ok := s.answers[no]; ok {
		return a()
	}
	return closer.Result{Outcome: closer.Closed}, nil
}

func (s *scripted) Close(ctx context.Context, sub, no string) (closer.Result, error) {
	return s.Settle(ctx, sub, no)
}

func (s *scripted) Publish(ctx context.Context, results []*closer.Result) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishDeadline, _ = ctx.Deadline()
	for _, r := range results {
		r.Published = true
		s.published = append(s.published, *r)
	}
	return make([]error, len(results))
}

// backSoon records what the handler asked the queue to bring back early.
type backSoon struct {
	mu    sync.Mutex
	after map[string]time.Duration
}

func (b *backSoon) RetrySoon(_ context.Context, _ string, after map[string]time.Duration) map[string]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	maps.Copy(b.after, after)
	return nil
}

var (
	unavailable = &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: "SERVICE_UNAVAILABLE", Message: "down", Status: 503}
	stillOpen   = closer.Result{Outcome: closer.Refused, Failure: &closer.Failure{SubMchid: "1900000109", OutRechargeNo: "R1",
		Error: closer.ErrorBody{Code: "INVALID_REQUEST", Message: "in progress"}, Reason: fault.Conflict}}
)

// record is one SQS message naming recharge no, on its receive'th receive
// (0: no count given).
type record struct {
	id, no  string
	receive int
}

// invokeBatch runs one batch through h within a 30 s deadline and returns
// the listed message ids and what was brought back early, by message id.
func invokeBatch(t *testing.T, h *Handler, recs ...record) ([]string, map[string]time.Duration) {
	t.Helper()
	back := &backSoon{after: map[string]time.Duration{}}
	h.requeuer = back
	var e events.SQSEvent
	for _, r := range recs {
		m := events.SQSMessage{MessageId: r.id, ReceiptHandle: r.id, EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry",
			Body:           `{"sub_mchid":"1900000109","out_recharge_no":"` + r.no + `"}`}
		if r.receive > 0 {
			m.Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(r.receive)}
		}
		e.Records = append(e.Records, m)
	}
	payload, _ := json.Marshal(e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	var listed []string
	for _, f := range resp.BatchItemFailures {
		listed = append(listed, f.ItemIdentifier)
	}
	return listed, back.after
}

func newScripted(answers map[string]func() (closer.Result, error), opts ...Option) (*scripted, *Handler) {
	c := &scripted{answers: answers}
	return c, New(c, slog.New(slog.DiscardHandler), nil, opts...)
}

// templateMaxReceive is the template's default ExpiryMaxReceiveCount.
func templateMaxReceive(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  ExpiryMaxReceiveCount:\n(?:    .*\n)*?    Default: (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("template.yaml has no ExpiryMaxReceiveCount default")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// With the template's default maxReceiveCount, a record that fails on every
// receive from the start of a WeChat Pay outage is received for the last time
// no sooner than 30 minutes later, even if every delay draws its shortest; and
// no delay is longer than 5 minutes, so that a record waits at most that long
// once the outage is over.
func TestReceiveBudgetOutlastsAHalfHourOutage(t *testing.T) {
	maxReceive := templateMaxReceive(t)
	var shortest time.Duration
	prev := time.Duration(0)
	for r := 1; r < maxReceive; r++ {
		lo, hi := receiveDelay(r)
		if hi > 5*time.Minute || lo > hi || lo < prev {
			t.Fatalf("receive %d: delay %v–%v after %v before it; want growing, at most 5 min", r, lo, hi, prev)
		}
		shortest += lo
		prev = lo
	}
	t.Logf("maxReceiveCount %d: the last receive comes ≥ %v after the first", maxReceive, shortest)
	if shortest < 30*time.Minute {
		t.Errorf("receives 1..%d wait at least %v in all, want ≥ 30 min", maxReceive-1, shortest)
	}
}

// The handler draws each transient record's delay from its own receive's
// range: a record received many times waits longer than one seen once.
func TestTransientRecordsComeBackAfterTheirReceivesDelay(t *testing.T) {
	_, h := newScripted(map[string]func() (closer.Result, error){
		"R1": func() (closer.Result, error) { return closer.Result{}, unavailable },
		"R2": func() (closer.Result, error) { return closer.Result{}, unavailable },
		"R3": func() (closer.Result, error) { return closer.Result{}, unavailable },
	})
	listed, back := invokeBatch(t, h, record{"m1", "R1", 1}, record{"m2", "R2", 4}, record{"m3", "R3", 12})
	if len(listed) != 3 {
		t.Fatalf("listed %v, want all three", listed)
	}
	for id, receive := range map[string]int{"m1": 1, "m2": 4, "m3": 12} {
		if lo, hi := receiveDelay(receive); back[id] < lo || back[id] > hi {
			t.Errorf("%s on receive %d back after %v, want %v–%v", id, receive, back[id], lo, hi)
		}
	}
	if back["m3"] < 3*time.Minute {
		t.Errorf("a record on its 12th receive comes back after %v, want minutes", back["m3"])
	}
}

// On its last allowed receive a record still transient publishes Recharge
// Close Failed with GAVE_UP, how many tries it had and how the last failed —
// and stays listed, so that the queue hands it to the dead-letter queue.
// Earlier receives, and a handler that does not know maxReceiveCount, publish
// nothing for it.
func TestLastReceivePublishesGaveUp(t *testing.T) {
	answers := map[string]func() (closer.Result, error){"R1": func() (closer.Result, error) { return closer.Result{}, unavailable }}
	for _, tt := range []struct {
		name       string
		maxReceive int
		receive    int
		gaveUp     bool
	}{
		{"last receive", 15, 15, true},
		{"past the last (a lowered maxReceiveCount)", 15, 16, true},
		{"one before the last", 15, 14, false},
		{"maxReceiveCount not known", 0, 15, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, h := newScripted(answers, WithMaxReceiveCount(tt.maxReceive))
			listed, _ := invokeBatch(t, h, record{"m1", "R1", tt.receive})
			if !slices.Equal(listed, []string{"m1"}) {
				t.Errorf("listed %v, want m1: it goes on to the dead-letter queue", listed)
			}
			if !tt.gaveUp {
				if len(c.published) != 0 {
					t.Errorf("published %+v, want nothing", c.published)
				}
				return
			}
			if len(c.published) != 1 {
				t.Fatalf("published %d results, want one GAVE_UP", len(c.published))
			}
			ev := c.published[0].Event()
			detail, _ := json.Marshal(ev.Detail)
			var d struct {
				No    string `json:"out_recharge_no"`
				Sub   string `json:"sub_mchid"`
				Error struct {
					Code      string `json:"code"`
					Attempts  int    `json:"attempts"`
					LastError struct {
						Code string `json:"code"`
					} `json:"last_error"`
				} `json:"error"`
			}
			if err := json.Unmarshal(detail, &d); err != nil {
				t.Fatal(err)
			}
			if ev.DetailType != "Recharge Close Failed" || d.No != "R1" || d.Sub != "1900000109" || d.Error.Code != "GAVE_UP" ||
				d.Error.Attempts != tt.receive || d.Error.LastError.Code != "SERVICE_UNAVAILABLE" {
				t.Errorf("published %s %s, want Recharge Close Failed, GAVE_UP after %d tries, last SERVICE_UNAVAILABLE", ev.DetailType, detail, tt.receive)
			}
		})
	}
}

// A refusal of a recharge still RECHARGING may be a close of it in flight in
// another invocation: on the first receives the record publishes nothing,
// stays listed, and comes back once that invocation must be over to ask
// again; from the third receive on (or on the last allowed one) the refusal
// is final. Other refusals, and records without a receive count, are final at
// once.
func TestRefusalWhileRechargingIsFinalOnlyOnALaterReceive(t *testing.T) {
	notFound := closer.Result{Outcome: closer.Refused, Failure: &closer.Failure{SubMchid: "1900000109", OutRechargeNo: "R2",
		Error: closer.ErrorBody{Code: "ORDER_NOT_EXIST"}, Reason: fault.NotFound}}
	answers := map[string]func() (closer.Result, error){
		"R1": func() (closer.Result, error) { return stillOpen, nil },
		"R2": func() (closer.Result, error) { return notFound, nil },
	}
	for _, tt := range []struct {
		name       string
		rec        record
		maxReceive int
		final      bool
	}{
		{"first receive", record{"m1", "R1", 1}, 15, false},
		{"second receive", record{"m1", "R1", 2}, 15, false},
		{"third receive", record{"m1", "R1", 3}, 15, true},
		{"last allowed receive", record{"m1", "R1", 2}, 2, true},
		{"no receive count", record{"m1", "R1", 0}, 15, true},
		{"ORDER_NOT_EXIST on the first receive", record{"m1", "R2", 1}, 15, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, h := newScripted(answers, WithMaxReceiveCount(tt.maxReceive))
			listed, back := invokeBatch(t, h, tt.rec)
			if tt.final {
				if len(listed) != 0 || len(c.published) != 1 || len(back) != 0 {
					t.Errorf("listed %v, published %d, back %v; want the refusal published and the record gone", listed, len(c.published), back)
				}
				return
			}
			if !slices.Equal(listed, []string{"m1"}) || len(c.published) != 0 {
				t.Errorf("listed %v, published %+v; want m1 listed and nothing published", listed, c.published)
			}
			// The invocation had 30 s: another one of the same recharge ends within that.
			if back["m1"] < 25*time.Second || back["m1"] > 5*time.Minute {
				t.Errorf("m1 back after %v, want once another invocation must be over (≥ 25 s) and within minutes", back["m1"])
			}
		})
	}
}

// WeChat Pay's own PARAM_ERROR would be the same answer seconds later: the
// record waits out the visibility timeout (it is not brought back early),
// while a record WeChat Pay never saw comes back within a second, on its way
// to the dead-letter queue.
func TestParamErrorIsNotResentWithinSeconds(t *testing.T) {
	_, h := newScripted(map[string]func() (closer.Result, error){
		"R1": func() (closer.Result, error) {
			return closer.Result{}, &fault.Error{Kind: fault.InvalidInput, Code: "PARAM_ERROR", Message: "bad", Status: 400}
		},
	})
	listed, back := invokeBatch(t, h, record{"m1", "R1", 1}, record{"m2", "../x", 1})
	if !slices.Equal(listed, []string{"m1", "m2"}) {
		t.Errorf("listed %v, want both", listed)
	}
	if _, soon := back["m1"]; soon || back["m2"] != time.Second {
		t.Errorf("brought back early: %v; want m2 after 1 s and not m1", back)
	}
}

// A message SQS hands over twice in one batch is one record: the batch
// answers normally and lists it once.
func TestRepeatedMessageIDIsListedOnce(t *testing.T) {
	c, h := newScripted(map[string]func() (closer.Result, error){
		"R1": func() (closer.Result, error) { return closer.Result{}, unavailable },
		"R2": func() (closer.Result, error) { return closer.Result{Outcome: closer.Closed}, nil },
	})
	listed, _ := invokeBatch(t, h, record{"m1", "R1", 1}, record{"m1", "R1", 1}, record{"m2", "R2", 1})
	if !slices.Equal(listed, []string{"m1"}) || len(c.published) != 1 {
		t.Errorf("listed %v, published %d; want m1 once and R2's outcome published", listed, len(c.published))
	}
}

// A batch's closes leave time to publish its outcomes and bring its records
// back, more the larger the batch: a batch of 100 publishes in one round of
// calls side by side, inside the second every close keeps free anyway; one of
// 250 needs three rounds, and its closes end two seconds earlier still.
func TestPublishingReserveGrowsWithTheBatch(t *testing.T) {
	for _, tt := range []struct {
		records int
		earlier time.Duration
	}{{10, 0}, {100, 0}, {250, 2 * time.Second}} {
		c, h := newScripted(nil)
		var recs []record
		for i := range tt.records {
			recs = append(recs, record{id: "m" + strconv.Itoa(i), no: "R" + strconv.Itoa(i), receive: 1})
		}
		start := time.Now()
		invokeBatch(t, h, recs...)
		// The batch ran within 30 s of start; its closes had until then, less the answer margin and the reserve.
		want := start.Add(30*time.Second - closer.AnswerMargin - tt.earlier)
		for _, dl := range c.deadlines {
			if d := dl.Sub(want); d > time.Second || d < -time.Second/2 {
				t.Fatalf("%d records: a close's deadline is %v from the invocation's less %v, want within a second of it",
					tt.records, dl.Sub(start.Add(30*time.Second)), closer.AnswerMargin+tt.earlier)
			}
		}
	}
}

// copies records what the handler copied back to the queue; fail makes every copy fail.
type copies struct {
	mu      sync.Mutex
	bodies  map[string]string
	after   map[string]time.Duration
	carried map[string]trigger.Carried
	fail    bool
}

func (c *copies) ResendLater(_ context.Context, _ string, records map[string]trigger.Copy, after map[string]time.Duration) map[string]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := map[string]error{}
	for id := range records {
		if c.fail {
			failed[id] = errors.New("queue down")
			continue
		}
		if c.carried == nil {
			c.carried = map[string]trigger.Carried{}
		}
		c.bodies[id], c.after[id], c.carried[id] = records[id].Record.Body, after[id], records[id].Carried
	}
	return failed
}

// A record that got no turn to call WeChat Pay — nothing was sent — costs no
// receive: a delayed copy goes back on the queue and the original is not
// listed (the event source mapping deletes it). One whose retry got no turn
// after a request went out, or that failed otherwise (past its first
// failure), is kept as before; so is one whose copy could not be sent.
func TestRecordsWithoutATurnAreCopiedNotKept(t *testing.T) {
	noTurn := fault.Timeout(fmt.Errorf("%w: %w", pace.ErrNoTurn, context.DeadlineExceeded), "no turn")
	answers := map[string]func() (closer.Result, error){
		"R1": func() (closer.Result, error) { return closer.Result{}, noTurn },
		"R2": func() (closer.Result, error) { return closer.Result{Exchange: recharge.Exchange{Attempts: 1}}, noTurn },
		"R3": func() (closer.Result, error) { return closer.Result{}, unavailable },
	}
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("copy fails ", fail), func(t *testing.T) {
			cp := &copies{bodies: map[string]string{}, after: map[string]time.Duration{}, fail: fail}
			c, h := newScripted(answers, WithResender(cp), WithMaxReceiveCount(15))
			listed, back := invokeBatch(t, h, record{"m1", "R1", 15}, record{"m2", "R2", 2}, record{"m3", "R3", 2}, record{"m4", "R1", 1})
			if fail {
				if !slices.Equal(listed, []string{"m1", "m2", "m3", "m4"}) || back["m1"] == 0 {
					t.Errorf("copies failed: listed %v, back %v; want all listed and brought back", listed, back)
				}
				// m1, on its last receive and not copied, gives up as any transient record.
				if len(c.published) != 1 || c.published[0].Failure.Error.Code != closer.CodeGaveUp {
					t.Errorf("published %+v, want m1's GAVE_UP", c.published)
				}
				return
			}
			if !slices.Equal(listed, []string{"m2", "m3"}) {
				t.Errorf("listed %v, want m2 and m3: m1 and m4 (same recharge) got no turn and are copied", listed)
			}
			lo, hi := receiveDelay(1)
			if len(cp.bodies) != 1 || cp.bodies["m1"] == "" || cp.after["m1"] < lo || cp.after["m1"] > hi {
				t.Errorf("copied %v after %v; want m1 alone after %v–%v", cp.bodies, cp.after, lo, hi)
			}
			if _, ok := back["m1"]; ok {
				t.Errorf("m1 copied and also brought back: %v", back)
			}
			if len(c.published) != 0 {
				t.Errorf("published %+v for records that got no turn, want nothing", c.published)
			}
		})
	}
}

// SQS's ApproximateAgeOfOldestMessage leaves out messages received three
// times or more, and a copy put back is a new message: each record reports its
// own age, from when its expiry was first sent, and its receive count — in the
// summary line and as metrics, which the record-age alarm watches.
func TestRecordsReportTheirAgeAndReceives(t *testing.T) {
	var out bytes.Buffer
	down := func() (closer.Result, error) { return closer.Result{}, unavailable }
	h := New(&scripted{answers: map[string]func() (closer.Result, error){"R1": down, "R2": down}},
		slog.New(slog.NewJSONHandler(&out, nil)), metrics.NewEMF(&out, "Test", nil))
	now := time.Now()
	sent := now.Add(-10 * time.Minute).UnixMilli()
	firstSent := now.Add(-40 * time.Minute).UnixMilli()
	e := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "old", ReceiptHandle: "old", EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry",
			Body:       `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`,
			Attributes: map[string]string{"ApproximateReceiveCount": "7", "SentTimestamp": strconv.FormatInt(sent, 10)}},
		{MessageId: "copy", ReceiptHandle: "copy", EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry",
			Body:       `{"sub_mchid":"1900000109","out_recharge_no":"R2"}`,
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(now.UnixMilli(), 10)},
			MessageAttributes: map[string]events.SQSMessageAttribute{trigger.FirstSentAttribute: {
				DataType: "Number", StringValue: strPtr(strconv.FormatInt(firstSent, 10))}}},
	}}
	payload, _ := json.Marshal(e)
	if _, err := h.Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		age      float64
		receives float64
	}{"R1": {600, 7}, "R2": {2400, 1}}
	lines, docs := 0, 0
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["msg"] == "close recharge" {
			lines++
			w := want[m["out_recharge_no"].(string)]
			if age, _ := m["record_age_s"].(float64); m["receive_count"] != w.receives || age < w.age || age > w.age+60 {
				t.Errorf("summary line of %v: record_age_s %v, receive_count %v; want about %v s, %v", m["out_recharge_no"], m["record_age_s"], m["receive_count"], w.age, w.receives)
			}
		}
		if _, ok := m["_aws"]; ok {
			docs++
			age, _ := m["RecordAge"].(float64)
			if m["Path"] != metrics.QueuePath || !(age >= 600 && age < 660 && m["ReceiveCount"] == 7.0 || age >= 2400 && age < 2460 && m["ReceiveCount"] == 1.0) {
				t.Errorf("metrics: Path %v, RecordAge %v, ReceiveCount %v", m["Path"], m["RecordAge"], m["ReceiveCount"])
			}
		}
	}
	if lines != 2 || docs != 2 {
		t.Errorf("%d summary lines and %d metrics documents, want 2 and 2", lines, docs)
	}
}

func strPtr(s string) *string { return &s }

// A batch's closes, its publishing and its bringing back all end with the
// answer margin to spare before Lambda's deadline: past it, the invocation
// times out and the whole batch comes back (every record closed again).
func TestBatchKeepsTheAnswerMarginFree(t *testing.T) {
	c := &scripted{}
	h := New(c, slog.New(slog.DiscardHandler), nil)
	payload, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", ReceiptHandle: "m1", EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry", Body: `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`}}})
	deadline := time.Now().Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := h.Invoke(ctx, payload); err != nil {
		t.Fatal(err)
	}
	latest := deadline.Add(-closer.AnswerMargin)
	if len(c.deadlines) != 1 || c.deadlines[0].After(latest) || c.publishDeadline.IsZero() || c.publishDeadline.After(latest) {
		t.Errorf("close deadlines %v, publish deadline %v; want none later than %v (the answer margin before %v)",
			c.deadlines, c.publishDeadline, latest, deadline)
	}
}
