package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"close-recharge/internal/fault"
	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
)

// RetryPolicy bounds how transient failures are retried: capped, jittered
// exponential backoff, each attempt at most AttemptTimeout, and never an attempt
// that could not finish before the context deadline less Reserve.
type RetryPolicy struct {
	MaxAttempts    int
	BaseDelay      time.Duration // first backoff; doubles per attempt
	MaxDelay       time.Duration
	RateLimitDelay time.Duration // first backoff after 429: WeChat Pay asks callers to slow down
	AttemptTimeout time.Duration
	Reserve        time.Duration // kept free before the deadline, for the caller to publish
	MinAttempt     time.Duration // an attempt with less time than this is not started
}

// DefaultRetryPolicy follows WeChat Pay's guidance to retry 5xx and 429 two or
// three times with the same parameters.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    4,
	BaseDelay:      200 * time.Millisecond,
	MaxDelay:       2 * time.Second,
	RateLimitDelay: time.Second,
	AttemptTimeout: 10 * time.Second,
	Reserve:        time.Second,
	MinAttempt:     300 * time.Millisecond,
}

type exchangeKey struct{}

// WithExchange returns a context in which calls count into ex: requests sent
// and the last answer's Request-ID.
func WithExchange(ctx context.Context, ex *recharge.Exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *recharge.Exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*recharge.Exchange)
	return ex
}

// ErrUnverified marks a 2xx answer whose signature did not verify: forged,
// unsigned, stale, or signed with a key the client does not hold (a rotated
// WeChat Pay key). It is a fault.ErrStaleKeys: callers holding cached keys
// should re-read them once.
var ErrUnverified = fmt.Errorf("WeChat Pay answer failed signature verification (%w)", fault.ErrStaleKeys)

// ErrSignRejected marks WeChat Pay's 401 SIGN_ERROR: it did not accept our
// signature (a rotated merchant key or serial). It is a fault.ErrStaleKeys.
var ErrSignRejected = fmt.Errorf("WeChat Pay rejected the request signature (%w)", fault.ErrStaleKeys)

// businessRefusal is a 4xx whose code WeChat Pay does not document for this
// API: the close path settles it by querying.
type businessRefusal struct{ err *fault.Error }

func (b *businessRefusal) Error() string { return b.err.Error() }
func (b *businessRefusal) Unwrap() error { return b.err }

// call runs send with retries and returns a verified 2xx answer that check
// accepts. Every attempt decodes into a value of its own: nothing of an earlier
// answer can survive into a later one.
func call[T any](ctx context.Context, c *Client, op string, send func(context.Context) (*core.APIResult, error), check func(*T) error) (*T, error) {
	p := c.retry
	ex := exchangeFrom(ctx)
	var last error
	for attempt := 1; ; attempt++ {
		// The turn comes first, so that the request then has its whole
		// attempt; waiting for it is bounded by the caller's deadline less what
		// one attempt and the reserve need, not by one attempt's timeout.
		if c.pacer != nil {
			tctx, cancel := p.turnContext(ctx)
			waited := time.Now()
			err := c.pacer.Wait(tctx)
			cancel()
			if ex != nil {
				ex.PaceWait += time.Since(waited)
			}
			if err != nil {
				return nil, giveUp(ctx, fault.Timeout(fmt.Errorf("%w: %w", pace.ErrNoTurn, err), "no turn to call WeChat Pay before the deadline: requests are paced to its rate limit"))
			}
		}
		until, ok := p.attemptDeadline(ctx)
		if !ok {
			return nil, giveUp(ctx, last)
		}
		actx, cancel := context.WithDeadline(ctx, until)
		start := time.Now()
		res, err := send(actx)
		status, reqID := 0, ""
		if res != nil && res.Response != nil {
			status, reqID = res.Response.StatusCode, res.Response.Header.Get("Request-Id")
		}
		out, err := judge(actx, res, err, check)
		cancel()
		if ex != nil {
			ex.Attempts++
			if reqID != "" {
				ex.RequestID = reqID
			}
		}
		c.logAttempt(ctx, op, attempt, status, reqID, time.Since(start), err)
		if err == nil {
			if c.pacer != nil {
				c.pacer.Served()
			}
			return out, nil
		}
		fe := fault.As(err)
		if fe.RequestID == "" {
			fe.RequestID = reqID
		}
		last = err
		rateLimited := fe.Code == CodeRateLimited || fe.Code == CodeFrequencyLimited || fe.Status == http.StatusTooManyRequests
		if rateLimited && ex != nil {
			ex.RateLimited++
		}
		// A 429 slows the pace, and so does a 5xx that follows another: a
		// service that is down or overloaded is not helped by the same rate
		// of requests, and the pace comes back within seconds once it answers
		// again. Any other answer ends a run of 5xx; a lost one says nothing.
		if c.pacer != nil {
			switch {
			case rateLimited:
				c.pacer.Throttled()
			case unavailable(fe):
				c.pacer.Unavailable()
			case status != 0:
				c.pacer.Served()
			}
		}
		// A queued record that WeChat Pay rate-limits, or answers with a 5xx,
		// goes back to its queue rather than holding the instance through a
		// backoff and spending more turns on an outage.
		if !retryable(err) || ctx.Err() != nil || (rateLimited || unavailable(fe)) && pace.IsDeferrable(ctx) {
			return nil, giveUp(ctx, last)
		}
		if attempt >= p.MaxAttempts {
			return nil, last
		}
		delay := p.backoff(attempt, rateLimited)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl)-delay-p.Reserve < p.MinAttempt {
			return nil, last
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, giveUp(ctx, last)
		}
	}
}

