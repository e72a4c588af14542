// Package handler is the Lambda handler: it decodes any trigger, runs the
// close, and answers each trigger in the shape it expects — an HTTP response
// for API Gateway, the recharge or an invocation error for everything else —
// with one summary log line and one metrics document per invocation.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/metrics"
	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
	"close-recharge/internal/trigger"
)

// Closer settles recharges: one at a time and published at once (Close), or
// settled side by side and published together (Settle, then Publish).
type Closer interface {
	Close(ctx context.Context, subMchid, outRechargeNo string) (closer.Result, error)
	Settle(ctx context.Context, subMchid, outRechargeNo string) (closer.Result, error)
	Publish(ctx context.Context, results []*closer.Result) []error
}

// Requeuer brings queued records back soon rather than after the queue's
// whole visibility timeout (the SQS adapter shortens their visibility, ten
// to a call): each record of queueARN, by receipt handle, after its delay.
// It returns the records it could not bring back, with why.
type Requeuer interface {
	RetrySoon(ctx context.Context, queueARN string, after map[string]time.Duration) map[string]error
}

// Resender puts a delayed copy of records on the queue they came from (the
// SQS adapter sends ten to a call): each record of queueARN, by message id,
// with its body and what it carries, visible after its delay. A record that
// got no turn to call WeChat Pay is copied rather than kept: the copy starts
// with no receives, where keeping the original would spend one of its
// queue's maxReceiveCount on a try that never happened. A record's first
// failure is copied too, so that the copy can carry it to the GAVE_UP that
// may follow. It returns the records it could not copy, with why.
type Resender interface {
	ResendLater(ctx context.Context, queueARN string, copies map[string]trigger.Copy, after map[string]time.Duration) map[string]error
}

// Metrics records one invocation's figures.
type Metrics interface {
	Record(metrics.Invocation) error
}

// APIBudget is how long an API Gateway invocation may take, whatever the
// function's timeout: an HTTP API integration gives up at 30 s, and the caller
// would get API Gateway's own 503 while the close goes on unseen.
const APIBudget = 29 * time.Second

// BatchParallelism bounds how many records of one SQS batch are closed at
// once; the instance's pacer spaces their requests to WeChat Pay in any case.
const BatchParallelism = 10

// Handler implements lambda.Handler.
type Handler struct {
	closer     Closer
	logger     *slog.Logger
	metrics    Metrics
	requeuer   Requeuer
	resender   Resender
	parallel   int
	maxReceive int
}

// Option configures a Handler.
type Option func(*Handler)

// WithRequeuer brings transient SQS records back within seconds.
func WithRequeuer(r Requeuer) Option { return func(h *Handler) { h.requeuer = r } }

// WithResender copies records that got no turn to call WeChat Pay back to
// their queue instead of keeping them.
func WithResender(r Resender) Option { return func(h *Handler) { h.resender = r } }

// WithMaxReceiveCount is the expiry queue's maxReceiveCount: a record still
// transient on that receive publishes GAVE_UP before the queue hands it to
// its dead-letter queue. Without it (0) nothing is known to be the last try.
func WithMaxReceiveCount(n int) Option { return func(h *Handler) { h.maxReceive = max(n, 0) } }

// WithBatchParallelism replaces BatchParallelism.
func WithBatchParallelism(n int) Option { return func(h *Handler) { h.parallel = max(n, 1) } }

// New returns a Handler; m may be nil.
func New(c Closer, logger *slog.Logger, m Metrics, opts ...Option) *Handler {
	h := &Handler{closer: c, logger: logger, metrics: m, parallel: BatchParallelism}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Invoke handles one event of any trigger.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	req, err := trigger.Decode(payload)
	if err == nil && req.Kind != trigger.SQS {
		err = req.CloseNow(start)
	}
	if err == nil && req.Kind == trigger.SQS {
		return h.batch(ctx, req.Records, trigger.CarriedIn(payload))
	}
	var res closer.Result
	if err == nil {
		cctx := ctx
		if req.IsAPI() {
			var cancel context.CancelFunc
			cctx, cancel = context.WithDeadline(ctx, start.Add(APIBudget))
			defer cancel()
		}
		res, err = h.closer.Close(cctx, req.SubMchid, req.OutRechargeNo)
	}
	h.report(ctx, req, res, err, time.Since(start), nil)
	if req.IsAPI() {
		return apiAnswer(req, res, err)
	}
	return invokeAnswer(res, err)
}

