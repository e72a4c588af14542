package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/pace"
	"close-recharge/internal/trigger"
)

// lifetime follows one expiry through the queue as SQS and the event source
// mapping treat it: a listed record is received again on its message (its
// receive count one more), a copied one arrives as a new message carrying
// what the copy was given, and a record listed on its queue's last allowed
// receive goes to the dead-letter queue. It returns after that, or once the
// expiry is settled, or after limit receives.
type lifetime struct {
	receives, copies int
	deadLettered     bool
	settled          bool
}

func live(t *testing.T, h *Handler, maxReceive, limit int) lifetime {
	t.Helper()
	cp := &copies{bodies: map[string]string{}, after: map[string]time.Duration{}}
	h.resender = cp
	var l lifetime
	id, receive, carried := "m0", 1, trigger.Carried{}
	for l.receives < limit {
		l.receives++
		m := events.SQSMessage{MessageId: id, ReceiptHandle: id + "/" + strconv.Itoa(receive), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:expiry", Body: `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`,
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receive)}}
		if carried != (trigger.Carried{}) {
			number := func(n int) events.SQSMessageAttribute {
				return events.SQSMessageAttribute{DataType: "Number", StringValue: strPtr(strconv.Itoa(n))}
			}
			m.MessageAttributes = map[string]events.SQSMessageAttribute{
				trigger.ReceivesAttribute: number(carried.Receives), trigger.CopiesAttribute: number(carried.Copies)}
			if carried.FirstError != "" {
				m.MessageAttributes[trigger.FirstErrorAttribute] = events.SQSMessageAttribute{DataType: "String", StringValue: strPtr(carried.FirstError)}
			}
		}
		payload, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{m}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := h.Invoke(ctx, payload)
		cancel()
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		copied, ok := cp.carried[id]
		switch {
		case ok && len(resp.BatchItemFailures) > 0:
			t.Fatalf("receive %d: %s copied and also listed", l.receives, id)
		case ok:
			l.copies++
			id, receive, carried = "m"+strconv.Itoa(l.copies), 1, copied
		case len(resp.BatchItemFailures) == 0:
			l.settled = true
			return l
		case receive >= maxReceive:
			l.deadLettered = true
			return l
		default:
			receive++
		}
	}
	return l
}

// A record still failing when its receives run out publishes GAVE_UP once,
// with its tries over every message of the expiry and its first and last
// errors — the first from an earlier invocation, carried by the copy its
// first failure put back (a record kept on its message cannot carry it: SQS
// keeps a message as it was sent).
func TestGaveUpCarriesTheFirstAndLastError(t *testing.T) {
	tries := 0
	c, h := newScripted(map[string]func() (closer.Result, error){"R1": func() (closer.Result, error) {
		if tries++; tries == 1 {
			return closer.Result{}, &fault.Error{Kind: fault.Transient, Code: "SYSTEM_ERROR", Message: "busy", Status: 500}
		}
		return closer.Result{}, unavailable
	}}, WithMaxReceiveCount(15))
	l := live(t, h, 15, 100)
	if !l.deadLettered || l.copies != 1 || tries != 16 {
		t.Fatalf("lifetime %+v after %d tries, want dead-lettered after one copy (the first failure's) and 16 tries", l, tries)
	}
	if len(c.published) != 1 || c.published[0].Failure.Error.Code != closer.CodeGaveUp {
		t.Fatalf("published %+v, want one GAVE_UP", c.published)
	}
	e := c.published[0].Failure.Error
	if e.Attempts != 16 || e.LastError.Code != "SERVICE_UNAVAILABLE" || e.FirstError == nil || e.FirstError.Code != "SYSTEM_ERROR" ||
		!strings.Contains(e.Message, "first error SYSTEM_ERROR") || !strings.Contains(e.Message, "last error SERVICE_UNAVAILABLE") ||
		!strings.Contains(e.Message, "16 tries") {
		t.Errorf("GAVE_UP %+v: want 16 tries, first error SYSTEM_ERROR and last SERVICE_UNAVAILABLE", e)
	}
}

// A copy is a new message, which SQS counts from no receives again: an expiry
// that never gets a turn to call WeChat Pay must still end, in GAVE_UP and
// the dead-letter queue, after a bounded number of copies — its copies carry
// how many there were. An expiry that gets turns and copies in turn spends
// its tries across its messages.
func TestCopiesDoNotResetTheReceiveBudget(t *testing.T) {
	noTurn := fault.Timeout(fmt.Errorf("%w: %w", pace.ErrNoTurn, context.DeadlineExceeded), "no turn")
	t.Run("never a turn", func(t *testing.T) {
		c, h := newScripted(map[string]func() (closer.Result, error){"R1": func() (closer.Result, error) { return closer.Result{}, noTurn }},
			WithMaxReceiveCount(15))
		l := live(t, h, 15, 200)
		t.Logf("%d receives, %d copies", l.receives, l.copies)
		if !l.deadLettered || l.copies > 15 || len(c.published) != 1 || c.published[0].Failure.Error.Code != closer.CodeGaveUp {
			t.Fatalf("lifetime %+v, published %d; want GAVE_UP and the dead-letter queue after at most 15 copies", l, len(c.published))
		}
	})
	t.Run("turns and no turns in turn", func(t *testing.T) {
		tries := 0
		c, h := newScripted(map[string]func() (closer.Result, error){"R1": func() (closer.Result, error) {
			if tries++; tries%3 == 0 {
				return closer.Result{}, noTurn
			}
			return closer.Result{}, unavailable
		}}, WithMaxReceiveCount(15))
		l := live(t, h, 15, 200)
		t.Logf("%d receives, %d copies, %d tries", l.receives, l.copies, tries)
		if !l.deadLettered || l.receives > 45 || len(c.published) != 1 {
			t.Fatalf("lifetime %+v, published %d; want the dead-letter queue after at most 45 receives (three budgets), GAVE_UP once", l, len(c.published))
		}
		if got := c.published[0].Failure.Error.Attempts; got < 15 {
			t.Errorf("GAVE_UP after %d tries, want all the expiry's tries counted (≥ 15)", got)
		}
	})
}
