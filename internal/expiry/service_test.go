package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/fault"
	"close-recharge/internal/trigger"
)

// counting is moto's Scheduler, with the writes counted: the schedule moto
// keeps shows the outcome, the counts show that nothing was written in vain.
type counting struct {
	*scheduler.Client
	creates, updates, deletes atomic.Int32
}

func (c *counting) CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	c.creates.Add(1)
	return c.Client.CreateSchedule(ctx, in, opts...)
}

func (c *counting) UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	c.updates.Add(1)
	return c.Client.UpdateSchedule(ctx, in, opts...)
}

func (c *counting) DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	c.deletes.Add(1)
	return c.Client.DeleteSchedule(ctx, in, opts...)
}

type fixture struct {
	sched *counting
	sqs   *sqs.Client
	stack Stack
	now   time.Time
	svc   *Service
}

// newFixture makes a schedule group, an expiry queue and a dead-letter queue in moto.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := awstest.Config(awstest.MotoForTest(t))
	ctx, cancel := awstest.Ctx()
	defer cancel()
	f := &fixture{sched: &counting{Client: scheduler.NewFromConfig(cfg)}, sqs: sqs.NewFromConfig(cfg),
		now: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)}
	f.stack.Group = awstest.UniqueName("expiry")
	if _, err := f.sched.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(f.stack.Group)}); err != nil {
		t.Fatal(err)
	}
	f.stack.QueueURL, f.stack.QueueARN = queue(t, f.sqs, "expiry")
	_, f.stack.DeadLetterARN = queue(t, f.sqs, "schedule-dlq")
	f.stack.RoleARN = "arn:aws:iam::123456789012:role/close-recharge-scheduler"
	f.svc = New(f.sched, f.sqs, f.stack, func() time.Time { return f.now })
	return f
}

func queue(t *testing.T, api *sqs.Client, prefix string) (url, arn string) {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName(prefix))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(q.QueueUrl), attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

func (f *fixture) get(t *testing.T, name string) (*scheduler.GetScheduleOutput, error) {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	return f.sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(f.stack.Group)})
}

func (f *fixture) set(t *testing.T, req Request) Result {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	res, err := f.svc.Set(ctx, req)
	if err != nil {
		t.Fatalf("Set(%+v): %v", req, err)
	}
	return res
}

func TestSetCreatesTheSchedule(t *testing.T) {
	f := newFixture(t)
	res := f.set(t, Request{SubMchid: "1900000109", OutRechargeNo: "RC1", ExpireTime: "2026-12-01T18:00:00.2+08:00"})
	if res.State != Scheduled || res.ScheduleName != "close-1900000109-RC1" {
		t.Errorf("result %+v", res)
	}
	got, err := f.get(t, res.ScheduleName)
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]string
	_ = json.Unmarshal([]byte(aws.ToString(got.Target.Input)), &input)
	// A fraction of a second rounds up: never early.
	if aws.ToString(got.ScheduleExpression) != "at(2026-12-01T10:00:01)" || aws.ToString(got.ScheduleExpressionTimezone) != "UTC" ||
		got.ActionAfterCompletion != schedtypes.ActionAfterCompletionDelete || got.FlexibleTimeWindow.Mode != schedtypes.FlexibleTimeWindowModeOff ||
		aws.ToString(got.Target.Arn) != f.stack.QueueARN || aws.ToString(got.Target.RoleArn) != f.stack.RoleARN ||
		got.Target.DeadLetterConfig == nil || aws.ToString(got.Target.DeadLetterConfig.Arn) != f.stack.DeadLetterARN ||
		got.Target.RetryPolicy == nil || aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts) != 5 ||
		aws.ToInt32(got.Target.RetryPolicy.MaximumEventAgeInSeconds) != 3600 ||
		len(input) != 2 || input["sub_mchid"] != "1900000109" || input["out_recharge_no"] != "RC1" {
		t.Errorf("schedule %s %s, target %+v", aws.ToString(got.ScheduleExpression), got.ActionAfterCompletion, got.Target)
	}
}

