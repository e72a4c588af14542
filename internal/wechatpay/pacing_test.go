package wechatpay_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// Pacing measured where it matters, at WeChat Pay: 24 closes from 12
// goroutines against a simulator limiting the merchant to 20/s in bursts of 6.
// Paced at half that rate, none is answered 429; unpaced, the same load is.
//
// The margins are wide on purpose, so that the verdict does not depend on how
// busy the machine is. A turn reaches WeChat Pay some time after the pacer
// grants it, and a stalled machine can bunch turns together: at 10/s (one
// turn saved up at most) against 20/s in bursts of 6, it takes turns delayed
// unevenly by more than half a second to make a burst the limit refuses. The
// unpaced load, for its part, must send faster than ~27/s to be refused;
// twelve goroutines manage twice that under -race on two busy cores.
func TestPacingKeepsUnderWeChatPaysRateLimit(t *testing.T) {
	const rate, burst, n, workers = 20.0, 6, 24, 12
	run := func(t *testing.T, pacer wechatpay.Pacer) (throttled, failed int, sent float64) {
		sim := simulator.New(testKeys(t), simulator.WithRateLimit(rate, burst))
		policy := fastRetry
		policy.MaxAttempts = 1 // what WeChat Pay answered, not what retries made of it
		c := pacedClient(t, sim, policy, pacer)
		for i := range n {
			if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: fmt.Sprintf("P%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		next := 0
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= n {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.Close(ctx, sub, fmt.Sprintf("P%d", i))
					cancel()
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		return sim.Throttled(), failed, float64(n) / time.Since(start).Seconds()
	}
	t.Run("paced at half the limit", func(t *testing.T) {
		if throttled, failed, _ := run(t, pace.NewPacer(rate/2)); throttled != 0 || failed != 0 {
			t.Errorf("%d answered 429, %d failed; want none", throttled, failed)
		}
	})
	// The load must be one WeChat Pay refuses when nothing paces it, or the
	// paced run proves nothing. A machine too busy to send it faster than the
	// limit cannot show that: it says so rather than fail.
	t.Run("unpaced", func(t *testing.T) {
		throttled, _, sent := run(t, nil)
		switch {
		case throttled > 0:
		case sent < 2*rate:
			t.Skipf("unpaced, this machine sent only %.0f/s against a limit of %.0f/s with a burst of %d: too busy to show the load exceeds it", sent, rate, burst)
		default:
			t.Errorf("no 429 at %.0f/s without pacing: the simulator's limit does not hold", sent)
		}
	})
}

// A 429 halves the pace, and a deferrable request (a queued record) is not
// retried inside the invocation: it goes back to its queue.
func TestRateLimitedAnswersSlowThePaceAndReturnQueuedRecords(t *testing.T) {
	e := publicKeyEnv(t)
	e.seed(t, "R1", recharge.StateRecharging)
	e.seed(t, "R2", recharge.StateRecharging)
	pacer := pace.NewPacer(100)
	secret := testKeys(t).Secret(false)
	k, _ := secret.Keys()
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(e.url), wechatpay.WithRetryPolicy(fastRetry), wechatpay.WithPacer(pacer))
	if err != nil {
		t.Fatal(err)
	}
	e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 429, Code: "RATELIMIT_EXCEEDED"})
	_, tr, err := closeTraced(pace.Deferrable(context.Background()), c, "R1")
	if fault.KindOf(err) != fault.Transient || tr.Attempts != 1 || tr.RateLimited != 1 {
		t.Fatalf("queued close: %v after %d attempts (%d rate-limited), want one transient, rate-limited attempt", err, tr.Attempts, tr.RateLimited)
	}
	if pacer.Rate() != 50 || pacer.Cuts() != 1 {
		t.Errorf("pace after a 429: %v/s (%d cuts), want 50/s", pacer.Rate(), pacer.Cuts())
	}
	// Not deferrable (an API call): retried within the invocation.
	e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 429, Code: "RATELIMIT_EXCEEDED"})
	if r, tr, err := closeTraced(context.Background(), c, "R2"); err != nil || r.RechargeState != recharge.StateClosed || tr.Attempts != 2 || tr.RateLimited != 1 {
		t.Errorf("API close after a 429: %v, %v after %d attempts (%d rate-limited)", r, err, tr.Attempts, tr.RateLimited)
	}
}

// Waiting for a turn is bounded by the invocation's deadline, not by one
// attempt's timeout, and the request sent after the wait has its whole
// attempt: at a slow pace, requests queued behind each other for longer than
// an attempt may take still go out — each when its turn comes. An attempt of
// a second is twenty times what a close takes on a busy machine, so only a
// wait cut short can fail one.
func TestATurnLongerThanAnAttemptStillComes(t *testing.T) {
	sim := simulator.New(testKeys(t))
	policy := fastRetry
	policy.AttemptTimeout = time.Second
	policy.MaxAttempts = 1
	c := pacedClient(t, sim, policy, pace.NewPacer(2)) // a turn every 500 ms
	const n = 6                                        // the last turn comes 2.5 s out: two and a half attempts' worth
	const deadline = 10 * time.Second
	var wg sync.WaitGroup
	errs := make([]error, n)
	waits := make([]time.Duration, n)
	for i := range n {
		no := fmt.Sprintf("TURN%d", i)
		if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: no}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			var tr *recharge.Exchange
			_, tr, errs[i] = closeTraced(ctx, c, no)
			waits[i] = tr.PaceWait
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("close %d: %v", i, err)
		}
	}
	// The exchange reports the wait: the last turn came 2.5 s out. The pacer
	// makes it no sooner; a goroutine started late waits less, hence the slack
	// below, and no wait outlasts the deadline.
	if longest := slices.Max(waits); longest < 3*policy.AttemptTimeout/2 || longest > deadline {
		t.Errorf("waits for a turn %v: want the longest about 2.5 s", waits)
	}
}