// report writes one close's summary line and metrics document; queued is a
// queue record's time in the queue, nil for other triggers.
func (h *Handler) report(ctx context.Context, req trigger.Request, res closer.Result, err error, elapsed time.Duration, queued *metrics.Queued, extra ...slog.Attr) {
	outcome := string(res.Outcome)
	if err != nil {
		outcome = outcomeOfKind(fault.KindOf(err))
	}
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	h.logSummary(ctx, req, outcome, res, err, elapsed, extra...)
	if h.metrics != nil {
		if merr := h.metrics.Record(metrics.Invocation{Outcome: outcome, Trigger: string(req.Kind), AWSRequestID: requestID,
			Latency: elapsed, Attempts: res.Exchange.Attempts, RateLimited: res.Exchange.RateLimited, PaceWait: res.Exchange.PaceWait,
			Queued: queued}); merr != nil {
			h.logger.WarnContext(ctx, "metrics not written", "error", merr.Error())
		}
	}
}

// The receive budget. Every receive counts toward the queue's
// maxReceiveCount, so the delay before a transient record comes back grows
// with its receive count — doubling from requeueFirst, capped at requeueMax,
// its last fifth random so that a burst's returns spread — and a record lives
// through a WeChat Pay outage of half an hour or more before it can be
// dead-lettered (with the template's default maxReceiveCount). requeueMax
// bounds how long a record may still wait once the outage is over.
const (
	requeueFirst = 5 * time.Second
	requeueMax   = 5 * time.Minute
)

// requeueInvalid is how soon a record that never reached WeChat Pay because it
// is invalid comes back: every receive counts toward the queue's
// maxReceiveCount, so it reaches the dead-letter queue (and its alarm) within
// seconds rather than after that many whole visibility timeouts.
const requeueInvalid = time.Second

// refusalFinalReceive is the first receive on which a refusal of a recharge
// still RECHARGING is final. Before it, the refusal may be a close of the same
// recharge in flight elsewhere (SQS delivers a message twice at times, and a
// schedule and a rule may name one expiry), so the record comes back once that
// other invocation must be over and asks again.
const refusalFinalReceive = 3

// defaultMaxCopies bounds the copies of one expiry when the queue's
// maxReceiveCount is not known.
const defaultMaxCopies = 15

// receiveDelay is the range of the delay before a record comes back after its
// receive'th receive (0, not known, counts as the first).
func receiveDelay(receive int) (lo, hi time.Duration) {
	d := requeueMax
	if receive < 2 {
		d = requeueFirst
	} else if receive < 10 { // beyond, the doubling is past the cap (and would overflow later)
		d = min(requeueFirst<<(receive-1), requeueMax)
	}
	return d - d/5, d
}

// jittered is a delay drawn from receiveDelay's range.
func jittered(receive int) time.Duration {
	lo, hi := receiveDelay(receive)
	return lo + rand.N(hi-lo+1)
}

// item is one record of a batch on its way through.
type item struct {
	rec     trigger.Record
	req     trigger.Request
	res     closer.Result
	err     error
	elapsed time.Duration
	same    *item // an earlier record of the batch naming the same recharge, whose answer this one shares
	held    bool  // a refusal not yet final: the record comes back to ask again
	gaveUp  *closer.Result
	copied  bool            // it got no turn to call WeChat Pay, or failed for the first time, and a copy of it is back on the queue
	carried trigger.Carried // from the expiry's messages before this one
}

// receives is the expiry's receive count: this message's, and those of the
// messages before it that counted as tries. It is what the receive budget's
// delays, a held refusal and GAVE_UP go by; 0 when the record did not come
// from SQS.
func (it *item) receives() int {
	if it.rec.ReceiveCount == 0 {
		return 0
	}
	return it.carried.Receives + it.rec.ReceiveCount
}

