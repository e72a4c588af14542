package pace

import (
	"context"
	"sync"
	"testing"
	"time"
)

// queued waits until n waiters are in b's queue.
func queued(t *testing.T, b *Bucket, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		got := len(b.queue)
		b.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("fewer than %d waiters queued", n)
}

// An urgent turn — the query that settles a refused close — goes ahead of
// closes already waiting: with five of them queued at 10 a second, the
// urgent one is served before at most one of them, not after all five.
func TestUrgentTurnsGoAheadOfWaitingOnes(t *testing.T) {
	b := NewBucket(10, 1)
	b.tokens = 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if b.Wait(ctx) == nil {
				mu.Lock()
				order = append(order, "close")
				mu.Unlock()
			}
		})
	}
	queued(t, b, 5)
	wg.Go(func() {
		if b.WaitUrgent(ctx) == nil {
			mu.Lock()
			order = append(order, "query")
			mu.Unlock()
		}
	})
	wg.Wait()
	at := -1
	for i, o := range order {
		if o == "query" {
			at = i
		}
	}
	if len(order) != 6 || at < 0 || at > 1 {
		t.Errorf("turns went %v; want the query first or second", order)
	}
}

// A cut applies to turns not yet handed out: ten waiters at 20 a second
// would all go within half a second; cut to 1.25 a second, no more than a
// few may go in the next 1.5 s.
func TestACutSlowsTurnsAlreadyWaiting(t *testing.T) {
	b := NewBucket(20, 1)
	b.tokens = 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	served := 0
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if b.Wait(ctx) == nil {
				mu.Lock()
				served++
				mu.Unlock()
			}
		})
	}
	queued(t, b, 10)
	b.setRate(1.25)
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	got := served
	mu.Unlock()
	cancel()
	wg.Wait()
	// At 1.25 a second 1.5 s earns one or two turns; the old pace would have served all ten.
	if got > 4 {
		t.Errorf("%d of 10 waiting turns went out within 1.5 s of a cut to 1.25/s", got)
	}
}

// A waiter whose context ends leaves the queue: those behind it move up.
func TestACancelledWaiterLeavesTheQueue(t *testing.T) {
	b := NewBucket(5, 1)
	b.tokens = 0
	gone, cancelGone := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Wait(gone) }()
	queued(t, b, 1)
	// A turn a fifth of a second away: 5 s is room enough on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	next := make(chan error, 1)
	go func() { next <- b.Wait(ctx) }()
	queued(t, b, 2)
	cancelGone()
	if err := <-done; err == nil {
		t.Fatal("a cancelled wait took a turn")
	}
	if err := <-next; err != nil {
		t.Fatalf("the waiter behind a cancelled one: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) != 0 {
		t.Errorf("%d waiters left in the queue", len(b.queue))
	}
}
