package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/handler"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

// requeued records what the handler asked the queue to bring back soon.
type requeued struct {
	mu      sync.Mutex
	handles map[string]time.Duration
}

func (r *requeued) RetrySoon(_ context.Context, _ string, after map[string]time.Duration) map[string]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.Copy(r.handles, after)
	return nil
}

func sqsEvent(bodies map[string]string) []byte {
	ids := make([]string, 0, len(bodies))
	for id := range bodies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var e events.SQSEvent
	for _, id := range ids {
		e.Records = append(e.Records, events.SQSMessage{MessageId: id, ReceiptHandle: "h-" + id, Body: bodies[id],
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry"})
	}
	b, _ := json.Marshal(e)
	return b
}

// One batch with every kind of record: the answer lists exactly the transient
// and invalid ones, the settled ones are published (in one PutEvents call's
// worth), invalid ones never reach WeChat Pay, transient ones come back after
// the receive budget's first delay and invalid ones after a second, on their
// way to the dead-letter queue.
func TestBatchOfEveryKind(t *testing.T) {
	w := newWorld(t)
	pub := w.publisher
	for no, state := range map[string]string{"B1": recharge.StateRecharging, "B2": recharge.StateClosed,
		"B3": recharge.StateSuccess, "B5": recharge.StateRecharging, "B6": recharge.StateRecharging} {
		if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: no, State: state}); err != nil {
			t.Fatal(err)
		}
	}
	w.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, OutRechargeNo: "B5", Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 100})
	w.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, OutRechargeNo: "B6", Status: 429, Code: "RATELIMIT_EXCEEDED", Times: 100})
	req := &requeued{handles: map[string]time.Duration{}}
	var logs bytes.Buffer
	h := handler.New(w.service(true, true), slog.New(slog.NewJSONHandler(&logs, nil)), nil, handler.WithRequeuer(req))
	body := func(no string) string { return fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, modelSub, no) }
	batch := sqsEvent(map[string]string{
		"m1": body("B1"),                                                                                                   // closed now
		"m2": `{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","detail":` + body("B2") + `}`, // already closed
		"m3": body("B3"),                                                                                                   // paid first
		"m4": body("B4"),                                                                                                   // WeChat Pay does not know it
		"m5": body("B5"),                                                                                                   // 503 throughout
		"m6": body("B6"),                                                                                                   // rate-limited throughout
		"m7": `{"sub_mchid":"1900000109","out_recharge_no":"../B7"}`,                                                       // invalid
		"m8": `{"version":"2.0","routeKey":"x","requestContext":{},"pathParameters":{"out_recharge_no":"B8"}}`,             // an API event: invalid here
		"m9": `{"detail-type":"Recharge Closed","detail":` + body("B9") + `}`,                                              // our own outcome: invalid
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Invoke(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	sort.Strings(failed)
	if !slices.Equal(failed, []string{"m5", "m6", "m7", "m8", "m9"}) {
		t.Errorf("batchItemFailures = %v, want the transient m5, m6 and the invalid m7, m8, m9", failed)
	}
	got := map[string]string{}
	for _, e := range pub.take() {
		got[numberOf(e.detail)] = e.detailType
	}
	want := map[string]string{"B1": outcome.Closed, "B2": outcome.Closed, "B3": outcome.Rejected, "B4": outcome.Failed}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published %v, want %v", got, want)
	}
	// A first receive's delay is 4–5 s, rate-limited or not: the pace, cut
	// by the 429, is what slows the instance down.
	if len(req.handles) != 5 || req.handles["h-m5"] < 4*time.Second || req.handles["h-m6"] < 4*time.Second ||
		req.handles["h-m7"] != time.Second || req.handles["h-m8"] != time.Second || req.handles["h-m9"] != time.Second {
		t.Errorf("brought back soon: %v; want h-m5 and the rate-limited h-m6 after ≥ 4 s, the invalid m7–m9 after 1 s, nothing else", req.handles)
	}
	for _, no := range []string{"B7", "B8", "B9"} {
		if _, ok := w.sim.Recharge(modelSub, no); ok {
			t.Errorf("%s exists at WeChat Pay", no)
		}
	}
	// The rate-limited record was not retried inside the invocation.
	if n := w.sim.Calls("close"); n > 6+4 {
		t.Errorf("%d closes reached WeChat Pay for 6 valid records; the 503 one may retry 4 times, the 429 one once", n)
	}
	// Its summary line says so; no other line counts a rate-limited answer.
	limited := map[string]float64{}
	for line := range bytes.Lines(logs.Bytes()) {
		var l struct {
			No          string  `json:"out_recharge_no"`
			RateLimited float64 `json:"rate_limited"`
		}
		if json.Unmarshal(line, &l) == nil && l.RateLimited > 0 {
			limited[l.No] = l.RateLimited
		}
	}
	if fmt.Sprint(limited) != "map[B6:1]" {
		t.Errorf("rate_limited in the summary lines: %v, want B6 once", limited)
	}
}

// Records of one batch are closed side by side: ten records against a
// WeChat Pay that takes 100 ms each take far less than ten times that.
func TestBatchRecordsRunSideBySide(t *testing.T) {
	keys := simulator.SharedKeys()
	sim := simulator.New(keys, simulator.WithLatency(100*time.Millisecond))
	w := newWorldWith(t, sim)
	bodies := map[string]string{}
	for i := range 10 {
		no := fmt.Sprint("S", i)
		if err := sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: no}); err != nil {
			t.Fatal(err)
		}
		bodies[fmt.Sprint("m", i)] = fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, modelSub, no)
	}
	var peak, now int
	var mu sync.Mutex
	w.recorder.onRequest = func(delta int) {
		mu.Lock()
		now += delta
		peak = max(peak, now)
		mu.Unlock()
	}
	h := handler.New(w.service(true, true), slog.New(slog.DiscardHandler), nil, handler.WithBatchParallelism(4))
	out, err := h.Invoke(context.Background(), sqsEvent(bodies))
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Fatalf("answer %s, %v", out, err)
	}
	if peak != 4 {
		t.Errorf("at most %d requests at WeChat Pay at once, want the parallelism 4", peak)
	}
}

