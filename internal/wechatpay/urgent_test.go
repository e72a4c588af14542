package wechatpay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// The query that settles a refused close is not starved by the closes of
// its batch: six closes of already-closed recharges start together at five
// turns a second; each is refused and queried. First come, first served, all
// six closes would go before the first query (and, in an invocation short of
// time, the queries would not go at all); the query's turn comes first.
func TestSettlingQueriesGoAheadOfWaitingCloses(t *testing.T) {
	sim := simulator.New(testKeys(t))
	var mu sync.Mutex
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.Method)
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	secret := testKeys(t).Secret(false)
	k, err := secret.Keys()
	if err != nil {
		t.Fatal(err)
	}
	policy := fastRetry
	policy.MaxAttempts = 1
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(srv.URL), wechatpay.WithRetryPolicy(policy), wechatpay.WithPacer(pace.NewPacer(5)))
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	for i := range n {
		if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: fmt.Sprint("U", i), State: recharge.StateClosed}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if r, err := c.Close(ctx, sub, fmt.Sprint("U", i)); err != nil || r.RechargeState != recharge.StateClosed {
				t.Errorf("U%d: %v, %v", i, r, err)
			}
		})
	}
	wg.Wait()
	first := -1
	posts := 0
	for _, m := range order {
		if m == http.MethodGet {
			first = posts
			break
		}
		posts++
	}
	if len(order) != 2*n || first < 0 || first > 2 {
		t.Errorf("requests went %v; want the first query before the third close", order)
	}
}

// A close whose turn would come only after its deadline sends nothing and
// says so (pace.ErrNoTurn, no attempt counted): a queued record that got no
// turn has cost WeChat Pay nothing.
func TestNoTurnIsMarkedAndSendsNothing(t *testing.T) {
	sim := simulator.New(testKeys(t))
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	secret := testKeys(t).Secret(false)
	k, err := secret.Keys()
	if err != nil {
		t.Fatal(err)
	}
	p := pace.NewPacer(0.1) // one turn, then the next in ten seconds
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(srv.URL), wechatpay.WithRetryPolicy(fastRetry), wechatpay.WithPacer(p))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ex recharge.Exchange
	ctx, cancel := context.WithTimeout(wechatpay.WithExchange(context.Background(), &ex), 3*time.Second)
	defer cancel()
	_, err = c.Close(ctx, sub, "NT1")
	if !errors.Is(err, pace.ErrNoTurn) || ex.Attempts != 0 || sim.Calls("close") != 0 {
		t.Errorf("Close = %v after %d attempts, %d closes at WeChat Pay; want ErrNoTurn and nothing sent", err, ex.Attempts, sim.Calls("close"))
	}
}