// pacedClient is a client of sim under policy, paced by pacer unless it is nil.
func pacedClient(t *testing.T, sim *simulator.Server, policy wechatpay.RetryPolicy, pacer wechatpay.Pacer) *wechatpay.Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	secret := testKeys(t).Secret(false)
	k, err := secret.Keys()
	if err != nil {
		t.Fatal(err)
	}
	opts := []wechatpay.Option{wechatpay.WithBaseURL(srv.URL), wechatpay.WithRetryPolicy(policy)}
	if pacer != nil {
		opts = append(opts, wechatpay.WithPacer(pacer))
	}
	c, err := wechatpay.New(k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A 5xx between answers served is an error of one request: the pace stays.
func TestSporadicServerErrorsLeaveThePace(t *testing.T) {
	e := publicKeyEnv(t)
	secret := testKeys(t).Secret(false)
	k, _ := secret.Keys()
	pacer := pace.NewPacer(100)
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(e.url), wechatpay.WithRetryPolicy(fastRetry), wechatpay.WithPacer(pacer))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		no := fmt.Sprintf("S%d", i)
		e.seed(t, no, recharge.StateRecharging)
		e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR"})
		if _, _, err := closeTraced(pace.Deferrable(context.Background()), c, no); fault.KindOf(err) != fault.Transient {
			t.Fatalf("close %s answered 500: %v, want transient", no, err)
		}
		if r, _, err := closeTraced(pace.Deferrable(context.Background()), c, no); err != nil || r.RechargeState != recharge.StateClosed {
			t.Fatalf("close %s again: %v, %v, want closed", no, r, err)
		}
	}
	if pacer.Cuts() != 0 || pacer.Rate() != 100 {
		t.Errorf("three 500s, each followed by an answer served: %v/s after %d cuts, want 100/s and none", pacer.Rate(), pacer.Cuts())
	}
}

// A queued record that WeChat Pay answers with a 5xx goes back to its queue
// after one request, as a rate-limited one does, and a second 5xx in a row
// cuts the pace as a 429 does; an API call retries it within the invocation. A
// close whose answer never came is retried within the invocation on either
// path, and does not slow the pace.
func TestServerErrorsReturnQueuedRecords(t *testing.T) {
	e := publicKeyEnv(t)
	secret := testKeys(t).Secret(false)
	k, _ := secret.Keys()
	for i, f := range []simulator.Fault{
		{Kind: simulator.FaultStatus, Op: "close", Status: 503, Code: "SERVICE_UNAVAILABLE"},
		{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR"},
		{Kind: simulator.FaultBody, Op: "close", Status: 502, Body: "<html>Bad Gateway</html>"},
	} {
		// A pacer of its own for each answer: cuts closer than a second apart count once.
		pacer := pace.NewPacer(100)
		c, err := wechatpay.New(k, wechatpay.WithBaseURL(e.url), wechatpay.WithRetryPolicy(fastRetry), wechatpay.WithPacer(pacer))
		if err != nil {
			t.Fatal(err)
		}
		queued, direct := fmt.Sprintf("Q%d", i), fmt.Sprintf("D%d", i)
		e.seed(t, queued, recharge.StateRecharging)
		e.seed(t, direct, recharge.StateRecharging)
		for try, cuts := range []int{0, 1} {
			e.sim.Inject(f)
			_, tr, err := closeTraced(pace.Deferrable(context.Background()), c, queued)
			if fault.KindOf(err) != fault.Transient || tr.Attempts != 1 || tr.RateLimited != 0 {
				t.Errorf("queued close answered %d: %v after %d attempts (%d rate-limited), want one transient attempt, not rate-limited", f.Status, err, tr.Attempts, tr.RateLimited)
			}
			if pacer.Cuts() != cuts || pacer.Rate() != 100/float64(cuts+1) {
				t.Errorf("pace after %d answers %d in a row: %v/s (%d cuts), want %d cuts", try+1, f.Status, pacer.Rate(), pacer.Cuts(), cuts)
			}
		}
		e.sim.Inject(f)
		if r, tr, err := closeTraced(context.Background(), c, direct); err != nil || r.RechargeState != recharge.StateClosed || tr.Attempts != 2 {
			t.Errorf("API close answered %d: %v, %v after %d attempts, want closed on the second", f.Status, r, err, tr.Attempts)
		}
	}
	pacer := pace.NewPacer(100)
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(e.url), wechatpay.WithRetryPolicy(fastRetry), wechatpay.WithPacer(pacer))
	if err != nil {
		t.Fatal(err)
	}
	e.seed(t, "Q9", recharge.StateRecharging)
	e.sim.Inject(simulator.Fault{Kind: simulator.FaultResetAfter, Op: "close"})
	if r, tr, err := closeTraced(pace.Deferrable(context.Background()), c, "Q9"); err != nil || r.RechargeState != recharge.StateClosed || tr.Attempts < 2 {
		t.Errorf("queued close whose answer was lost: %v, %v after %d attempts, want settled within the invocation", r, err, tr.Attempts)
	}
	if pacer.Cuts() != 0 {
		t.Errorf("%d cuts of the pace after a lost answer, want none", pacer.Cuts())
	}
}