// unavailable reports whether WeChat Pay answered with a 5xx: a definite
// answer, from it or its gateway, that it is not serving now. Deferring such
// a request to a later receive is safe. WeChat Pay asks that SYSTEM_ERROR and
// the other 5xx be retried with the same parameters, and a close is
// idempotent on its side, so the later receive's close (and, if that one is
// refused, its settling query) settles the recharge whether or not this one
// took effect — the same path that settles a retry within the invocation,
// only later. An answer that never came (a dropped connection, a timeout) is
// not one: it is retried within the invocation as before, where a turn is
// cheaper than a receive.
func unavailable(fe *fault.Error) bool {
	return fe.Status >= http.StatusInternalServerError
}

// attemptDeadline is when the next attempt must end — AttemptTimeout from now,
// and never into the reserve before the context's deadline — or false when
// the deadline leaves no room for one. It is a point in time, not a duration,
// so that the time spent computing it cannot push the attempt into the reserve.
func (p RetryPolicy) attemptDeadline(ctx context.Context) (time.Time, bool) {
	now := time.Now()
	until := now.Add(p.AttemptTimeout)
	if dl, ok := ctx.Deadline(); ok {
		limit := dl.Add(-p.Reserve)
		if limit.Sub(now) < p.MinAttempt {
			return time.Time{}, false
		}
		if limit.Before(until) {
			until = limit
		}
	}
	return until, ctx.Err() == nil
}

// turnContext bounds the wait for a paced turn: by ctx's deadline less the
// reserve and the shortest attempt worth sending.
func (p RetryPolicy) turnContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, dl.Add(-p.Reserve-p.MinAttempt))
}

func (p RetryPolicy) backoff(attempt int, rateLimited bool) time.Duration {
	base := p.BaseDelay
	if rateLimited {
		base = p.RateLimitDelay
	}
	limit := max(p.MaxDelay, base)
	d := base << (attempt - 1)
	if d > limit || d <= 0 {
		d = limit
	}
	// Equal jitter: half fixed, half random, so a burst of expiries spreads out.
	return d/2 + rand.N(d/2+1)
}

// giveUp reports the last failure, or a timeout if the deadline came first.
func giveUp(ctx context.Context, last error) error {
	if last != nil {
		if fe := fault.As(last); fe.Kind != fault.Transient || fe.Code == fault.CodeTimeout || ctx.Err() == nil {
			return last
		}
	}
	return fault.Timeout(last, "WeChat Pay did not answer before the deadline")
}

func retryable(err error) bool {
	var refusal *businessRefusal
	if errors.As(err, &refusal) || errors.Is(err, ErrUnverified) {
		return false
	}
	return fault.KindOf(err) == fault.Transient
}

