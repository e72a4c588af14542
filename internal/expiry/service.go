package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/fault"
	"close-recharge/internal/trigger"
)

// Scheduler is the part of EventBridge Scheduler's API the service uses.
type Scheduler interface {
	CreateSchedule(context.Context, *scheduler.CreateScheduleInput, ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	GetSchedule(context.Context, *scheduler.GetScheduleInput, ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
	UpdateSchedule(context.Context, *scheduler.UpdateScheduleInput, ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	DeleteSchedule(context.Context, *scheduler.DeleteScheduleInput, ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// Queue is the one SQS call the service makes.
type Queue interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Stack names what the schedules use: the stack's schedule group, the role
// Scheduler runs them with, the expiry queue they target (by ARN, and by URL
// for messages sent directly) and their dead-letter queue.
type Stack struct {
	Group         string
	RoleARN       string
	QueueARN      string
	QueueURL      string
	DeadLetterARN string
}

// States of an expiry after a request.
const (
	Scheduled  = "scheduled"  // a schedule will put it on the queue at its time
	Queued     = "queued"     // it is on the queue, due now or within QueueWithin
	Cancelled  = "cancelled"  // no enabled schedule is left for it
	Superseded = "superseded" // a later request stands; this one changed nothing
)

// Result is what became of a request: the recharge, its schedule's name and
// its state. A superseded request's result says what stands instead: Standing
// (scheduled or cancelled) and, when scheduled, ExpireTime is the standing
// schedule's time.
type Result struct {
	SubMchid      string `json:"sub_mchid"`
	OutRechargeNo string `json:"out_recharge_no"`
	ExpireTime    string `json:"expire_time,omitempty"`
	ScheduleName  string `json:"schedule_name"`
	State         string `json:"state"`
	Standing      string `json:"standing,omitempty"`
}

// MaxClockSkew is how far after now a request's time may lie: the clocks of
// EventBridge, API Gateway and Lambda agree within it; a later time is a
// caller's mistake that would pin the schedule against every real request.
const MaxClockSkew = 5 * time.Minute

// TombstoneFor is how long a cancelled expiry's disabled schedule lies ahead
// of its cancellation: every expire_time is within MaxAhead of its request,
// so by then any request the cancellation must outrank is long past due, and
// WeChat Pay has closed the recharge by itself if nobody paid it.
const TombstoneFor = MaxAhead + 24*time.Hour

// Service sets and cancels expiries.
type Service struct {
	sched Scheduler
	queue Queue
	stack Stack
	now   func() time.Time
}

// New returns a service that keeps expiries with sched and queue for stack,
// reading the time from now (time.Now when nil).
func New(sched Scheduler, queue Queue, stack Stack, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{sched: sched, queue: queue, stack: stack, now: now}
}

// atLayout is Scheduler's at() format; the schedules' time zone is UTC.
const atLayout = "2006-01-02T15:04:05"

// Set makes sure the recharge is closed at req's time: a schedule at that
// time (created; left alone when it is there already; moved when it is there
// for another time), or, for a time already past or within QueueWithin, the
// message on the expiry queue and no schedule left pending. A request older
// than the one the schedule stands for — a retry delivered late — changes
// nothing and is superseded: see standsOver.
func (s *Service) Set(ctx context.Context, req Request) (Result, error) {
	at, err := req.Validate(s.now())
	if err != nil {
		return Result{}, err
	}
	if req.RequestedAt, err = s.requestTime(req.RequestedAt); err != nil {
		return Result{}, err
	}
	res := Result{SubMchid: req.SubMchid, OutRechargeNo: req.OutRechargeNo, ExpireTime: req.ExpireTime,
		ScheduleName: ScheduleName(req.SubMchid, req.OutRechargeNo)}
	if wait := at.Sub(s.now()); wait <= QueueWithin {
		got, err := s.get(ctx, res.ScheduleName)
		if err != nil {
			return Result{}, err
		}
		if standsOver(got, req.RequestedAt) {
			return superseded(res, got), nil
		}
		// Sent before the schedule goes: should the delete fail, the retry sends
		// again and the recharge is closed twice, never not at all.
		if err := s.send(ctx, req, wait); err != nil {
			return Result{}, err
		}
		if err := s.delete(ctx, res.ScheduleName); err != nil {
			return Result{}, err
		}
		res.State = Queued
		return res, nil
	}
	got, err := s.schedule(ctx, req, res.ScheduleName, at)
	if err != nil {
		return Result{}, err
	}
	if got != nil {
		return superseded(res, got), nil
	}
	res.State = Scheduled
	return res, nil
}

// Cancel disables the recharge's schedule, or creates it disabled when there
// is none (run, or never made, or the request it cancels not yet arrived):
// the disabled schedule — a tombstone — remembers the cancellation's time, so
// that a late request older than it cannot set the expiry again. A schedule
// standing for a request later than the cancellation is left alone, and the
// cancellation superseded. Only req's identifiers and RequestedAt are read.
func (s *Service) Cancel(ctx context.Context, req Request) (Result, error) {
	if err := req.validateIDs(); err != nil {
		return Result{}, err
	}
	var err error
	if req.RequestedAt, err = s.requestTime(req.RequestedAt); err != nil {
		return Result{}, err
	}
	res := Result{SubMchid: req.SubMchid, OutRechargeNo: req.OutRechargeNo, ScheduleName: ScheduleName(req.SubMchid, req.OutRechargeNo)}
	got, err := s.get(ctx, res.ScheduleName)
	if err != nil {
		return Result{}, err
	}
	switch {
	case standsOver(got, req.RequestedAt):
		if got.State == schedtypes.ScheduleStateDisabled {
			res.State = Cancelled // a cancellation as late or later: this one is already in force
			return res, nil
		}
		return superseded(res, got), nil
	case got == nil:
		err = s.createTombstone(ctx, req, res.ScheduleName)
	default:
		err = s.updateTombstone(ctx, req, res.ScheduleName)
	}
	if err != nil {
		return Result{}, err
	}
	res.State = Cancelled
	return res, nil
}

// requestTime is when a request was made, as its trigger says: now when it
// does not say.
func (s *Service) requestTime(at time.Time) (time.Time, error) {
	now := s.now()
	if at.IsZero() {
		return now, nil
	}
	if limit := now.Add(MaxClockSkew); at.After(limit) {
		return time.Time{}, fault.New(fault.InvalidInput, "requested_at %s is after now (%s): a request cannot come from the future",
			at.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339))
	}
	return at, nil
}

// requestedAtKey marks, in a schedule's description, the time of the request
// the schedule stands for: Scheduler keeps no other field of ours to put it in.
const requestedAtKey = "requested_at="

// description says whose schedule it is and for which request's time.
func description(req Request, cancelled bool) *string {
	d := "close recharge " + req.OutRechargeNo + " of " + req.SubMchid
	if cancelled {
		d = "cancelled: " + d
	}
	return aws.String(d + "; " + requestedAtKey + req.RequestedAt.UTC().Format(time.RFC3339Nano))
}

// requestedAt reads the request time from a schedule's description; the zero
// time — older than every request — when it carries none.
func requestedAt(got *scheduler.GetScheduleOutput) time.Time {
	d := aws.ToString(got.Description)
	i := strings.LastIndex(d, requestedAtKey)
	if i < 0 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, d[i+len(requestedAtKey):])
	if err != nil {
		return time.Time{}
	}
	return t
}

// standsOver reports whether the schedule found (nil: none) outranks a request
// made at reqAt: it stands for a later request, or is a tombstone for one made
// at the same time. A tie between two settings goes to the one that arrives
// last, as before requests had times; a tie with a cancellation goes to the
// cancellation, which a duplicate of the request it cancelled then cannot undo.
func standsOver(got *scheduler.GetScheduleOutput, reqAt time.Time) bool {
	if got == nil {
		return false
	}
	if stored := requestedAt(got); !stored.Equal(reqAt) {
		return stored.After(reqAt)
	}
	return got.State == schedtypes.ScheduleStateDisabled
}

// superseded is the result of a request a later one outranks: what stands.
func superseded(res Result, got *scheduler.GetScheduleOutput) Result {
	res.State, res.ExpireTime, res.Standing = Superseded, "", Cancelled
	if got.State != schedtypes.ScheduleStateDisabled {
		res.Standing = Scheduled
		expr := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(got.ScheduleExpression), "at("), ")")
		if t, err := time.Parse(atLayout, expr); err == nil {
			res.ExpireTime = t.UTC().Format(time.RFC3339)
		}
	}
	return res
}

// body is what the expiry queue receives for a recharge, from a schedule or
// from Set: the close function's direct request.
func body(req Request) string {
	b, _ := json.Marshal(map[string]string{"sub_mchid": req.SubMchid, "out_recharge_no": req.OutRechargeNo})
	return string(b)
}

// send puts the recharge on the expiry queue, visible after wait (rounded up
// to whole seconds, so never early). It carries when it was sent as the
// first-sent attribute the close function reads: the queue's own
// SentTimestamp would say the same, but a delayed message is then counted as
// waiting from its sending, not from its time.
func (s *Service) send(ctx context.Context, req Request, wait time.Duration) error {
	delay := int32(max(math.Ceil(wait.Seconds()), 0))
	due := s.now().Add(time.Duration(delay) * time.Second)
	_, err := s.queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(s.stack.QueueURL),
		MessageBody:  aws.String(body(req)),
		DelaySeconds: delay,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{trigger.FirstSentAttribute: {
			DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatInt(due.UnixMilli(), 10))}},
	})
	if err != nil {
		return awsFault("send the expiry to the queue", err)
	}
	return nil
}