// batch closes the records of an SQS batch side by side, publishes their
// outcomes together, and answers which records the queue must keep: the
// transient ones (brought back after the receive budget's delay; on their
// last allowed receive they publish GAVE_UP first, on their way to the
// dead-letter queue), the invalid ones, configuration failures, refusals not
// yet final, and refusals nobody else would hear of (no bus).
func (h *Handler) batch(ctx context.Context, records []trigger.Record, carried map[string]trigger.Carried) ([]byte, error) {
	ctx = pace.Deferrable(ctx) // a rate-limited or 5xx-answered record goes back to its queue, not into a backoff
	var span time.Duration     // how long an invocation may run: a close in flight elsewhere ends within it
	if dl, ok := ctx.Deadline(); ok {
		span = time.Until(dl)
		// Publishing and bringing records back end in time to answer, as closes do.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-closer.AnswerMargin))
		defer cancel()
	}
	settleCtx := ctx
	if dl, ok := ctx.Deadline(); ok && wrapUp(len(records)) > 0 {
		var cancel context.CancelFunc
		settleCtx, cancel = context.WithDeadline(ctx, dl.Add(-wrapUp(len(records))))
		defer cancel()
	}
	items := make([]item, len(records))
	turn := make(chan struct{}, h.parallel)
	var wg sync.WaitGroup
	// Records naming the same recharge (a schedule and a rule for one expiry,
	// a redelivery) share one close and one published outcome: a second
	// request would spend WeChat Pay's rate on an answer already coming, and
	// two requests at once could each see a different moment of the recharge.
	first := map[[2]string]*item{}
	for i, rec := range records {
		it := &items[i]
		it.rec, it.carried = rec, carried[rec.MessageID]
		it.req, it.err = trigger.DecodeRecord(rec.Body)
		if it.err != nil {
			continue
		}
		key := [2]string{it.req.SubMchid, it.req.OutRechargeNo}
		if f, ok := first[key]; ok {
			it.same = f
			continue
		}
		first[key] = it
		turn <- struct{}{}
		wg.Go(func() {
			defer func() { <-turn }()
			start := time.Now()
			it.res, it.err = h.closer.Settle(settleCtx, it.req.SubMchid, it.req.OutRechargeNo)
			it.elapsed = time.Since(start)
		})
	}
	wg.Wait()

	for i := range items {
		it := &items[i]
		it.copied = h.resender != nil && it.same == nil && (noTurn(it) || h.firstFailure(it)) && h.mayCopy(it)
	}
	h.resend(ctx, items)
	var settled []*closer.Result
	var at []int
	for i := range items {
		it := &items[i]
		if it.same != nil {
			continue
		}
		switch {
		case it.err == nil && !h.refusalFinal(it):
			it.held = true
		case it.err == nil:
			settled, at = append(settled, &it.res), append(at, i)
		case it.copied:
		case fault.KindOf(it.err) == fault.Transient && h.lastReceive(it.rec):
			gaveUp := closer.GaveUpResult(it.req.SubMchid, it.req.OutRechargeNo, it.receives(), it.err)
			first := ""
			gaveUp.Failure.Error.Message, first = gaveUpMessage(it)
			if first != "" {
				gaveUp.Failure.Error.FirstError = &closer.ErrorBody{Code: first}
			}
			it.gaveUp = &gaveUp
			settled, at = append(settled, it.gaveUp), append(at, i)
		}
	}
	for j, err := range h.closer.Publish(ctx, settled) {
		if it := &items[at[j]]; err != nil && it.gaveUp == nil {
			it.err = err
		} else if err != nil {
			h.logger.ErrorContext(ctx, "GAVE_UP not published; the record goes to the dead-letter queue unannounced",
				"message_id", it.rec.MessageID, "error", err.Error())
		}
	}
	for i := range items {
		if f := items[i].same; f != nil {
			// Its own line counts no requests: they are on the first record's.
			// The first one's copy stands for it too.
			items[i].res, items[i].err, items[i].held, items[i].gaveUp, items[i].copied = f.res, f.err, f.held, f.gaveUp, f.copied
			items[i].res.Exchange = recharge.Exchange{}
		}
	}

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	kept := make([]bool, len(items))
	back := map[string]map[string]time.Duration{} // queue ARN → receipt handle → delay
	for i := range items {
		it := &items[i]
		kept[i] = !it.copied && (it.err != nil || it.held || it.res.Outcome == closer.Refused && !it.res.Published)
		if kept[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: it.rec.MessageID})
		}
		if after, soon := requeueDelay(it, span); soon && h.requeuer != nil {
			if back[it.rec.QueueARN] == nil {
				back[it.rec.QueueARN] = map[string]time.Duration{}
			}
			back[it.rec.QueueARN][it.rec.ReceiptHandle] = after
		}
	}
	notBack := map[string]error{}
	for arn, after := range back {
		maps.Copy(notBack, h.requeuer.RetrySoon(ctx, arn, after))
	}
	for i := range items {
		it := &items[i]
		if err := notBack[it.rec.ReceiptHandle]; err != nil {
			h.logger.WarnContext(ctx, "record not brought back early; it returns after the queue's visibility timeout",
				"message_id", it.rec.MessageID, "error", err.Error())
		}
		req := it.req
		req.Kind = trigger.SQS
		attrs := []slog.Attr{slog.String("message_id", it.rec.MessageID), slog.Bool("kept_in_queue", kept[i]),
			slog.Int("receive_count", it.rec.ReceiveCount)}
		if it.carried != (trigger.Carried{}) {
			attrs = append(attrs, slog.Int("expiry_receives", it.receives()), slog.Int("expiry_copies", it.carried.Copies))
		}
		queued := &metrics.Queued{Receives: it.rec.ReceiveCount}
		if !it.rec.SentAt.IsZero() {
			// How long the expiry has waited since it was first put on the
			// queue, copies included: what the record-age alarm watches.
			queued.Age = time.Since(it.rec.SentAt)
			attrs = append(attrs, slog.Float64("record_age_s", queued.Age.Seconds()))
		}
		if it.same != nil {
			attrs = append(attrs, slog.String("answered_with", it.same.rec.MessageID))
		}
		if it.held {
			attrs = append(attrs, slog.Bool("asks_again", true))
		}
		if it.gaveUp != nil {
			attrs = append(attrs, slog.Bool("gave_up", true), slog.Bool("gave_up_published", it.gaveUp.Published))
		}
		if it.copied {
			attrs = append(attrs, slog.Bool("copied_back", true))
		}
		h.report(ctx, req, it.res, it.err, it.elapsed, queued, attrs...)
	}
	return json.Marshal(resp)
}

