package handler_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/handler"
	"close-recharge/internal/metrics"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

type invocations struct {
	mu  sync.Mutex
	got []metrics.Invocation
}

func (r *invocations) Record(i metrics.Invocation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, i)
	return nil
}

// The metrics document counts what the close took, rate-limit answers
// included: the rate-limit alarm watches that figure and nothing else.
func TestMetricsCountAttemptsAndRateLimitedAnswers(t *testing.T) {
	w := newWorld(t)
	if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: "Q1", State: recharge.StateRecharging}); err != nil {
		t.Fatal(err)
	}
	w.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, OutRechargeNo: "Q1", Status: 429, Code: "RATELIMIT_EXCEEDED", Times: 1})
	m := &invocations{}
	h := handler.New(w.service(true, true), slog.New(slog.DiscardHandler), m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.Invoke(ctx, fmt.Appendf(nil, `{"sub_mchid":%q,"out_recharge_no":"Q1"}`, modelSub)); err != nil {
		t.Fatal(err)
	}
	if len(m.got) != 1 {
		t.Fatalf("%d metrics documents, want 1", len(m.got))
	}
	if got := m.got[0]; got.Outcome != "closed" || got.Trigger != "direct" || got.Attempts != 2 || got.RateLimited != 1 {
		t.Errorf("metrics %+v, want outcome closed, trigger direct, 2 attempts, 1 rate-limited", got)
	}
}
