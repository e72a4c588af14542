package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/closer"
	"close-recharge/internal/handler"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// The burst path's model-based test: each generated SQS batch holds 1–10
// records — recharges in every state, some named twice in one batch, each
// with its own run of WeChat Pay misbehaviours, and invalid bodies among them
// — and EventBridge refuses the entries of some recharges. After the real
// handler answers, for every record:
//
//   - listed in batchItemFailures ⇔ nothing was published for it; invalid
//     records are listed, never reach WeChat Pay and come back after 1 s (each
//     receive counts toward the redrive policy, which takes them to the
//     dead-letter queue);
//   - a listed valid record was brought back within 2–8 s; an unlisted one
//     was not;
//   - records naming the same recharge share one answer: all listed, or none;
//   - a recharge with unlisted records has exactly one event, which says what
//     WeChat Pay's record says (the same rules as the single-close model:
//     closed ⇒ CLOSED with the record's fields, not closable ⇒ SUCCESS,
//     refused ⇒ still RECHARGING or absent, with a code WeChat Pay sent for
//     that recharge);
//   - nothing is published about a recharge outside the batch.
//
// So no record is lost: each is either published or kept in the queue.
func TestBatchModel(t *testing.T) {
	n := *modelSequences / 4
	if testing.Short() {
		n = min(n, 60)
	}
	playSeeds(t, n, func(w *world, seed uint64) (fmt.Stringer, error) {
		b := generateBatch(seeded{rand.New(rand.NewPCG(seed, 0xba7c4))}, fmt.Sprintf("S%d", seed))
		return b, w.runBatch(b)
	})
}

// batchRecord is one generated record: a close request for no, or an invalid body.
type batchRecord struct {
	id, body, no string
	invalid      bool
}

type batch struct {
	records []batchRecord
	seeds   map[string]string // recharge → state ("" = WeChat Pay does not know it)
	faults  []simulator.Fault
	failNos map[string]bool // recharges whose PutEvents entries fail
}

func (b batch) String() string {
	var sb strings.Builder
	for _, r := range b.records {
		fmt.Fprintf(&sb, "\n\t%s %s", r.id, r.body)
		if !r.invalid {
			fmt.Fprintf(&sb, " [state %q, publish fails %v]", b.seeds[r.no], b.failNos[r.no])
		}
	}
	for _, f := range b.faults {
		fmt.Fprintf(&sb, "\n\tfault for %s: %+v", f.OutRechargeNo, f)
	}
	return sb.String()
}

var invalidBodies = []string{
	`{"sub_mchid":"` + modelSub + `","out_recharge_no":"../%s"}`,
	`{"sub_mchid":"` + modelSub + `","out_recharge_no":"%s","SUB_MCHID":"` + modelSub + `"}`,
	`{"version":"2.0","routeKey":"POST /recharges/{out_recharge_no}/close","requestContext":{},"pathParameters":{"out_recharge_no":"%s"}}`,
	`{"version":"0","detail-type":"Recharge Closed","source":"wechatpay.recharge","detail":{"sub_mchid":"` + modelSub + `","out_recharge_no":"%s"}}`,
	`{"Records":[{"messageId":"x","eventSource":"aws:sqs","body":"{\"out_recharge_no\":\"%s\"}"}]}`,
	`{"sub_mchid":"` + modelSub + `","out_recharge_no":"%s"`,
	`{"sub_mchid":"19000001x9","out_recharge_no":"%s"}`,
}

func generateBatch(c chooser, prefix string) batch {
	b := batch{seeds: map[string]string{}, failNos: map[string]bool{}}
	var nos []string
	for i := range 1 + c.intn(10) {
		r := batchRecord{id: fmt.Sprintf("%s-m%d", prefix, i)}
		switch {
		case c.intn(8) == 0:
			r.invalid, r.no = true, fmt.Sprintf("%sX%d", prefix, i)
			r.body = fmt.Sprintf(invalidBodies[c.intn(len(invalidBodies))], r.no)
		case len(nos) > 0 && c.intn(6) == 0: // a recharge the batch already names
			r.no = nos[c.intn(len(nos))]
		default:
			r.no = fmt.Sprintf("%sR%d", prefix, i)
			nos = append(nos, r.no)
			b.seeds[r.no] = states[c.intn(len(states))]
			b.failNos[r.no] = c.intn(10) == 0
			slow, rule := false, false
			for range c.intn(4) {
				bh := behaviours[c.intn(len(behaviours))]
				if (bh.slow && rule) || (bh.rule && slow) {
					continue // see generate
				}
				slow, rule = slow || bh.slow, rule || bh.rule
				f := bh.fault
				f.Body = strings.ReplaceAll(f.Body, "%s", r.no)
				f.OutRechargeNo = r.no
				b.faults = append(b.faults, f)
			}
		}
		if !r.invalid {
			req := fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, modelSub, r.no)
			switch c.intn(3) {
			case 0:
				r.body = req
			case 1:
				r.body = `{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","detail":` + req + `}`
			default:
				d, _ := json.Marshal(req)
				r.body = `{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","detail":` + string(d) + `}`
			}
		}
		b.records = append(b.records, r)
	}
	return b
}

