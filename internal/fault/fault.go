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

// Error is a failure with a kind, a code (WeChat Pay's own where it gave one),
// and a message fit to show a caller. Status and RequestID describe the
// WeChat Pay answer behind it, when there was one. Cause is for logs only.
type Error struct {
	Kind      Kind
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
