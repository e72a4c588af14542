// Package pace keeps an instance's requests to WeChat Pay within its share of
// the merchant's rate limit. WeChat Pay limits each merchant, not each caller,
// and answers 429 beyond it; every instance therefore paces itself at
// MAX_RPS / MAX_INSTANCES with a token bucket, so that the deployment stays
// under the limit by construction, and halves its pace when WeChat Pay still
// answers 429 (another caller of the same merchant, a lower limit than
// configured), winning it back additively.
package pace

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Bucket is a token bucket: rate tokens a second, at most burst at once.
// Waiters queue for tokens in two lanes — urgent ones ahead of the others,
// each lane in arrival order — and take nothing until a token is there, so
// that a change of rate applies to every turn not yet handed out.
type Bucket struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	tokens  float64
	last    time.Time
	now     func() time.Time
	queue   []*waiter     // urgent ones first, then the others, each in arrival order
	changed chan struct{} // closed, and replaced, when the queue or the rate changes: waiters look again
}

type waiter struct{ urgent bool }

// NewBucket returns a full bucket.
func NewBucket(rate float64, burst int) *Bucket { return newBucket(rate, float64(burst)) }

// newBucket is NewBucket with a burst that need not be whole: a pacer's saved
// allowance is a share of a second's turns, whatever the share.
func newBucket(rate, burst float64) *Bucket {
	b := &Bucket{rate: rate, burst: math.Max(burst, 1), now: time.Now, changed: make(chan struct{})}
	b.tokens, b.last = b.burst, b.now()
	return b
}

// refill adds what the time since the last call earned; mu is held.
func (b *Bucket) refill(now time.Time) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d*b.rate)
	}
	b.last = now
}

// signal wakes every waiter to look again; mu is held.
func (b *Bucket) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Allow takes a token if one is there and nobody is waiting for it.
func (b *Bucket) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	if b.tokens < 1 || len(b.queue) > 0 {
		return false
	}
	b.tokens--
	return true
}

// Wait takes a token, waiting for it as long as ctx allows. A token that
// would come only after ctx's deadline — at the rate now, behind the waiters
// ahead — is not waited for: the caller gets ctx's error at once instead of
// waiting in vain.
func (b *Bucket) Wait(ctx context.Context) error { return b.wait(ctx, false) }

// WaitUrgent is Wait ahead of every waiter that is not urgent.
func (b *Bucket) WaitUrgent(ctx context.Context) error { return b.wait(ctx, true) }

func (b *Bucket) wait(ctx context.Context, urgent bool) error {
	w := &waiter{urgent: urgent}
	b.mu.Lock()
	at := len(b.queue)
	if urgent {
		at = 0
		for at < len(b.queue) && b.queue[at].urgent {
			at++
		}
	}
	b.queue = slices.Insert(b.queue, at, w)
	b.signal()
	for {
		now := b.now()
		b.refill(now)
		ahead := slices.Index(b.queue, w)
		if ahead == 0 && b.tokens >= 1 {
			b.tokens--
			b.leave(w)
			b.mu.Unlock()
			return nil
		}
		// The turn comes when this waiter's token and those of the waiters
		// ahead have been earned, at the rate now.
		wait := time.Duration((float64(ahead) + 1 - b.tokens) / b.rate * float64(time.Second))
		if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
			b.leave(w)
			b.mu.Unlock()
			return context.DeadlineExceeded
		}
		changed := b.changed
		b.mu.Unlock()
		// Only the first in the queue times its token; the others look again
		// when the queue moves or the rate changes.
		var tick <-chan time.Time
		var t *time.Timer
		if ahead == 0 {
			t = time.NewTimer(wait)
			tick = t.C
		}
		select {
		case <-tick:
		case <-changed:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		b.mu.Lock()
		if ctx.Err() != nil {
			b.leave(w)
			b.mu.Unlock()
			return ctx.Err()
		}
	}
}

// leave takes w out of the queue; mu is held.
func (b *Bucket) leave(w *waiter) {
	if i := slices.Index(b.queue, w); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
		b.signal()
	}
}

// Rate is the bucket's rate now.
func (b *Bucket) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

func (b *Bucket) setRate(r float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	b.rate = r
	b.signal()
}

// Pacer is one instance's pace: a Bucket at its share, cut in half on 429
// and on a second 5xx in a row (at most once a second, so that one burst of
// them is one cut) and raised again by a tenth of the share each second, never
// above the share and never below a sixteenth of it.
type Pacer struct {
	bucket *Bucket
	share  float64

	mu      sync.Mutex
	lastCut time.Time
	raised  time.Time
	cuts    int
	failing bool // the last answer was a 5xx
}

