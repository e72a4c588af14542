// Package fault holds the one error type of the domain: every failure that can
// end an invocation is a *fault.Error with a Kind, and the kinds are a closed set.
package fault

import (
	"errors"
	"fmt"
)

// Kind says what a failure means for the caller, and therefore how it is
// reported: which HTTP status, which Lambda errorType, whether Lambda retries.
type Kind string

const (
	// InvalidInput: the payload or an identifier is malformed; nothing was sent.
	InvalidInput Kind = "INVALID_INPUT"
	// Refused: WeChat Pay's final answer; retrying cannot help.
	Refused Kind = "REFUSED"
	// Configuration: the merchant secret or keys are missing, malformed or rejected.
	Configuration Kind = "CONFIGURATION_ERROR"
	// Transient: 5xx, rate limits, network, timeouts, unverifiable answers,
	// publish failures. Retrying later may succeed.
	Transient Kind = "TRANSIENT"
)

// Reason says what a failure is in the function's own words; what an API
// caller is told follows from it alone. The WeChat Pay client translates
// WeChat Pay's codes and statuses into reasons, so that nothing past it reads
// WeChat Pay's vocabulary. An Error without one takes its Kind's default.
type Reason string

const (
	Invalid       Reason = "INVALID"       // the request is malformed (InvalidInput)
	Misconfigured Reason = "MISCONFIGURED" // the function's keys or settings are at fault (Configuration)
	NotFound      Reason = "NOT_FOUND"     // refused: WeChat Pay does not know the recharge
	Forbidden     Reason = "FORBIDDEN"     // refused: the platform has no authority over it
	Conflict      Reason = "CONFLICT"      // refused: a business rule of WeChat Pay's (Refused's default)
	Unavailable   Reason = "UNAVAILABLE"   // transient: rate-limited, or a service is down
	TimedOut      Reason = "TIMED_OUT"     // transient: no answer before the deadline
	Upstream      Reason = "UPSTREAM"      // transient: anything else (Transient's default)
)

// Codes of our own, used where WeChat Pay gave none.
const (
	CodeInvalidInput    = "INVALID_INPUT"
	CodeConfiguration   = "CONFIGURATION_ERROR"
	CodeTimeout         = "TIMEOUT"
	CodeNetwork         = "NETWORK_ERROR"
	CodeInvalidResponse = "INVALID_RESPONSE"
	CodeUnverified      = "RESPONSE_VERIFICATION_FAILED"
	CodePublish         = "PUBLISH_FAILED"
	// CodeUpstream: an error answer without WeChat Pay's {"code","message"}
	// shape, such as a gateway's HTML page.
	CodeUpstream = "UPSTREAM_ERROR"
	// CodeUnsettled: a refused close whose settling query did not say what
	// state the recharge is in.
	CodeUnsettled = "CLOSE_UNSETTLED"
)

// ErrStaleKeys marks a failure that fresher merchant keys may cure: WeChat Pay
// rejected the request signature (a rotated merchant key), or its answer did
// not verify with the keys held (a rotated WeChat Pay key). Whoever caches
// keys re-reads them once on it.
var ErrStaleKeys = errors.New("the merchant keys held may be stale")

// Error is a failure with a kind, a code (WeChat Pay's own where it gave one),
// and a message fit to show a caller. Status and RequestID describe the
// WeChat Pay answer behind it, when there was one. Cause is for logs only.
type Error struct {
	Kind      Kind
	Reason    Reason
	Code      string
	Message   string
	Status    int
	RequestID string
	Cause     error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Code, e.Message)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.RequestID != "" {
			s += ", Request-ID " + e.RequestID
		}
		s += ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Why is the failure's Reason, or its Kind's default.
func (e *Error) Why() Reason {
	if e.Reason != "" {
		return e.Reason
	}
	switch e.Kind {
	case InvalidInput:
		return Invalid
	case Configuration:
		return Misconfigured
	case Refused:
		return Conflict
	}
	return Upstream
}

// Timeout is a transient failure for want of time, with an internal cause.
func Timeout(cause error, format string, args ...any) *Error {
	return &Error{Kind: Transient, Reason: TimedOut, Code: CodeTimeout, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// New returns an error of the given kind whose code is the kind's default.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: defaultCode(kind), Message: fmt.Sprintf(format, args...)}
}

// Wrap is New with an internal cause kept for logs.
func Wrap(kind Kind, code string, cause error, format string, args ...any) *Error {
	if code == "" {
		code = defaultCode(kind)
	}
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

func defaultCode(kind Kind) string {
	switch kind {
	case InvalidInput:
		return CodeInvalidInput
	case Configuration:
		return CodeConfiguration
	case Transient:
		return CodeNetwork
	}
	return string(kind)
}

// As returns the *Error in err's chain. An error that is not one is treated
// as transient: an unknown failure must never be reported as final.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return &Error{Kind: Transient, Code: CodeNetwork, Message: "unexpected failure", Cause: err}
}

// KindOf is As(err).Kind, or "" for nil.
func KindOf(err error) Kind {
	if fe := As(err); fe != nil {
		return fe.Kind
	}
	return ""
}