// definition is the whole schedule for req at at, as UpdateSchedule takes it
// (CreateSchedule takes the same, see creation): enabled, or, for a
// cancelled expiry, disabled.
func (s *Service) definition(req Request, name string, at time.Time, cancelled bool) *scheduler.UpdateScheduleInput {
	state := schedtypes.ScheduleStateEnabled
	if cancelled {
		state = schedtypes.ScheduleStateDisabled
	}
	return &scheduler.UpdateScheduleInput{
		Name: aws.String(name), GroupName: aws.String(s.stack.Group),
		ScheduleExpression:         aws.String("at(" + ceilSecond(at).UTC().Format(atLayout) + ")"),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      schedtypes.ActionAfterCompletionDelete,
		State:                      state,
		Description:                description(req, cancelled),
		Target: &schedtypes.Target{
			Arn:     aws.String(s.stack.QueueARN),
			RoleArn: aws.String(s.stack.RoleARN),
			Input:   aws.String(body(req)),
			// Delivery retries, then the dead-letter queue; once on the expiry queue, the queue's
			// redrive policy keeps what the function cannot close.
			RetryPolicy:      &schedtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(5), MaximumEventAgeInSeconds: aws.Int32(3600)},
			DeadLetterConfig: &schedtypes.DeadLetterConfig{Arn: aws.String(s.stack.DeadLetterARN)},
		},
	}
}