// resend puts a delayed copy of each record marked copied on its queue; a
// record whose copy fails is no longer marked, and is kept as it would have
// been. A record that got no turn comes back after a first receive's delay,
// its receive not counted: it cost no try. A first failure comes back after
// its receive's delay, counted, and its copy carries the failure's code.
func (h *Handler) resend(ctx context.Context, items []item) {
	copies := map[string]map[string]trigger.Copy{} // queue ARN → message id → copy
	after := map[string]map[string]time.Duration{}
	for i := range items {
		if it := &items[i]; it.copied {
			if copies[it.rec.QueueARN] == nil {
				copies[it.rec.QueueARN], after[it.rec.QueueARN] = map[string]trigger.Copy{}, map[string]time.Duration{}
			}
			c := it.carried
			c.Copies++
			if noTurn(it) {
				c.Receives += it.rec.ReceiveCount - 1
				after[it.rec.QueueARN][it.rec.MessageID] = jittered(1)
			} else {
				c.Receives += it.rec.ReceiveCount
				c.FirstError = fault.As(it.err).Code
				after[it.rec.QueueARN][it.rec.MessageID] = jittered(it.receives())
			}
			copies[it.rec.QueueARN][it.rec.MessageID] = trigger.Copy{Record: it.rec, Carried: c}
		}
	}
	failed := map[string]error{}
	for arn := range copies {
		maps.Copy(failed, h.resender.ResendLater(ctx, arn, copies[arn], after[arn]))
	}
	for i := range items {
		if it := &items[i]; it.copied && failed[it.rec.MessageID] != nil {
			it.copied = false
			h.logger.WarnContext(ctx, "record not copied back; it is kept and spends a receive",
				"message_id", it.rec.MessageID, "error", failed[it.rec.MessageID].Error())
		}
	}
}

// noTurn reports whether a record got no turn to call WeChat Pay: nothing was sent.
func noTurn(it *item) bool {
	return errors.Is(it.err, pace.ErrNoTurn) && it.res.Exchange.Attempts == 0
}

// firstFailure reports whether a record failed for a passing reason for the
// first time its expiry knows of: on the first receive of a message that
// carries no failure. Its copy carries the failure, which a record kept in
// place could not (SQS keeps a message's attributes as they were sent). On its
// last allowed receive it gives up instead.
func (h *Handler) firstFailure(it *item) bool {
	return fault.KindOf(it.err) == fault.Transient && it.rec.ReceiveCount == 1 && it.carried.FirstError == "" && !h.lastReceive(it.rec)
}

