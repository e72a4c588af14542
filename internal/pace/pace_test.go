package pace

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestBucketAllowsItsRateAndBurst(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	b := NewBucket(10, 2)
	b.now, b.last = c.now, c.t
	got := 0
	for range 5 {
		if b.Allow() {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("a full bucket of burst 2 allowed %d", got)
	}
	c.advance(100 * time.Millisecond) // one token at 10/s
	if !b.Allow() || b.Allow() {
		t.Fatal("100 ms at 10/s did not earn exactly one token")
	}
	c.advance(10 * time.Second) // never more than the burst
	got = 0
	for range 5 {
		if b.Allow() {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("after a long idle the bucket allowed %d, want its burst 2", got)
	}
}

// The next token is 100 s away and the deadline 2 s: Wait must answer at
// once, long before the deadline, however slow the machine.
func TestWaitGivesUpAtOnceWhenTheTokenComesTooLate(t *testing.T) {
	b := NewBucket(0.01, 1)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want DeadlineExceeded without waiting for a token 100 s away", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Wait slept until the deadline instead of giving up at once")
	}
	// The refused wait kept no token and no place in the queue: the bucket is
	// as the first Wait left it, and no later waiter queues behind it.
	b.mu.Lock()
	tokens, queued := b.tokens, len(b.queue)
	b.mu.Unlock()
	if tokens < -0.01 || queued != 0 {
		t.Errorf("after a refused wait: tokens = %v, want ≥ 0; %d waiters still queued, want 0", tokens, queued)
	}
}

func TestPacerHalvesOnThrottlingAndRecoversAdditively(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := NewPacer(20)
	p.bucket.now, p.bucket.last, p.raised = c.now, c.t, c.t
	p.Throttled()
	if r := p.Rate(); r != 10 {
		t.Fatalf("after a 429: %v/s, want 10", r)
	}
	p.Throttled() // the same burst of 429s
	if r := p.Rate(); r != 10 {
		t.Fatalf("a second 429 within a second cut again: %v/s", r)
	}
	for range 10 {
		c.advance(time.Second)
		p.Throttled()
	}
	if r := p.Rate(); r != 20.0/16 {
		t.Fatalf("floor: %v/s, want a sixteenth of the share", r)
	}
	c.advance(2 * time.Second)
	p.recover()
	if r := p.Rate(); r != 20.0/16+4 {
		t.Fatalf("after 2 s: %v/s, want +2/s each second", r)
	}
	c.advance(time.Minute)
	p.recover()
	if r := p.Rate(); r != 20 {
		t.Fatalf("recovered to %v/s, want the share 20 and no more", r)
	}
	if p.Cuts() != 11 {
		t.Errorf("cuts = %d", p.Cuts())
	}
}

// A 5xx cuts the pace only when it follows another with no other answer
// between: sporadic errors among served requests leave the pace alone.
func TestPacerCutsOnRunsOfServerErrors(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := NewPacer(20)
	p.bucket.now, p.bucket.last, p.raised = c.now, c.t, c.t
	for _, step := range []struct {
		answers string // u: a 5xx, s: another answer, t: a 429
		rate    float64
	}{
		{"u", 20},
		{"s", 20},
		{"u", 20},  // one 5xx after an answer served
		{"u", 10},  // the second in a row
		{"uu", 5},  // a run goes on
		{"su", 5},  // served, then one 5xx: no cut
		{"t", 2.5}, // a 429 cuts alone
	} {
		c.advance(2 * time.Second) // past the second between cuts; recovery is not asked for here
		for _, a := range step.answers {
			switch a {
			case 'u':
				p.Unavailable()
			case 's':
				p.Served()
			case 't':
				p.Throttled()
			}
		}
		if r := p.Rate(); r != step.rate {
			t.Fatalf("after %q: %v/s, want %v", step.answers, r, step.rate)
		}
	}
}

// The saved allowance is a tenth of a second of the share, not rounded down
// to whole turns.
func TestPacerSavesATenthOfASecond(t *testing.T) {
	for _, share := range []float64{200.0 / 12, 20, 5, 1} {
		p := NewPacer(share)
		if want := max(1, share/10); math.Abs(p.bucket.burst-want) > 1e-9 {
			t.Errorf("share %v/s: saves %v turns, want %v", share, p.bucket.burst, want)
		}
	}
}

func TestNoPacingWithoutARate(t *testing.T) {
	if New(0, 5) != nil {
		t.Fatal("MAX_RPS 0 must mean no pacer")
	}
	if r := New(200, 10).Rate(); r != 20 {
		t.Fatalf("share = %v, want MAX_RPS / MAX_INSTANCES = 20", r)
	}
}

func TestDeferrable(t *testing.T) {
	if IsDeferrable(context.Background()) || !IsDeferrable(Deferrable(context.Background())) {
		t.Fatal("Deferrable marks a context, and only that one")
	}
}