// creation is a definition as CreateSchedule takes it.
func creation(d *scheduler.UpdateScheduleInput) *scheduler.CreateScheduleInput {
	return &scheduler.CreateScheduleInput{
		Name: d.Name, GroupName: d.GroupName,
		ScheduleExpression: d.ScheduleExpression, ScheduleExpressionTimezone: d.ScheduleExpressionTimezone,
		FlexibleTimeWindow: d.FlexibleTimeWindow, ActionAfterCompletion: d.ActionAfterCompletion,
		State: d.State, Description: d.Description, Target: d.Target,
	}
}

// ceilSecond rounds t up to a whole second: at() takes seconds, and an
// expiry must never come early.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// schedule creates the recharge's schedule, or finds it there: left alone at
// the same time for the same request, written again (moved, re-enabled, or
// marked with the later request's time) for a later or equal one. When the
// schedule found stands over req, it is left alone and returned.
func (s *Service) schedule(ctx context.Context, req Request, name string, at time.Time) (*scheduler.GetScheduleOutput, error) {
	def := s.definition(req, name, at, false)
	expr, tz, target := aws.ToString(def.ScheduleExpression), aws.ToString(def.ScheduleExpressionTimezone), def.Target
	_, err := s.sched.CreateSchedule(ctx, creation(def))
	var conflict *schedtypes.ConflictException
	if !errors.As(err, &conflict) {
		if err != nil {
			return nil, awsFault("create the expiry schedule", err)
		}
		return nil, nil
	}
	got, err := s.sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(s.stack.Group)})
	if err != nil {
		return nil, awsFault("read the expiry schedule", err)
	}
	if standsOver(got, req.RequestedAt) {
		return got, nil
	}
	// The request's own duplicate finds its schedule as it wrote it; a later
	// request for the same time still writes its time, which a late retry of an
	// earlier one in between must not outrank.
	current := got.State != schedtypes.ScheduleStateDisabled && requestedAt(got).Equal(req.RequestedAt)
	if current && aws.ToString(got.ScheduleExpression) == expr && aws.ToString(got.ScheduleExpressionTimezone) == tz && sameTarget(got.Target, target) {
		return nil, nil
	}
	if _, err = s.sched.UpdateSchedule(ctx, def); err != nil {
		return nil, awsFault("move the expiry schedule", err)
	}
	return nil, nil
}