// The same request twice — a retry, a duplicate event — is one schedule, untouched.
func TestSetTwiceIsOneSchedule(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC2", ExpireTime: "2026-12-01T18:00:00+08:00"}
	f.set(t, req)
	first, err := f.get(t, "close-1900000109-RC2")
	if err != nil {
		t.Fatal(err)
	}
	// The same instant in another offset is the same request.
	req.ExpireTime = "2026-12-01T10:00:00Z"
	res := f.set(t, req)
	again, err := f.get(t, res.ScheduleName)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Scheduled || f.sched.creates.Load() != 2 || f.sched.updates.Load() != 0 || f.sched.deletes.Load() != 0 {
		t.Errorf("%+v; creates %d, updates %d, deletes %d: want the second request to change nothing",
			res, f.sched.creates.Load(), f.sched.updates.Load(), f.sched.deletes.Load())
	}
	if !aws.ToTime(again.LastModificationDate).Equal(aws.ToTime(first.LastModificationDate)) ||
		aws.ToString(again.ScheduleExpression) != "at(2026-12-01T10:00:00)" {
		t.Errorf("schedule %s modified %v, was %v", aws.ToString(again.ScheduleExpression), again.LastModificationDate, first.LastModificationDate)
	}
}

func TestSetANewTimeMovesTheSchedule(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC3", ExpireTime: "2026-12-01T18:00:00+08:00"}
	f.set(t, req)
	req.ExpireTime = "2026-12-02T09:30:00+08:00"
	res := f.set(t, req)
	got, err := f.get(t, res.ScheduleName)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Scheduled || aws.ToString(got.ScheduleExpression) != "at(2026-12-02T01:30:00)" ||
		got.ActionAfterCompletion != schedtypes.ActionAfterCompletionDelete || got.FlexibleTimeWindow.Mode != schedtypes.FlexibleTimeWindowModeOff ||
		aws.ToString(got.Target.Arn) != f.stack.QueueARN || got.Target.DeadLetterConfig == nil ||
		aws.ToString(got.Target.DeadLetterConfig.Arn) != f.stack.DeadLetterARN || f.sched.updates.Load() != 1 {
		t.Errorf("%+v: schedule %s %s, target %+v, updates %d", res, aws.ToString(got.ScheduleExpression), got.ActionAfterCompletion, got.Target, f.sched.updates.Load())
	}
}

// A time already past (or about to be) goes straight onto the queue, and the
// schedule set for a later time goes: the recharge is closed once, now.
func TestPastTimeGoesOnTheQueue(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC4", ExpireTime: "2026-12-01T18:00:00+08:00"}
	f.set(t, req)
	req.ExpireTime = "2026-12-01T09:59:00+08:00"
	res := f.set(t, req)
	if res.State != Queued {
		t.Errorf("result %+v, want queued", res)
	}
	var absent *schedtypes.ResourceNotFoundException
	if _, err := f.get(t, res.ScheduleName); !errors.As(err, &absent) {
		t.Errorf("the pending schedule is still there: %v", err)
	}
	// Due within the minute: on the queue, delayed until its time.
	req.OutRechargeNo, req.ExpireTime = "RC5", "2026-12-01T02:00:03.5Z"
	if res := f.set(t, req); res.State != Queued {
		t.Errorf("result %+v, want queued", res)
	}
	if f.sched.creates.Load() != 1 {
		t.Errorf("%d schedules created, want only the first", f.sched.creates.Load())
	}
	ctx, cancel := awstest.Ctx()
	defer cancel()
	got := map[string]sqstypes.Message{}
	for deadline := time.Now().Add(15 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.stack.QueueURL), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			r, err := trigger.DecodeRecord(aws.ToString(m.Body))
			if err != nil {
				t.Fatalf("the close function cannot read %s: %v", aws.ToString(m.Body), err)
			}
			got[r.OutRechargeNo] = m
		}
	}
	if len(got) != 2 {
		t.Fatalf("queue holds %v, want RC4 and RC5", got)
	}
	for no, want := range map[string]time.Time{"RC4": time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), "RC5": time.Date(2026, 12, 1, 2, 0, 4, 0, time.UTC)} {
		attr := got[no].MessageAttributes[trigger.FirstSentAttribute]
		if ms, _ := strconv.ParseInt(aws.ToString(attr.StringValue), 10, 64); ms != want.UnixMilli() || aws.ToString(attr.DataType) != "Number" {
			t.Errorf("%s first sent %v (%s), want %v", no, time.UnixMilli(ms).UTC(), aws.ToString(attr.DataType), want)
		}
	}
}