// Headroom is how much of its share an instance may save up while it is not
// calling WeChat Pay — between two batches, while it publishes — and spend at
// once after: without it, every such gap is share lost for good. A tenth of a
// second: a fleet whose every instance spends its savings at once sends a
// tenth of a second's worth of the deployment's rate together, which a rate
// limiter lets through as a burst. It is not rounded to whole turns: at a
// share of 200/12 a second it is 1.67 turns, not one.
const Headroom = 100 * time.Millisecond

// NewPacer paces at share requests a second. It starts with one request's
// turn rather than a full bucket, so that a fleet of cold instances does not
// open with a burst.
func NewPacer(share float64) *Pacer {
	p := &Pacer{bucket: newBucket(share, share*Headroom.Seconds()), share: share}
	p.bucket.tokens = 1
	p.raised = p.bucket.now()
	return p
}

// New returns the pacer for one instance of a deployment allowed maxRPS
// across maxInstances instances, or nil when maxRPS is 0 (no pacing).
func New(maxRPS float64, maxInstances int) *Pacer {
	if maxRPS <= 0 {
		return nil
	}
	return NewPacer(maxRPS / float64(max(maxInstances, 1)))
}

// Wait takes the next request's turn, as long as ctx allows; a request
// marked Urgent goes ahead of the others.
func (p *Pacer) Wait(ctx context.Context) error {
	p.recover()
	if IsUrgent(ctx) {
		return p.bucket.WaitUrgent(ctx)
	}
	return p.bucket.Wait(ctx)
}

// Unavailable reports a 5xx from WeChat Pay. The pace halves when it follows
// another 5xx with no other answer between: WeChat Pay down or overloaded,
// which the same rate of requests does not help. A 5xx among answers served
// is an error of one request — a sporadic SYSTEM_ERROR — and cutting on each
// would cost most of the rate while they last (two thirds of it at one request
// in twenty).
func (p *Pacer) Unavailable() {
	p.mu.Lock()
	again := p.failing
	p.failing = true
	p.mu.Unlock()
	if again {
		p.Throttled()
	}
}

// Served reports an answer from WeChat Pay that was no 5xx: a run of 5xx
// answers, if there was one, is over.
func (p *Pacer) Served() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = false
}

// Throttled reports a 429 from WeChat Pay: the pace halves.
func (p *Pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.bucket.now()
	if now.Sub(p.lastCut) < time.Second {
		return
	}
	p.lastCut, p.raised = now, now
	p.cuts++
	p.bucket.setRate(math.Max(p.bucket.Rate()/2, p.share/16))
}

// recover raises the pace by a tenth of the share for every second since the
// last change.
func (p *Pacer) recover() {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := p.bucket.Rate()
	if rate >= p.share {
		return
	}
	now := p.bucket.now()
	if d := now.Sub(p.raised).Seconds(); d > 0 {
		p.bucket.setRate(math.Min(p.share, rate+d*p.share/10))
		p.raised = now
	}
}

// Rate is the pace now, in requests a second.
func (p *Pacer) Rate() float64 { return p.bucket.Rate() }

// Cuts is how many times a 429 halved the pace.
func (p *Pacer) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// ErrNoTurn marks a request that never went out: its turn would have come
// only after the caller's deadline. Nothing was asked of WeChat Pay.
var ErrNoTurn = errors.New("no turn to call WeChat Pay before the deadline")

type deferrableKey struct{}

// Deferrable marks requests made under ctx as ones that a queue will return:
// when WeChat Pay rate-limits them, the client gives up at once instead of
// waiting to retry inside the invocation, and the record comes back later.
func Deferrable(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferrableKey{}, true)
}

type urgentKey struct{}

// Urgent marks requests made under ctx as ones that settle work already
// paid for — the query that decides a refused close — so that their turns
// come before those of closes not yet started: otherwise a batch's closes
// take every turn while its settling queries wait out the invocation, and
// each such record is closed again on its next receive.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// IsUrgent reports whether ctx was marked by Urgent.
func IsUrgent(ctx context.Context) bool {
	v, _ := ctx.Value(urgentKey{}).(bool)
	return v
}

// IsDeferrable reports whether ctx was marked by Deferrable.
func IsDeferrable(ctx context.Context) bool {
	v, _ := ctx.Value(deferrableKey{}).(bool)
	return v
}
