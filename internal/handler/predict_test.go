package handler_test

import (
	"close-recharge/internal/recharge"
	"close-recharge/internal/wechatpay"
)

// The predictor is the models' expectation: from the seeded state, the queue
// of answers, and the key store, it plays what the client and the close
// use-case do — each call retried up to MaxAttempts on transient answers
// (a rate-limited batch record gives up at once), a business refusal settled
// by a query, cached keys re-read once on SIGN_ERROR or an unverifiable
// answer — and says how the invocation ends. It is used for every sequence
// without a slow answer: an answer later than the attempt timeout is the one
// way for an answer to depend on timing, and such sequences are held to the
// consistency checks only. Deadlines play no part: the patient policy's
// attempt timeout and invocation deadline are far beyond what a sequence of
// at most a dozen requests needs on a loaded machine.

// effect is how an answer of the queue acts on the request that takes it.
type effect int

const (
	served       effect = iota // the request is served as WeChat Pay would (a right answer, maybe late, maybe with fields left out)
	failsBefore                // a transient error answer; the request is not applied
	spoiled                    // a 2xx answer the client rejects as not the recharge; applied; error answers are unchanged
	unverified                 // a 2xx answer that fails verification; applied; error answers are unchanged
	resetAfter                 // a close that takes effect, then the connection drops; other requests are served
	finalError                 // an error answer that ends the call: PARAM_ERROR, SIGN_ERROR
	refuses                    // while RECHARGING, a refusal of WeChat Pay's own; otherwise served
	pays                       // the money arrives first, then the request is served
	unknownState               // a 2xx answer names a state WeChat Pay has not documented
	late                       // answered after the attempt gave up: not predicted
)

// Outcome kinds, as a caller sees them.
const (
	kindClosed        = "closed"
	kindNotClosable   = "not_closable"
	kindRefused       = "refused"
	kindInvalid       = "invalid"
	kindConfiguration = "configuration"
	kindTransient     = "transient"
)

// prediction is how one invocation's close ends, before publishing.
type prediction struct {
	kind  string
	code  string // WeChat Pay's code, for a refusal
	reads int    // times the secret is read
}

// answer is how one call (or request) ended.
type answer struct {
	prediction
	state    string // of a 2xx answer
	business bool   // a business refusal, which a query settles
	stale    bool   // fresher keys may cure it
	retry    bool   // retryable
	deferred bool   // a rate-limit or 5xx answer: a batch record gives up at once
}

type predictor struct {
	state      string // "" for a recharge WeChat Pay does not know
	answers    []behaviour
	cached     bool   // the key cache holds keys
	rotated    bool   // the merchant key was rotated since the cache read it
	storeFails string // the next secret read fails with this kind
	failAlways bool   // every read fails, not only the next
	batch      bool   // rate-limited records, and those answered with a 5xx, go back to the queue at once
	reads      int
}

// invoke is one close: keys, WeChat Pay, and one re-read of stale keys.
func (p *predictor) invoke() prediction {
	p.reads = 0
	r := p.closeWithFreshKeys()
	r.reads = p.reads
	return r
}

func (p *predictor) closeWithFreshKeys() prediction {
	if f := p.keys(); f != nil {
		return *f
	}
	a := p.close()
	if !a.stale {
		return a.prediction
	}
	p.cached = false
	if f := p.keys(); f != nil {
		return *f
	}
	return p.close().prediction
}

func (p *predictor) keys() *prediction {
	if p.cached {
		return nil
	}
	p.reads++
	if f := p.storeFails; f != "" {
		if !p.failAlways {
			p.storeFails = ""
		}
		return &prediction{kind: f}
	}
	p.cached, p.rotated = true, false
	return nil
}

// close is the client's Close: the close call, and the query that settles a
// business refusal.
func (p *predictor) close() answer {
	a := p.call("close")
	switch {
	case a.stale:
		return a
	case a.business:
		q := p.call("query")
		switch {
		case q.stale, q.kind == kindTransient:
			return q
		case q.kind == "" && q.state == recharge.StateRecharging:
			a.business = false
			return a
		case q.kind == "":
			return settled(q.state)
		case q.code == wechatpay.CodeOrderNotExist:
			return q
		}
		return answer{prediction: prediction{kind: kindTransient}}
	case a.kind == "":
		return settled(a.state)
	}
	return a
}

func settled(state string) answer {
	switch state {
	case recharge.StateClosed:
		return answer{prediction: prediction{kind: kindClosed}}
	case recharge.StateSuccess:
		return answer{prediction: prediction{kind: kindNotClosable}}
	}
	return answer{prediction: prediction{kind: kindTransient}}
}

func (p *predictor) call(op string) answer {
	for attempt := 1; ; attempt++ {
		a := p.request(op)
		if !a.retry || a.deferred && p.batch || attempt >= modelRetry.MaxAttempts {
			return a
		}
	}
}

func transient(deferred bool) answer {
	return answer{prediction: prediction{kind: kindTransient}, retry: true, deferred: deferred}
}

// request is one request and the answer it gets.
func (p *predictor) request(op string) answer {
	if p.rotated {
		// The simulator's own SIGN_ERROR, before any injected answer is taken.
		return answer{prediction: prediction{kind: kindConfiguration}, stale: true}
	}
	var b behaviour
	if len(p.answers) > 0 {
		b, p.answers = p.answers[0], p.answers[1:]
	}
	switch b.effect {
	case failsBefore:
		return transient(b.rateLimited || b.serverError)
	case finalError:
		if b.fault.Code == wechatpay.CodeSignError {
			return answer{prediction: prediction{kind: kindConfiguration}, stale: true}
		}
		return answer{prediction: prediction{kind: kindInvalid}}
	case refuses:
		if p.state == recharge.StateRecharging {
			if b.fault.Code == wechatpay.CodeNoAuth {
				return answer{prediction: prediction{kind: kindRefused, code: b.fault.Code}}
			}
			return answer{prediction: prediction{kind: kindRefused, code: b.fault.Code}, business: true}
		}
	case pays:
		if p.state == recharge.StateRecharging {
			p.state = recharge.StateSuccess
		}
	}
	// Served: an error answer, or a 2xx one that the fault may spoil.
	var state string
	switch {
	case p.state == "":
		return answer{prediction: prediction{kind: kindRefused, code: wechatpay.CodeOrderNotExist}}
	case op == "query":
		state = p.state
	case p.state == recharge.StateRecharging:
		p.state, state = recharge.StateClosed, recharge.StateClosed
		if b.effect == resetAfter {
			return transient(false)
		}
	case p.state == recharge.StateClosed:
		return answer{prediction: prediction{kind: kindRefused, code: "INVALID_REQUEST"}, business: true}
	default:
		return answer{prediction: prediction{kind: kindRefused, code: "RULE_LIMIT"}, business: true}
	}
	switch b.effect {
	case spoiled:
		return transient(false)
	case unverified:
		return answer{prediction: prediction{kind: kindTransient}, stale: true}
	case unknownState:
		state = "FROZEN"
	}
	return answer{state: state}
}
