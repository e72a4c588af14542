package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
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
// — and EventBridge refuses the entries of some recharges. Some batches run
// without a bus, some after a merchant key rotation, some while the key store
// fails every read. After the real handler answers, for every record:
//
//   - invalid records are listed, never reach WeChat Pay and come back after
//     1 s (each receive counts toward the redrive policy, which takes them to
//     the dead-letter queue);
//   - records naming the same recharge share one answer: all listed, or none;
//   - a recharge whose answers hold no slow one has its outcome predicted (see
//     predictor), and its records are listed exactly when it ended transient
//     (brought back within 2–8 s), invalid (after 1 s), a configuration
//     failure, or refused with no bus to tell of it (both left for the queue's
//     visibility timeout and redrive policy); it has one event, of the
//     outcome's detail type, exactly when its records are unlisted and a bus
//     is there;
//   - with a bus, a listed record has nothing published, an unlisted one
//     exactly one event, which says what WeChat Pay's record says (the same
//     rules as the single-close model); without one, nothing is published;
//   - nothing is published about a recharge outside the batch.
//
// So no record is lost: each is either published or kept in the queue.
func TestBatchModel(t *testing.T) {
	n := *modelSequences / 4
	if testing.Short() {
		n = min(n, 60)
	}
	var c tally
	playSeeds(t, n, func(w *world, seed uint64) (fmt.Stringer, error) {
		b := generateBatch(seeded{rand.New(rand.NewPCG(seed, 0xba7c4))}, fmt.Sprintf("S%d", seed))
		for no := range b.seeds {
			c.add(b.predicted(no))
		}
		return b, w.runBatch(t, b)
	})
	t.Logf("%d recharges with a predicted outcome, %d held to consistency only", c.predicted.Load(), c.consistent.Load())
}

// batchRecord is one generated record: a close request for no, or an invalid body.
type batchRecord struct {
	id, body, no string
	invalid      bool
}

type batch struct {
	records    []batchRecord
	seeds      map[string]string      // recharge → state ("" = WeChat Pay does not know it)
	steps      map[string][]behaviour // recharge → its answers
	failNos    map[string]bool        // recharges whose PutEvents entries fail
	noBus      bool
	rotate     bool
	storeFails string // every read of the key store fails so while the batch runs
}

// patient reports whether no answer of the batch is slow.
func (b batch) patient() bool {
	for _, steps := range b.steps {
		if !predicted(steps) {
			return false
		}
	}
	return true
}

// predicted reports whether the outcome for recharge no is predicted: the
// batch has no slow answer, and after a rotation the recharge has no answer
// that re-reads keys (whether its first request still carries the old key
// depends on how the records' requests interleave).
func (b batch) predicted(no string) bool {
	return b.patient() && !(b.rotate && slices.ContainsFunc(b.steps[no], behaviour.staleKeys))
}