// mayCopy bounds how long an expiry lives on copies, each of which SQS counts
// from no receives again: a copy is put back only while the expiry has had
// fewer copies, and fewer tries, than the queue's maxReceiveCount. Past that,
// the record stays on its message, whose receives the queue counts to its
// dead-letter queue — GAVE_UP first. An expiry that never gets a turn thus
// ends, like any other, in an event: after at most maxReceiveCount copies and
// as many receives of its last message.
func (h *Handler) mayCopy(it *item) bool {
	limit := h.maxReceive
	if limit == 0 {
		limit = defaultMaxCopies
	}
	tries := it.receives()
	if noTurn(it) {
		tries-- // this receive was no try
	}
	return it.carried.Copies < limit && tries < limit
}

// gaveUpMessage says how a record that gives up got there: its tries, over
// how many receives of its messages, and its first and last errors. The first
// is known when a copy carried it, or when this receive is the only try.
func gaveUpMessage(it *item) (message, first string) {
	last := fault.As(it.err).Code
	first = it.carried.FirstError
	if first == "" && it.receives() == 1 {
		first = last
	}
	said := first
	if said == "" {
		said = "unknown (earlier receives were returned in place, and SQS keeps a message as it was sent)"
	}
	return fmt.Sprintf("still failing after %d tries (%d receives of this message, %d on %d earlier copies), the last the expiry queue allows; "+
		"first error %s, last error %s: the recharge may still be open and its expiry goes to the dead-letter queue",
		it.receives(), it.rec.ReceiveCount, it.carried.Receives, it.carried.Copies, said, last), first
}

// wrapUp is how much earlier than its own deadline a batch's closes end, so
// that its outcomes are published and its records brought back in time. A
// close keeps a second free before its deadline in any case (the WeChat Pay
// client's reserve): enough for one round of calls side by side — publishing
// up to CallsAtOnce × EventsPerCall outcomes, then bringing as many records
// back. Each further round needs another second.
func wrapUp(records int) time.Duration {
	perRound := closer.CallsAtOnce * closer.EventsPerCall
	rounds := (records + perRound - 1) / perRound
	return time.Duration(max(rounds-1, 0)) * time.Second
}

// refusalFinal reports whether a settled record's outcome stands. A refusal of
// a recharge still RECHARGING (a business rule's, Conflict) is final only from
// refusalFinalReceive on, or on the last allowed receive; a record that does
// not say its receive count did not come from SQS and is judged at once.
func (h *Handler) refusalFinal(it *item) bool {
	r := it.receives()
	if it.res.Outcome != closer.Refused || it.res.Failure.Reason != fault.Conflict || r == 0 {
		return true
	}
	return r >= refusalFinalReceive || h.lastReceive(it.rec)
}

// lastReceive reports whether rec is on its last allowed receive: kept once
// more, the queue hands it to its dead-letter queue.
func (h *Handler) lastReceive(rec trigger.Record) bool {
	return h.maxReceive > 0 && rec.ReceiveCount >= h.maxReceive
}

// requeueDelay is how soon a kept record should be received again: after the
// receive budget's delay for transient ones; not before any other invocation
// of the same recharge must be over for a refusal asked again; within a second
// for invalid ones WeChat Pay never saw. The others — configuration failures,
// WeChat Pay's own PARAM_ERROR, refusals nobody else hears of — wait out the
// visibility timeout: resending them within seconds would only spend WeChat
// Pay's rate on the same answer.
func requeueDelay(it *item, span time.Duration) (time.Duration, bool) {
	switch {
	case it.copied:
		return 0, false
	case it.held:
		return max(jittered(it.receives()), span), true
	case it.err == nil:
		return 0, false
	}
	switch fe := fault.As(it.err); fe.Kind {
	case fault.Transient:
		return jittered(it.receives()), true
	case fault.InvalidInput:
		return requeueInvalid, fe.Status == 0
	}
	return 0, false
}

