// Package handler is the Lambda handler: it decodes any trigger, runs the
// close, and answers each trigger in the shape it expects — an HTTP response
// for API Gateway, the recharge or an invocation error for everything else —
// with one summary log line and one metrics document per invocation.
package handler

import (
	"context"
	"encoding/json"
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
	closer   Closer
	logger   *slog.Logger
	metrics  Metrics
	requeuer Requeuer
	parallel int
}

// Option configures a Handler.
type Option func(*Handler)

// WithRequeuer brings transient SQS records back within seconds.
func WithRequeuer(r Requeuer) Option { return func(h *Handler) { h.requeuer = r } }

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
	if err == nil && req.Kind == trigger.SQS {
		return h.batch(ctx, req.Records)
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
	h.report(ctx, req, res, err, time.Since(start))
	if req.IsAPI() {
		return apiAnswer(req, res, err)
	}
	return invokeAnswer(res, err)
}

// report writes one close's summary line and metrics document.
func (h *Handler) report(ctx context.Context, req trigger.Request, res closer.Result, err error, elapsed time.Duration, extra ...slog.Attr) {
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
			Latency: elapsed, Attempts: res.Exchange.Attempts, RateLimited: res.Exchange.RateLimited, PaceWait: res.Exchange.PaceWait}); merr != nil {
			h.logger.WarnContext(ctx, "metrics not written", "error", merr.Error())
		}
	}
}

// Delays before a transient record comes back; rate-limited ones wait longer,
// and a random part spreads a burst's returns. An invalid record comes back
// after a second too: every receive counts toward the queue's
// maxReceiveCount, so it reaches the dead-letter queue (and its alarm) within
// seconds rather than after that many whole visibility timeouts.
const (
	requeueAfter          = 2 * time.Second
	requeueAfterRateLimit = 5 * time.Second
	requeueSpread         = 3 * time.Second
	requeueInvalid        = time.Second
)

// item is one record of a batch on its way through.
type item struct {
	rec     trigger.Record
	req     trigger.Request
	res     closer.Result
	err     error
	elapsed time.Duration
	same    *item // an earlier record of the batch naming the same recharge, whose answer this one shares
}

// batch closes the records of an SQS batch side by side, publishes their
// outcomes together, and answers which records the queue must keep: the
// transient ones (brought back within seconds), the invalid ones (brought back
// after a second, so that the redrive policy hands them to the dead-letter
// queue within seconds), configuration failures, and refusals nobody else
// would hear of (no bus).
func (h *Handler) batch(ctx context.Context, records []trigger.Record) ([]byte, error) {
	ctx = pace.Deferrable(ctx) // a rate-limited record goes back to its queue, not into a backoff
	if dl, ok := ctx.Deadline(); ok {
		// Publishing and bringing records back end in time to answer, as closes do.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-closer.AnswerMargin))
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
		it.rec = rec
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
			it.res, it.err = h.closer.Settle(ctx, it.req.SubMchid, it.req.OutRechargeNo)
			it.elapsed = time.Since(start)
		})
	}
	wg.Wait()

	var settled []*closer.Result
	var at []int
	for i := range items {
		if items[i].err == nil && items[i].same == nil {
			settled, at = append(settled, &items[i].res), append(at, i)
		}
	}
	for j, err := range h.closer.Publish(ctx, settled) {
		if err != nil {
			items[at[j]].err = err
		}
	}
	for i := range items {
		if f := items[i].same; f != nil {
			// Its own line counts no requests: they are on the first record's.
			items[i].res, items[i].err = f.res, f.err
			items[i].res.Exchange = recharge.Exchange{}
		}
	}

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	kept := make([]bool, len(items))
	back := map[string]map[string]time.Duration{} // queue ARN → receipt handle → delay
	for i := range items {
		it := &items[i]
		kept[i] = it.err != nil || it.res.Outcome == closer.Refused && !it.res.Published
		if kept[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: it.rec.MessageID})
		}
		if after, soon := requeueDelay(it.err); soon && h.requeuer != nil {
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
		attrs := []slog.Attr{slog.String("message_id", it.rec.MessageID), slog.Bool("kept_in_queue", kept[i])}
		if it.same != nil {
			attrs = append(attrs, slog.String("answered_with", it.same.rec.MessageID))
		}
		h.report(ctx, req, it.res, it.err, it.elapsed, attrs...)
	}
	return json.Marshal(resp)
}

// requeueDelay is how soon a kept record should be received again: soon for
// transient and invalid ones; the others (configuration failures, refusals
// nobody else hears of) wait out the visibility timeout.
func requeueDelay(err error) (time.Duration, bool) {
	switch fault.KindOf(err) {
	case fault.Transient:
		after := requeueAfter
		if fault.As(err).Why() == fault.Unavailable {
			after = requeueAfterRateLimit
		}
		return after + rand.N(requeueSpread), true
	case fault.InvalidInput:
		return requeueInvalid, true
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