func (w *world) runBatch(b batch) error {
	for no, state := range b.seeds {
		if state == "" {
			continue
		}
		if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: no, Amount: 5000, State: state}); err != nil {
			return err
		}
	}
	w.sim.ClearFaults()
	w.sim.Inject(b.faults...)
	defer w.sim.ClearFaults()
	w.publisher.failNos = b.failNos
	defer func() { w.publisher.failNos = nil }()
	w.recorder.reset()
	rq := &requeued{handles: map[string]time.Duration{}}
	h := handler.New(w.closer, slog.New(slog.DiscardHandler), nil, handler.WithRequeuer(rq))

	var e events.SQSEvent
	for _, r := range b.records {
		e.Records = append(e.Records, events.SQSMessage{MessageId: r.id, ReceiptHandle: "h-" + r.id, Body: r.body,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry"})
	}
	payload, _ := json.Marshal(e)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	answer, err := h.Invoke(ctx, payload)
	cancel()
	if serr := w.recorder.settle(); serr != nil {
		return serr
	}
	if err != nil {
		return fmt.Errorf("the batch failed as a whole: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(answer, &resp); err != nil {
		return fmt.Errorf("answer %s: %v", answer, err)
	}
	listed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if listed[f.ItemIdentifier] {
			return fmt.Errorf("%s listed twice", f.ItemIdentifier)
		}
		listed[f.ItemIdentifier] = true
	}
	byNo := map[string][]published{}
	for _, ev := range w.publisher.take() {
		no := numberOf(ev.detail)
		byNo[no] = append(byNo[no], ev)
	}
	unlisted := map[string]int{} // recharge → records not listed
	keptAs := map[string]bool{}  // recharge → whether its first record was listed
	for _, r := range b.records {
		kept := listed[r.id]
		if k, seen := keptAs[r.no]; seen && k != kept && !r.invalid {
			return fmt.Errorf("records of %s answered differently: one listed, one not", r.no)
		}
		keptAs[r.no] = kept
		delete(listed, r.id)
		after, back := rq.handles["h-"+r.id]
		switch {
		case r.invalid:
			if !kept {
				return fmt.Errorf("invalid record %s not listed", r.id)
			}
			if !back || after != time.Second {
				return fmt.Errorf("invalid record %s brought back after %v (requeued %v), want 1 s: on its way to the dead-letter queue", r.id, after, back)
			}
			if w.recorder.asked(r.no) {
				return fmt.Errorf("invalid record %s reached WeChat Pay", r.id)
			}
		case kept:
			if !back || after < 2*time.Second || after > 8*time.Second {
				return fmt.Errorf("listed record %s brought back after %v (requeued %v), want 2–8 s", r.id, after, back)
			}
		default:
			unlisted[r.no]++
			if back {
				return fmt.Errorf("settled record %s was also brought back", r.id)
			}
		}
	}
	if len(listed) > 0 {
		return fmt.Errorf("listed message ids not in the batch: %v", listed)
	}
	for no, evs := range byNo {
		if _, ours := b.seeds[no]; !ours {
			return fmt.Errorf("published about %q, which the batch does not name", no)
		}
		if len(evs) != 1 || unlisted[no] == 0 {
			return fmt.Errorf("%s: %d records settled, %d events published; want one event for them", no, unlisted[no], len(evs))
		}
		for _, ev := range evs {
			if err := w.checkEvent(no, ev); err != nil {
				return fmt.Errorf("%s: %v", no, err)
			}
		}
	}
	for no, k := range unlisted {
		if len(byNo[no]) != 1 {
			return fmt.Errorf("%s: %d records settled and removed from the queue, %d events published", no, k, len(byNo[no]))
		}
	}
	return nil
}

// checkEvent holds one published event against WeChat Pay's record of no.
func (w *world) checkEvent(no string, ev published) error {
	record, exists := w.sim.Recharge(modelSub, no)
	switch ev.detailType {
	case outcome.Closed, outcome.Rejected:
		want := recharge.StateClosed
		if ev.detailType == outcome.Rejected {
			want = recharge.StateSuccess
		}
		if !exists || record.RechargeState != want {
			return fmt.Errorf("published %q, but the record is %q (exists %v)", ev.detailType, record.RechargeState, exists)
		}
		return w.sim.Matches(modelSub, no, ev.detail)
	case outcome.Failed:
		var f closer.Failure
		if err := json.Unmarshal(ev.detail, &f); err != nil {
			return err
		}
		if exists && record.RechargeState != recharge.StateRecharging {
			return fmt.Errorf("refused (%s), but the record is %s", f.Error.Code, record.RechargeState)
		}
		if !w.recorder.sent(no + " " + f.Error.Code) {
			return fmt.Errorf("refused with %s, a code WeChat Pay did not send about it", f.Error.Code)
		}
		if f.Error.Code == wechatpay.CodeOrderNotExist && exists {
			return fmt.Errorf("refused as ORDER_NOT_EXIST, but the recharge exists")
		}
		if f.SubMchid != modelSub || f.OutRechargeNo != no {
			return fmt.Errorf("refusal names %s/%s", f.SubMchid, f.OutRechargeNo)
		}
		return nil
	}
	return fmt.Errorf("published %q", ev.detailType)
}

// FuzzBatchModel explores batches beyond the seeded ones (make fuzz).
func FuzzBatchModel(f *testing.F) {
	addSeeds(f)
	w := newWorld(f)
	var count atomic.Uint64
	f.Fuzz(func(t *testing.T, choices []byte) {
		b := generateBatch(&fuzzed{b: choices}, fmt.Sprintf("F%d", count.Add(1)))
		if err := w.runBatch(b); err != nil {
			t.Fatalf("%v\n\t%v", err, b)
		}
	})
}