// tombstone is the disabled schedule of a cancelled expiry: it never runs, and
// lies TombstoneFor ahead so that, were it enabled by hand, it would fire only
// after every deadline the recharge could have had.
func (s *Service) tombstone(req Request, name string) *scheduler.UpdateScheduleInput {
	return s.definition(req, name, s.now().Add(TombstoneFor), true)
}

func (s *Service) createTombstone(ctx context.Context, req Request, name string) error {
	_, err := s.sched.CreateSchedule(ctx, creation(s.tombstone(req, name)))
	var conflict *schedtypes.ConflictException
	if errors.As(err, &conflict) {
		// A request created the schedule since it was read: the caller's retry
		// reads it again and decides which of the two stands.
		return &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: fault.CodeUpstream,
			Message: "cancel the expiry: its schedule was created meanwhile; retry", Cause: err}
	}
	if err != nil {
		return awsFault("cancel the expiry", err)
	}
	return nil
}

func (s *Service) updateTombstone(ctx context.Context, req Request, name string) error {
	if _, err := s.sched.UpdateSchedule(ctx, s.tombstone(req, name)); err != nil {
		return awsFault("cancel the expiry", err)
	}
	return nil
}

// get reads the recharge's schedule; nil when there is none.
func (s *Service) get(ctx context.Context, name string) (*scheduler.GetScheduleOutput, error) {
	got, err := s.sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(s.stack.Group)})
	var absent *schedtypes.ResourceNotFoundException
	if errors.As(err, &absent) {
		return nil, nil
	}
	if err != nil {
		return nil, awsFault("read the expiry schedule", err)
	}
	return got, nil
}

// sameTarget reports whether a schedule found already delivers where and as
// this stack's would: one made before the stack's queue or role changed is
// written again, even at the same time.
func sameTarget(got, want *schedtypes.Target) bool {
	return got != nil && aws.ToString(got.Arn) == aws.ToString(want.Arn) && aws.ToString(got.RoleArn) == aws.ToString(want.RoleArn) &&
		aws.ToString(got.Input) == aws.ToString(want.Input) &&
		got.DeadLetterConfig != nil && aws.ToString(got.DeadLetterConfig.Arn) == aws.ToString(want.DeadLetterConfig.Arn)
}

// delete removes the schedule; one that is not there is fine.
func (s *Service) delete(ctx context.Context, name string) error {
	_, err := s.sched.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(s.stack.Group)})
	var absent *schedtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &absent) {
		return awsFault("delete the expiry schedule", err)
	}
	return nil
}

// awsFault says what a Scheduler or SQS failure means: the stack's group,
// role or queue wrong (a configuration error, which retrying cannot cure), or
// a passing one — throttling, a 5xx, the network — that a retry may.
func awsFault(what string, err error) error {
	var (
		invalid   *schedtypes.ValidationException
		absent    *schedtypes.ResourceNotFoundException
		noQueue   *sqstypes.QueueDoesNotExist
		throttled *schedtypes.ThrottlingException
		slowed    *sqstypes.RequestThrottled
		internal  *schedtypes.InternalServerException
		resp      *awshttp.ResponseError
	)
	switch {
	case errors.As(err, &invalid), errors.As(err, &absent), errors.As(err, &noQueue):
		return fault.Wrap(fault.Configuration, "", err, "%s: the stack's schedule group, role or queue is not as configured", what)
	case errors.As(err, &throttled), errors.As(err, &slowed), errors.As(err, &internal):
		return &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: fault.CodeUpstream, Message: what + ": AWS is busy; retry", Cause: err}
	case errors.As(err, &resp) && (resp.HTTPStatusCode() == 403 || resp.HTTPStatusCode() == 400):
		return fault.Wrap(fault.Configuration, "", err, "%s: refused by AWS; check the function's role", what)
	}
	return &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: fault.CodeUpstream, Message: what + ": failed; retry", Cause: err}
}