func apiAnswer(req trigger.Request, res closer.Result, err error) ([]byte, error) {
	var status int
	var body any
	switch {
	case err != nil:
		fe := fault.As(err)
		status, body = statusOf[fe.Why()], errorBody(fe)
	case res.Outcome == closer.Closed:
		status, body = http.StatusOK, res.Recharge
	case res.Outcome == closer.NotClosable:
		status, body = http.StatusConflict, res.Recharge
	default:
		refusal := fault.Error{Kind: fault.Refused, Reason: res.Failure.Reason}
		status, body = statusOf[refusal.Why()], res.Failure.Error
	}
	resp, err := trigger.APIResponse(req.Kind, status, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

func invokeAnswer(res closer.Result, err error) ([]byte, error) {
	switch {
	case err != nil:
		return nil, invokeError(fault.As(err))
	case res.Outcome == closer.Refused && !res.Published:
		// Nothing else records it: fail, so the on-failure destination keeps the event.
		f := res.Failure
		return nil, invokeError(&fault.Error{Kind: fault.Refused, Code: f.Error.Code, Message: f.Error.Message})
	case res.Outcome == closer.Refused:
		return json.Marshal(res.Failure)
	}
	return json.Marshal(res.Recharge)
}

// statusOf is the one mapping of failures to HTTP statuses.
var statusOf = map[fault.Reason]int{
	fault.Invalid:       http.StatusBadRequest,
	fault.Misconfigured: http.StatusInternalServerError,
	fault.NotFound:      http.StatusNotFound,
	fault.Forbidden:     http.StatusForbidden,
	fault.Conflict:      http.StatusConflict,
	fault.Unavailable:   http.StatusServiceUnavailable,
	fault.TimedOut:      http.StatusGatewayTimeout,
	fault.Upstream:      http.StatusBadGateway,
}

// errorBody is what a caller sees of a failure: a code and a message, never a
// cause, a stack or an upstream body.
func errorBody(fe *fault.Error) closer.ErrorBody {
	code := fe.Code
	switch fe.Kind {
	case fault.InvalidInput:
		code = fault.CodeInvalidInput
	case fault.Configuration:
		code = fault.CodeConfiguration
	}
	return closer.ErrorBody{Code: code, Message: fe.Message}
}

// invokeError is the one mapping of failures to Lambda errors: errorType is
// the kind, so that alarms and on-failure consumers can tell them apart.
func invokeError(fe *fault.Error) error {
	b := errorBody(fe)
	msg := b.Message
	if b.Code != string(fe.Kind) {
		msg = b.Code + ": " + msg
	}
	return messages.InvokeResponse_Error{Type: string(fe.Kind), Message: msg}
}

// logSummary writes the invocation's one summary line. The logger adds
// aws_request_id from ctx.
func (h *Handler) logSummary(ctx context.Context, req trigger.Request, outcome string, res closer.Result, err error, d time.Duration, extra ...slog.Attr) {
	attrs := []slog.Attr{
		slog.String("trigger", string(req.Kind)),
		slog.String("sub_mchid", req.SubMchid),
		slog.String("out_recharge_no", req.OutRechargeNo),
		slog.String("outcome", outcome),
		slog.Int("attempts", res.Exchange.Attempts),
		slog.Int64("duration_ms", d.Milliseconds()),
	}
	for _, a := range [...]struct{ key, value string }{
		{"api_request_id", req.APIRequestID}, {"caller", req.Caller}, {"source", req.Source}, {"account", req.Account},
	} {
		if a.value != "" {
			attrs = append(attrs, slog.String(a.key, a.value))
		}
	}
	if res.Exchange.RequestID != "" {
		attrs = append(attrs, slog.String("wechatpay_request_id", res.Exchange.RequestID))
	}
	if res.Exchange.RateLimited > 0 {
		attrs = append(attrs, slog.Int("rate_limited", res.Exchange.RateLimited))
	}
	if res.Exchange.PaceWait >= time.Millisecond {
		attrs = append(attrs, slog.Float64("pace_wait_ms", float64(res.Exchange.PaceWait.Microseconds())/1e3))
	}
	level := slog.LevelInfo
	if err != nil {
		fe := fault.As(err)
		attrs = append(attrs, slog.String("error_code", fe.Code), slog.String("error", fe.Error()))
		level = slog.LevelError
		if fe.Kind == fault.InvalidInput {
			level = slog.LevelWarn
		}
	} else {
		attrs = append(attrs, slog.Bool("published", res.Published))
		if res.Recharge != nil {
			attrs = append(attrs, slog.String("recharge_state", res.Recharge.RechargeState))
		}
		if res.Failure != nil {
			attrs = append(attrs, slog.String("error_code", res.Failure.Error.Code))
		}
	}
	h.logger.LogAttrs(ctx, level, "close recharge", append(attrs, extra...)...)
}

func outcomeOfKind(k fault.Kind) string {
	switch k {
	case fault.InvalidInput:
		return "invalid_input"
	case fault.Configuration:
		return "configuration_error"
	case fault.Refused:
		return "refused"
	}
	return "transient"
}