// Cancel disables the schedule, which then never runs: a tombstone that
// remembers the cancellation's time, TombstoneFor ahead.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	req := Request{SubMchid: "1900000109", OutRechargeNo: "RC6", ExpireTime: "2026-12-01T18:00:00+08:00"}
	f.set(t, req)
	ctx, cancel := awstest.Ctx()
	defer cancel()
	for range 2 { // the second finds the first's tombstone: cancelled all the same
		res, err := f.svc.Cancel(ctx, req)
		if err != nil || res.State != Cancelled || res.ScheduleName != "close-1900000109-RC6" {
			t.Errorf("Cancel = %+v, %v", res, err)
		}
	}
	got, err := f.get(t, "close-1900000109-RC6")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != schedtypes.ScheduleStateDisabled || aws.ToString(got.ScheduleExpression) != "at(2026-12-09T02:00:00)" ||
		got.ActionAfterCompletion != schedtypes.ActionAfterCompletionDelete ||
		aws.ToString(got.Description) != "cancelled: close recharge RC6 of 1900000109; requested_at=2026-12-01T02:00:00Z" {
		t.Errorf("tombstone %s %s %s %q", got.State, aws.ToString(got.ScheduleExpression), got.ActionAfterCompletion, aws.ToString(got.Description))
	}
	if n := f.sched.updates.Load(); n != 1 {
		t.Errorf("%d updates, want 1: the second cancellation finds the first in force", n)
	}
	if _, err := f.svc.Cancel(ctx, Request{SubMchid: "1900000109", OutRechargeNo: "RC/6"}); fault.KindOf(err) != fault.InvalidInput {
		t.Errorf("Cancel of a bad id: %v", err)
	}
}

// Scheduler's answers, as its protocol writes them, and what each means.
func TestSchedulerErrors(t *testing.T) {
	for _, tt := range []struct {
		status  int
		errType string
		want    fault.Kind
	}{
		{429, "ThrottlingException", fault.Transient},
		{500, "InternalServerException", fault.Transient},
		{503, "", fault.Transient},
		{400, "ValidationException", fault.Configuration},
		{403, "AccessDeniedException", fault.Configuration},
		{404, "ResourceNotFoundException", fault.Configuration}, // the group is gone
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.errType != "" {
				w.Header().Set("X-Amzn-Errortype", tt.errType)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(`{"message":"no"}`))
		}))
		cfg := awstest.Config(srv.URL)
		cfg.RetryMaxAttempts = 1
		svc := New(scheduler.NewFromConfig(cfg), nil, Stack{Group: "g", QueueARN: "arn:aws:sqs:us-east-1:123456789012:q"},
			func() time.Time { return time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC) })
		_, err := svc.Set(context.Background(), Request{SubMchid: "1900000109", OutRechargeNo: "RC7", ExpireTime: "2026-12-02T10:00:00Z"})
		if got := fault.KindOf(err); got != tt.want || !strings.Contains(err.Error(), "create the expiry schedule") {
			t.Errorf("%d %s: %v (%s), want %s", tt.status, tt.errType, err, got, tt.want)
		}
		srv.Close()
	}
}