func (b batch) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "no bus %v, key rotated %v, key store fails %q", b.noBus, b.rotate, b.storeFails)
	for _, r := range b.records {
		fmt.Fprintf(&sb, "\n\t%s %s", r.id, r.body)
		if !r.invalid {
			fmt.Fprintf(&sb, " [state %q, publish fails %v]", b.seeds[r.no], b.failNos[r.no])
		}
	}
	for no, steps := range b.steps {
		for _, bh := range steps {
			fmt.Fprintf(&sb, "\n\tanswer for %s: %s", no, bh.name)
		}
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
	b := batch{seeds: map[string]string{}, steps: map[string][]behaviour{}, failNos: map[string]bool{},
		noBus: c.intn(5) == 0, rotate: c.intn(8) == 0}
	if c.intn(16) == 0 {
		b.storeFails = storeFailures[c.intn(len(storeFailures))]
	}
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
			b.steps[r.no] = generateSteps(c, 4)
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

func (w *world) runBatch(t testing.TB, b batch) error {
	for no, state := range b.seeds {
		if state == "" {
			continue
		}
		if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: no, Amount: 5000, State: state}); err != nil {
			return err
		}
	}
	if _, err := w.prepare(t, b.rotate, b.storeFails, true); err != nil {
		return err
	}
	defer w.secrets.failWith("", false)
	w.sim.ClearFaults()
	want := map[string]prediction{}
	for no, steps := range b.steps {
		for _, bh := range steps {
			f := bh.fault
			f.Body = strings.ReplaceAll(f.Body, "%s", no)
			f.OutRechargeNo = no
			w.sim.Inject(f)
		}
		if b.predicted(no) {
			p := predictor{state: b.seeds[no], answers: steps, cached: b.storeFails == "", rotated: b.rotate,
				storeFails: b.storeFails, failAlways: true, batch: true}
			want[no] = p.invoke()
		}
	}
	defer w.sim.ClearFaults()
	w.publisher.failNos = b.failNos
	defer func() { w.publisher.failNos = nil }()
	w.recorder.reset()
	rq := &requeued{handles: map[string]time.Duration{}}
	h := w.handler(b.patient(), !b.noBus, handler.WithRequeuer(rq))

	var e events.SQSEvent
	for _, r := range b.records {
		e.Records = append(e.Records, events.SQSMessage{MessageId: r.id, ReceiptHandle: "h-" + r.id, Body: r.body,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry"})
	}
	payload, _ := json.Marshal(e)
	deadline := 3 * time.Second
	if b.patient() {
		deadline = patientDeadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
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
		if r.invalid {
			if !kept {
				return fmt.Errorf("invalid record %s not listed", r.id)
			}
			if !back || after != time.Second {
				return fmt.Errorf("invalid record %s brought back after %v (requeued %v), want 1 s: on its way to the dead-letter queue", r.id, after, back)
			}
			if w.recorder.asked(r.no) {
				return fmt.Errorf("invalid record %s reached WeChat Pay", r.id)
			}
			continue
		}
		if p, ok := want[r.no]; ok {
			if err := expectRecord(p, b.noBus, b.failNos[r.no], kept, back, after); err != nil {
				return fmt.Errorf("record %s of %s: %v", r.id, r.no, err)
			}
		}
		switch {
		case !kept:
			unlisted[r.no]++
			if back {
				return fmt.Errorf("settled record %s was also brought back", r.id)
			}
		case !back:
			// A configuration failure, or a refusal nobody hears of: both wait
			// out the visibility timeout.
		case after == time.Second:
			if !w.recorder.sent(r.no + " " + wechatpay.CodeParamError) {
				return fmt.Errorf("record %s brought back as invalid, but WeChat Pay did not answer PARAM_ERROR about it", r.id)
			}
		case after < 2*time.Second || after > 8*time.Second:
			return fmt.Errorf("listed record %s brought back after %v, want 2–8 s", r.id, after)
		}
	}
	if len(listed) > 0 {
		return fmt.Errorf("listed message ids not in the batch: %v", listed)
	}
	for no, evs := range byNo {
		if _, ours := b.seeds[no]; !ours {
			return fmt.Errorf("published about %q, which the batch does not name", no)
		}
		if b.noBus {
			return fmt.Errorf("%s: published without a bus", no)
		}
		if len(evs) != 1 || unlisted[no] == 0 {
			return fmt.Errorf("%s: %d records settled, %d events published; want one event for them", no, unlisted[no], len(evs))
		}
		if p, ok := want[no]; ok {
			var f closer.Failure
			_ = json.Unmarshal(evs[0].detail, &f)
			if evs[0].detailType != detailTypes[p.kind] || f.Error.Code != p.code {
				return fmt.Errorf("%s: published %q %s, predicted %s %s", no, evs[0].detailType, evs[0].detail, p.kind, p.code)
			}
		}
		if err := w.checkEvent(no, evs[0]); err != nil {
			return fmt.Errorf("%s: %v", no, err)
		}
	}
	for no, k := range unlisted {
		if !b.noBus && len(byNo[no]) != 1 {
			return fmt.Errorf("%s: %d records settled and removed from the queue, %d events published", no, k, len(byNo[no]))
		}
	}
	return nil
}

// detailTypes are the published detail types of the settled outcomes.
var detailTypes = map[string]string{kindClosed: outcome.Closed, kindNotClosable: outcome.Rejected, kindRefused: outcome.Failed}

// expectRecord holds a record's place in the answer to its recharge's
// prediction: whether it is listed, and whether and when it comes back.
func expectRecord(p prediction, noBus, publishFails, kept, back bool, after time.Duration) error {
	wantKept, wantBack := false, false
	switch {
	case p.kind == kindTransient:
		wantKept, wantBack = true, true
	// A well-formed record that WeChat Pay answers PARAM_ERROR would get the
	// same answer seconds later: it waits out the visibility timeout.
	case p.kind == kindInvalid, p.kind == kindConfiguration, p.kind == kindRefused && noBus:
		wantKept = true
	case !noBus && publishFails:
		wantKept, wantBack = true, true
	}
	if kept != wantKept || back != wantBack {
		return fmt.Errorf("predicted %s %s (no bus %v, publish fails %v): listed %v, brought back %v; want %v, %v",
			p.kind, p.code, noBus, publishFails, kept, back, wantKept, wantBack)
	}
	if back && (after < 2*time.Second || after > 8*time.Second) {
		return fmt.Errorf("predicted %s, brought back after %v, want 2–8 s", p.kind, after)
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
		if err := w.recorder.refusalHeld(no, f.Error.Code); err != nil {
			return err
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
		if err := w.runBatch(t, b); err != nil {
			t.Fatalf("%v\n\t%v", err, b)
		}
	})
}
