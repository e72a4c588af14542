package expiry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"close-recharge/internal/awstest"
	"close-recharge/internal/fault"
)

// Requests for one recharge, made a minute apart: EventBridge's and Lambda's
// retries can deliver any of them up to about an hour late.
var (
	first  = time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	second = first.Add(time.Minute)
)

func (f *fixture) cancel(t *testing.T, req Request) Result {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	res, err := f.svc.Cancel(ctx, req)
	if err != nil {
		t.Fatalf("Cancel(%+v): %v", req, err)
	}
	return res
}

// expectSchedule checks the recharge's schedule: its at() and whether it runs.
func (f *fixture) expectSchedule(t *testing.T, name, expr string, state schedtypes.ScheduleState) {
	t.Helper()
	got, err := f.get(t, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if e := aws.ToString(got.ScheduleExpression); (expr != "" && e != expr) || got.State != state {
		t.Errorf("%s: %s %s, want %s %s (%q)", name, e, got.State, expr, state, aws.ToString(got.Description))
	}
}

// A platform moves an expiry later, then the late retry of its first request
// arrives: the schedule stays at the later time, or the recharge is closed
// before the platform's latest deadline.
func TestAnOlderRequestIsSuperseded(t *testing.T) {
	f := newFixture(t)
	older := Request{SubMchid: "1900000109", OutRechargeNo: "RC1", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first}
	newer := Request{SubMchid: "1900000109", OutRechargeNo: "RC1", ExpireTime: "2026-12-01T20:00:00+08:00", RequestedAt: second}
	f.set(t, newer)
	res := f.set(t, older)
	if res.State != Superseded || res.Standing != Scheduled || res.ExpireTime != "2026-12-01T12:00:00Z" {
		t.Errorf("late older request: %+v, want superseded by the schedule at 12:00Z", res)
	}
	f.expectSchedule(t, "close-1900000109-RC1", "at(2026-12-01T12:00:00)", schedtypes.ScheduleStateEnabled)
	if n := f.sched.updates.Load(); n != 0 {
		t.Errorf("%d updates: a superseded request wrote the schedule", n)
	}
	// Its time past by now, it still does not go onto the queue.
	older.ExpireTime = "2026-12-01T09:00:00+08:00"
	if res := f.set(t, older); res.State != Superseded {
		t.Errorf("late older request due now: %+v, want superseded", res)
	}
	f.expectSchedule(t, "close-1900000109-RC1", "at(2026-12-01T12:00:00)", schedtypes.ScheduleStateEnabled)
	ctx, cancel := awstest.Ctx()
	defer cancel()
	out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.stack.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("a superseded request put %d messages on the queue", len(out.Messages))
	}
}

// In order, the newer request moves the schedule; and a newer request for
// the same time writes its own time, so that the late retry of one made in
// between cannot move the schedule away from it.
func TestANewerRequestMovesTheSchedule(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC2", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first}
	f.set(t, req)
	moved := Request{SubMchid: "1900000109", OutRechargeNo: "RC2", ExpireTime: "2026-12-01T20:00:00+08:00", RequestedAt: second}
	if res := f.set(t, moved); res.State != Scheduled {
		t.Errorf("newer request: %+v", res)
	}
	f.expectSchedule(t, "close-1900000109-RC2", "at(2026-12-01T12:00:00)", schedtypes.ScheduleStateEnabled)
	confirmed := moved
	confirmed.RequestedAt = second.Add(2 * time.Minute)
	f.set(t, confirmed) // 20:00 again, asked later
	between := req
	between.RequestedAt = second.Add(time.Minute)
	if res := f.set(t, between); res.State != Superseded { // 18:00, asked in between, delivered late
		t.Errorf("request made before the last one, delivered after it: %+v", res)
	}
	f.expectSchedule(t, "close-1900000109-RC2", "at(2026-12-01T12:00:00)", schedtypes.ScheduleStateEnabled)
}

