// Package closer is the close use-case: read the merchant keys, close the
// recharge at WeChat Pay, decide the outcome, and publish it.
package closer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
)

// Keys provides the merchant keys, cached, and drops keys found stale.
type Keys interface {
	Keys(ctx context.Context) (*merchant.Keys, error)
	Invalidate(stale *merchant.Keys)
}

// WeChatPay closes a recharge as the merchant whose keys are given, and says
// what it took, whatever the outcome. An error that is a fault.ErrStaleKeys
// may be cured by fresher keys.
type WeChatPay interface {
	Close(ctx context.Context, keys *merchant.Keys, subMchid, outRechargeNo string) (*recharge.Recharge, recharge.Exchange, error)
}

// Publisher announces outcomes, several at a time: the error at index i is
// event i's (nil: taken). A nil Publisher means outcomes are only returned.
type Publisher interface {
	Publish(ctx context.Context, events []Event) []error
}

// A Publisher sends up to EventsPerCall events a call (EventBridge's
// PutEvents limit) and up to CallsAtOnce calls side by side: a batch's
// publishing takes one call's time per CallsAtOnce × EventsPerCall outcomes.
const (
	EventsPerCall = 10
	CallsAtOnce   = 10
)

// Event is one outcome as published: its detail type and its detail.
type Event struct {
	DetailType string
	Detail     any
}

// Outcome is how a close ended, when it ended at all.
type Outcome string

const (
	Closed      Outcome = "closed"       // the recharge is CLOSED, now or before
	NotClosable Outcome = "not_closable" // the recharge is SUCCESS: the money arrived first
	Refused     Outcome = "refused"      // WeChat Pay's final answer was no
	GaveUp      Outcome = "gave_up"      // still transient when the queue's receives ran out
)

// Result is a settled close; with an error, only Exchange is set.
type Result struct {
	Outcome   Outcome
	Recharge  *recharge.Recharge // Closed, NotClosable
	Failure   *Failure           // Refused
	Published bool
	Exchange  recharge.Exchange // requests sent to WeChat Pay, and the last Request-ID
}

// Event is the result as it is published.
func (r Result) Event() Event {
	switch r.Outcome {
	case Closed:
		return Event{outcome.Closed, r.Recharge}
	case NotClosable:
		return Event{outcome.Rejected, r.Recharge}
	}
	return Event{outcome.Failed, r.Failure}
}

// Failure is the result of a refused close, as returned and published.
type Failure struct {
	SubMchid      string       `json:"sub_mchid"`
	OutRechargeNo string       `json:"out_recharge_no"`
	Error         ErrorBody    `json:"error"`
	Reason        fault.Reason `json:"-"` // which refusal: what an API caller's status follows from
}

// ErrorBody is WeChat Pay's error shape. A GAVE_UP failure adds how many
// tries were made, how the first one failed (its code, when an earlier
// message carried it) and how the last one failed.
type ErrorBody struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	Attempts   int        `json:"attempts,omitempty"`
	FirstError *ErrorBody `json:"first_error,omitempty"`
	LastError  *ErrorBody `json:"last_error,omitempty"`
}

// CodeGaveUp is a failure result's code when a queued close stayed transient
// through every receive the queue allows.
const CodeGaveUp = "GAVE_UP"

// GaveUpResult is the result published for a queued close still failing with last
// after attempts receives, the last the queue allows: the record goes to the
// dead-letter queue next, and its consumers hear that it did.
func GaveUpResult(subMchid, outRechargeNo string, attempts int, last error) Result {
	fe := fault.As(last)
	return Result{Outcome: GaveUp, Failure: &Failure{SubMchid: subMchid, OutRechargeNo: outRechargeNo,
		Error: ErrorBody{Code: CodeGaveUp, Attempts: attempts, LastError: &ErrorBody{Code: fe.Code, Message: fe.Message},
			Message: fmt.Sprintf("still failing after %d tries, the last the expiry queue allows: the recharge may still be open and its expiry goes to the dead-letter queue", attempts)},
		Reason: fault.Upstream}}
}

// AnswerMargin is kept free at the end of an invocation to return the answer
// and write the log line before Lambda's deadline: every wait inside a close
// (Secrets Manager, WeChat Pay, backoff, PutEvents) ends before it.
const AnswerMargin = 200 * time.Millisecond

// Service closes recharges.
type Service struct {
	keys      Keys
	wechatPay WeChatPay
	publisher Publisher
}