// judge turns the SDK's result into a fresh, checked answer or a classified error.
func judge[T any](ctx context.Context, res *core.APIResult, err error, check func(*T) error) (*T, error) {
	var apiErr *core.APIError
	switch {
	case err == nil:
	case errors.As(err, &apiErr):
		return nil, classifyAPIError(apiErr)
	case res == nil:
		// Nothing was sent: the request could not be built or signed.
		return nil, fault.Wrap(fault.Configuration, "", err, "cannot sign the WeChat Pay request with the merchant key")
	case res.Response == nil:
		if ctx.Err() != nil {
			return nil, fault.Timeout(err, "WeChat Pay did not answer in time")
		}
		return nil, fault.Wrap(fault.Transient, fault.CodeNetwork, err, "cannot reach WeChat Pay")
	default:
		return nil, &fault.Error{Kind: fault.Transient, Code: fault.CodeUnverified,
			Message: "WeChat Pay's answer did not verify", Status: res.Response.StatusCode,
			Cause: errors.Join(ErrUnverified, err)}
	}
	out := new(T)
	body, err := io.ReadAll(res.Response.Body)
	if err == nil {
		err = json.Unmarshal(body, out)
	}
	if err == nil {
		err = check(out)
	}
	if err != nil {
		return nil, &fault.Error{Kind: fault.Transient, Code: fault.CodeInvalidResponse,
			Message: "WeChat Pay's answer is not the expected recharge", Status: res.Response.StatusCode, Cause: err}
	}
	return out, nil
}

// WeChat Pay's error codes that decide an outcome by themselves.
const (
	CodeOrderNotExist      = "ORDER_NOT_EXIST"
	CodeNoAuth             = "NO_AUTH"
	CodeSignError          = "SIGN_ERROR"
	CodeParamError         = "PARAM_ERROR"
	CodeRateLimited        = "RATELIMIT_EXCEEDED"
	CodeFrequencyLimited   = "FREQUENCY_LIMITED"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
)

// classifyAPIError decides by code, not status: WeChat Pay uses 403 for
// business refusals as well as for NO_AUTH, and a 404 is a missing recharge
// only when its code says so — from a gateway or a changed path it is a fault.
// An answer without WeChat Pay's error shape (an HTML page, an empty body) is
// never a business answer.
func classifyAPIError(e *core.APIError) error {
	fe := &fault.Error{Code: e.Code, Message: cleanMessage(e.Message), Status: e.StatusCode, RequestID: e.Header.Get("Request-Id")}
	status := fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	unavailable := e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable ||
		e.Code == CodeRateLimited || e.Code == CodeFrequencyLimited || e.Code == CodeServiceUnavailable
	if unavailable {
		fe.Reason = fault.Unavailable
	}
	if fe.Code == "" {
		fe.Kind, fe.Code = fault.Transient, fault.CodeUpstream
		fe.Message = "WeChat Pay answered " + status + " without an error code"
		return fe
	}
	if fe.Message == "" {
		fe.Message = "WeChat Pay answered " + status
	}
	switch {
	case unavailable, e.StatusCode >= 500:
		fe.Kind = fault.Transient
	case e.Code == CodeSignError || e.StatusCode == http.StatusUnauthorized:
		fe.Kind = fault.Configuration
		fe.Cause = ErrSignRejected
	case e.Code == CodeParamError:
		fe.Kind = fault.InvalidInput
	case e.Code == CodeNoAuth:
		fe.Kind, fe.Reason = fault.Refused, fault.Forbidden
	case e.Code == CodeOrderNotExist:
		fe.Kind, fe.Reason = fault.Refused, fault.NotFound
	case e.StatusCode == http.StatusNotFound:
		fe.Kind = fault.Transient
	case e.StatusCode >= 400:
		fe.Kind = fault.Refused
		return &businessRefusal{fe}
	default:
		fe.Kind = fault.Transient
		fe.Code = fault.CodeInvalidResponse
	}
	return fe
}

// cleanMessage keeps WeChat Pay's message fit to show a caller: one line, bounded.
func cleanMessage(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200])
	}
	return s
}

func (c *Client) logAttempt(ctx context.Context, op string, attempt, status int, reqID string, d time.Duration, err error) {
	// Checked first: building the attributes costs allocations on every attempt.
	if !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []any{"op", op, "attempt", attempt, "status", status, "request_id", reqID, "duration_ms", d.Milliseconds()}
	if err != nil {
		fe := fault.As(err)
		attrs = append(attrs, "code", fe.Code, "kind", string(fe.Kind))
	}
	c.logger.DebugContext(ctx, "wechatpay attempt", attrs...)
}