// A DELETE, then the late retry of the PUT it cancelled (or of any earlier
// request): the expiry stays cancelled.
func TestALateRequestDoesNotUndoACancellation(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC3", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first}
	f.set(t, req)
	f.cancel(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC3", RequestedAt: second})
	for _, late := range []string{"2026-12-01T18:00:00+08:00", "2026-12-01T09:00:00+08:00"} { // scheduled; due now
		req.ExpireTime = late
		if res := f.set(t, req); res.State != Superseded || res.Standing != Cancelled || res.ExpireTime != "" {
			t.Errorf("late request for %s after the cancellation: %+v, want superseded, standing cancelled", late, res)
		}
		f.expectSchedule(t, "close-1900000109-RC3", "", schedtypes.ScheduleStateDisabled)
	}
}

// A cancellation that arrives before the request it cancels — no schedule
// yet — leaves its tombstone all the same.
func TestACancellationBeforeItsRequest(t *testing.T) {
	f := newFixture(t)
	if res := f.cancel(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC4", RequestedAt: second}); res.State != Cancelled {
		t.Errorf("cancel: %+v", res)
	}
	res := f.set(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC4", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first})
	if res.State != Superseded || res.Standing != Cancelled {
		t.Errorf("the cancelled request, late: %+v", res)
	}
	f.expectSchedule(t, "close-1900000109-RC4", "", schedtypes.ScheduleStateDisabled)
}

// A DELETE, then a newer PUT: the expiry is set again.
func TestANewerRequestAfterACancellation(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC5", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first}
	f.set(t, req)
	f.cancel(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC5", RequestedAt: second})
	req.RequestedAt, req.ExpireTime = second.Add(time.Minute), "2026-12-01T19:00:00+08:00"
	if res := f.set(t, req); res.State != Scheduled {
		t.Errorf("newer request after the cancellation: %+v", res)
	}
	f.expectSchedule(t, "close-1900000109-RC5", "at(2026-12-01T11:00:00)", schedtypes.ScheduleStateEnabled)
	got, err := f.get(t, "close-1900000109-RC5")
	if err != nil {
		t.Fatal(err)
	}
	if d := aws.ToString(got.Description); d != "close recharge RC5 of 1900000109; requested_at=2026-12-01T01:02:00Z" {
		t.Errorf("description %q", d)
	}
}

// A DELETE older than the request the schedule stands for cancels nothing.
func TestAnOlderCancellationIsSuperseded(t *testing.T) {
	f := newFixture(t)
	f.set(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC6", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: second})
	res := f.cancel(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC6", RequestedAt: first})
	if res.State != Superseded || res.Standing != Scheduled || res.ExpireTime != "2026-12-01T10:00:00Z" {
		t.Errorf("older cancellation: %+v", res)
	}
	f.expectSchedule(t, "close-1900000109-RC6", "at(2026-12-01T10:00:00)", schedtypes.ScheduleStateEnabled)
}

// A request time after now would pin the schedule against every real request.
func TestARequestFromTheFutureIsRefused(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC7", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: f.now.Add(MaxClockSkew + time.Second)}
	_, err := f.svc.Set(context.Background(), req)
	if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "requested_at") {
		t.Errorf("Set: %v", err)
	}
	if _, err := f.svc.Cancel(context.Background(), req); fault.KindOf(err) != fault.InvalidInput {
		t.Errorf("Cancel: %v", err)
	}
	req.RequestedAt = f.now.Add(MaxClockSkew) // clocks a little apart
	if res := f.set(t, req); res.State != Scheduled {
		t.Errorf("Set within the skew: %+v", res)
	}
}

// The review's case: the newer request first, the older one's retry after
// it, each stamped with when it was made.
func TestReview2StaleSetMovesTheScheduleBack(t *testing.T) {
	f := newFixture(t)
	older := Request{SubMchid: "1900000109", OutRechargeNo: "RC8", ExpireTime: "2026-12-01T18:00:00+08:00", RequestedAt: first}
	newer := Request{SubMchid: "1900000109", OutRechargeNo: "RC8", ExpireTime: "2026-12-01T20:00:00+08:00", RequestedAt: second}
	f.set(t, newer)
	f.set(t, older) // the late retry of the first request
	f.expectSchedule(t, "close-1900000109-RC8", "at(2026-12-01T12:00:00)", schedtypes.ScheduleStateEnabled)
}

// The review's case: PUT, DELETE, then the PUT's duplicate, all with the
// clock standing still: the cancellation wins the tie, and the expiry stays
// cancelled.
func TestReview2StaleSetResurrectsACancelledExpiry(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC9", ExpireTime: "2026-12-01T18:00:00+08:00"}
	f.set(t, req)
	f.cancel(t, req)
	f.set(t, req) // the retry of the original request, delivered after the cancel
	f.expectSchedule(t, "close-1900000109-RC9", "", schedtypes.ScheduleStateDisabled)
}