// New returns a Service; publisher may be nil.
func New(keys Keys, wechatPay WeChatPay, publisher Publisher) *Service {
	return &Service{keys: keys, wechatPay: wechatPay, publisher: publisher}
}

// Close settles one recharge and publishes the outcome. It returns a Result
// for the three outcomes and a *fault.Error for everything else (invalid
// input, configuration, transient); the Result's Exchange is set in every case.
func (s *Service) Close(ctx context.Context, subMchid, outRechargeNo string) (Result, error) {
	ctx, cancel := withAnswerMargin(ctx)
	defer cancel()
	res, err := s.settle(ctx, subMchid, outRechargeNo)
	if err != nil {
		return res, err
	}
	if err := s.Publish(ctx, []*Result{&res})[0]; err != nil {
		return Result{Exchange: res.Exchange}, err
	}
	return res, nil
}

// withAnswerMargin ends ctx AnswerMargin before its deadline.
func withAnswerMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-AnswerMargin))
	}
	return ctx, func() {}
}

// Settle closes one recharge at WeChat Pay and decides the outcome, without
// publishing it: a Result for the three outcomes, a *fault.Error otherwise.
func (s *Service) Settle(ctx context.Context, subMchid, outRechargeNo string) (Result, error) {
	ctx, cancel := withAnswerMargin(ctx)
	defer cancel()
	return s.settle(ctx, subMchid, outRechargeNo)
}

// settle is Settle within a deadline that already keeps the answer margin.
func (s *Service) settle(ctx context.Context, subMchid, outRechargeNo string) (Result, error) {
	if err := recharge.ValidateSubMchid(subMchid); err != nil {
		return Result{}, err
	}
	if err := recharge.ValidateOutRechargeNo(outRechargeNo); err != nil {
		return Result{}, err
	}
	var res Result
	r, err := s.closeWithFreshKeys(ctx, subMchid, outRechargeNo, &res.Exchange)
	switch {
	case err == nil && r.RechargeState == recharge.StateClosed:
		res.Outcome, res.Recharge = Closed, r
	case err == nil:
		res.Outcome, res.Recharge = NotClosable, r
	case fault.KindOf(err) == fault.Refused:
		fe := fault.As(err)
		res.Outcome, res.Failure = Refused, &Failure{SubMchid: subMchid, OutRechargeNo: outRechargeNo,
			Error: ErrorBody{Code: fe.Code, Message: fe.Message}, Reason: fe.Why()}
	default:
		return Result{Exchange: res.Exchange}, err
	}
	return res, nil
}

// Publish announces settled results together — the publisher sends them in as
// few calls as it may — and marks those taken. The error at index i is result
// i's: a publish failure, which is transient. Without a publisher nothing is
// published and nothing fails.
func (s *Service) Publish(ctx context.Context, results []*Result) []error {
	errs := make([]error, len(results))
	if s.publisher == nil || len(results) == 0 {
		return errs
	}
	events := make([]Event, len(results))
	for i, r := range results {
		events[i] = r.Event()
	}
	got := s.publisher.Publish(ctx, events)
	for i, r := range results {
		switch {
		case i >= len(got):
			errs[i] = &fault.Error{Kind: fault.Transient, Code: fault.CodePublish,
				Message: "the publisher did not say whether it took the " + events[i].DetailType + " event"}
		case got[i] != nil:
			errs[i] = got[i]
		default:
			r.Published = true
		}
	}
	return errs
}

// closeWithFreshKeys closes with the cached keys and, when WeChat Pay rejects
// our signature or its answer fails verification, re-reads the keys once and
// tries again: that is how a warm instance picks up a rotated key.
func (s *Service) closeWithFreshKeys(ctx context.Context, subMchid, outRechargeNo string, ex *recharge.Exchange) (*recharge.Recharge, error) {
	keys, err := s.keys.Keys(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.exchange(ctx, keys, subMchid, outRechargeNo, ex)
	if !errors.Is(err, fault.ErrStaleKeys) {
		return r, err
	}
	s.keys.Invalidate(keys)
	fresh, ferr := s.keys.Keys(ctx)
	if ferr != nil {
		return nil, ferr
	}
	return s.exchange(ctx, fresh, subMchid, outRechargeNo, ex)
}

// exchange is one close at WeChat Pay, counted into ex.
func (s *Service) exchange(ctx context.Context, keys *merchant.Keys, subMchid, outRechargeNo string, ex *recharge.Exchange) (*recharge.Recharge, error) {
	r, got, err := s.wechatPay.Close(ctx, keys, subMchid, outRechargeNo)
	ex.Add(got)
	return r, err
}