// Records of one batch naming the same recharge — a schedule and a rule for
// one expiry, a redelivery — share one close and one outcome: one request
// reaches WeChat Pay, one event is published, and they stay or go together.
func TestBatchClosesARechargeOnceForAllItsRecords(t *testing.T) {
	for _, publishFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("publish fails %v", publishFails), func(t *testing.T) {
			w := newWorld(t)
			if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: "D1", State: recharge.StateRecharging}); err != nil {
				t.Fatal(err)
			}
			w.publisher.fail = publishFails
			req := &requeued{handles: map[string]time.Duration{}}
			var logs bytes.Buffer
			h := handler.New(w.service(true, true), slog.New(slog.NewJSONHandler(&logs, nil)), nil, handler.WithRequeuer(req))
			d1 := fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":"D1"}`, modelSub)
			answer, err := h.Invoke(context.Background(), sqsEvent(map[string]string{
				"m1": d1,
				"m2": `{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","detail":` + d1 + `}`,
				"m3": d1,
			}))
			if err != nil {
				t.Fatal(err)
			}
			var resp events.SQSEventResponse
			if err := json.Unmarshal(answer, &resp); err != nil {
				t.Fatal(err)
			}
			if n := w.sim.Calls("close") + w.sim.Calls("query"); n != 1 {
				t.Errorf("%d requests reached WeChat Pay for one recharge", n)
			}
			events := w.publisher.take()
			if publishFails {
				if len(resp.BatchItemFailures) != 3 || len(req.handles) != 3 || len(events) != 0 {
					t.Errorf("publish failed: listed %v, brought back %v, published %d; want all three kept and back soon", resp.BatchItemFailures, req.handles, len(events))
				}
				return
			}
			if len(resp.BatchItemFailures) != 0 || len(events) != 1 || events[0].detailType != outcome.Closed {
				t.Errorf("listed %v, published %v; want none listed, one Recharge Closed", resp.BatchItemFailures, events)
			}
			// Each record has its line; the requests are counted once, on the first.
			lines := map[string]string{}
			for line := range bytes.Lines(logs.Bytes()) {
				var l struct {
					ID       string `json:"message_id"`
					With     string `json:"answered_with"`
					Attempts int    `json:"attempts"`
					Outcome  string `json:"outcome"`
				}
				if json.Unmarshal(line, &l) == nil && l.ID != "" {
					lines[l.ID] = fmt.Sprintf("%s %d %s", l.Outcome, l.Attempts, l.With)
				}
			}
			if want := "map[m1:closed 1  m2:closed 0 m1 m3:closed 0 m1]"; fmt.Sprint(lines) != want {
				t.Errorf("summary lines %v, want %s", lines, want)
			}
		})
	}
}

// Two sub-merchants may use the same out_recharge_no: records naming them are
// two recharges, each closed at WeChat Pay and published on its own.
func TestBatchTellsSubMerchantsApart(t *testing.T) {
	w := newWorld(t)
	const otherSub = "1900000110"
	for _, sub := range []string{modelSub, otherSub} {
		if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "T1", State: recharge.StateRecharging}); err != nil {
			t.Fatal(err)
		}
	}
	h := handler.New(w.service(true, true), slog.New(slog.DiscardHandler), nil)
	out, err := h.Invoke(context.Background(), sqsEvent(map[string]string{
		"m1": fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":"T1"}`, modelSub),
		"m2": fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":"T1"}`, otherSub),
	}))
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Fatalf("answer %s, %v", out, err)
	}
	for _, sub := range []string{modelSub, otherSub} {
		if rc, _ := w.sim.Recharge(sub, "T1"); rc.RechargeState != recharge.StateClosed {
			t.Errorf("%s/T1 is %s at WeChat Pay, want CLOSED: its record was answered with the other sub-merchant's close", sub, rc.RechargeState)
		}
	}
	if n := len(w.publisher.take()); n != 2 {
		t.Errorf("%d events published, want one per recharge", n)
	}
}
