package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/simulator"
)

type memorySource struct {
	value []byte
	err   error
	reads int
}

func (m *memorySource) Read(context.Context) ([]byte, error) {
	m.reads++
	return m.value, m.err
}

func (m *memorySource) Name() string { return "secret test/merchant" }

func validSecret(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(simulator.SharedKeys().Secret(false))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCacheKeepsKeysForTheTTL(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, 5*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	first, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		k, _ := c.Keys(context.Background())
		if k != first {
			t.Fatal("cached keys were rebuilt within the TTL")
		}
	}
	now = now.Add(5 * time.Minute)
	if k, _ := c.Keys(context.Background()); k == first || src.reads != 2 {
		t.Errorf("after the TTL: reads %d, same keys %v", src.reads, k == first)
	}
}

func TestCacheWithZeroTTLReadsEveryTime(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, 0)
	for range 3 {
		if _, err := c.Keys(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if src.reads != 3 || c.Reads() != 3 {
		t.Errorf("reads = %d, want 3", src.reads)
	}
}

func TestInvalidateDropsOnlyTheStaleKeys(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, time.Hour)
	stale, _ := c.Keys(context.Background())
	c.Invalidate(stale)
	fresh, _ := c.Keys(context.Background())
	c.Invalidate(stale) // a second caller that saw the same stale keys
	again, _ := c.Keys(context.Background())
	if fresh == stale || again != fresh || src.reads != 2 {
		t.Errorf("reads = %d; fresh==stale %v; again==fresh %v", src.reads, fresh == stale, again == fresh)
	}
}

func TestCacheErrors(t *testing.T) {
	src := &memorySource{value: []byte(`{"mchid":"1900000100"}`)}
	_, err := NewCache(src, time.Minute).Keys(context.Background())
	if fault.KindOf(err) != fault.Configuration || !strings.Contains(err.Error(), "secret test/merchant") ||
		!strings.Contains(err.Error(), "merchant_serial_no") {
		t.Errorf("malformed secret: %v, want a configuration error naming the secret and the field", err)
	}
	transient := fault.Wrap(fault.Transient, "", errors.New("connection refused"), "cannot read")
	src = &memorySource{err: transient}
	c := NewCache(src, time.Minute)
	if _, err := c.Keys(context.Background()); !errors.Is(err, transient) {
		t.Errorf("read error = %v, want it passed on", err)
	}
	if _, err := c.Keys(context.Background()); err == nil || src.reads != 2 {
		t.Errorf("a failed read must not be cached: reads %d", src.reads)
	}
}

// gatedSource answers each read only when the test lets it: the first with
// the first value sent on release, and so on.
type gatedSource struct {
	release chan error // nil error: answer the valid secret
	value   []byte
	reads   atomic.Int32
}

func (g *gatedSource) Read(ctx context.Context) ([]byte, error) {
	g.reads.Add(1)
	select {
	case err := <-g.release:
		return g.value, err
	case <-ctx.Done():
		return nil, fault.Wrap(fault.Transient, fault.CodeTimeout, ctx.Err(), "Secrets Manager did not answer in time")
	}
}

func (g *gatedSource) Name() string { return "secret test/merchant" }

func TestPrefetchIsTheFirstCallersRead(t *testing.T) {
	src := &gatedSource{release: make(chan error), value: validSecret(t)}
	c := NewCache(src, time.Minute)
	c.Prefetch(context.Background(), time.Minute)
	got := make(chan *merchant.Keys)
	go func() {
		k, err := c.Keys(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- k
	}()
	select {
	case <-got:
		t.Fatal("Keys answered while the prefetch was still reading")
	case <-time.After(50 * time.Millisecond):
	}
	src.release <- nil
	k := <-got
	if k == nil || src.reads.Load() != 1 || c.Reads() != 1 {
		t.Errorf("keys %v, reads %d (cache says %d); want the prefetched keys after 1 read", k != nil, src.reads.Load(), c.Reads())
	}
	if again, _ := c.Keys(context.Background()); again != k {
		t.Error("the prefetched keys were not kept")
	}
}

func TestWaitingForAPrefetchEndsWithTheCallersContext(t *testing.T) {
	src := &gatedSource{release: make(chan error, 1), value: validSecret(t)}
	c := NewCache(src, time.Minute)
	c.Prefetch(context.Background(), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := c.Keys(ctx)
	if fe := fault.As(err); fe == nil || fe.Kind != fault.Transient || fe.Code != fault.CodeTimeout || !strings.Contains(fe.Message, "secret test/merchant") {
		t.Fatalf("Keys while a read hangs past the deadline: %v, want a transient TIMEOUT naming the secret", err)
	}
	src.release <- nil
	if k, err := c.Keys(context.Background()); k == nil || err != nil || src.reads.Load() != 1 {
		t.Errorf("after the prefetch ended: %v, reads %d; want its keys", err, src.reads.Load())
	}
}

func TestAFailedPrefetchIsReadAgain(t *testing.T) {
	src := &gatedSource{release: make(chan error, 2), value: validSecret(t)}
	c := NewCache(src, time.Minute)
	src.release <- fault.New(fault.Transient, "throttled")
	src.release <- nil
	c.Prefetch(context.Background(), time.Minute)
	if k, err := c.Keys(context.Background()); k == nil || err != nil || c.Reads() != 2 {
		t.Errorf("after a failed prefetch: %v, reads %d; want keys from a second read", err, c.Reads())
	}
}

func TestPrefetchGivesUpAfterItsTimeout(t *testing.T) {
	src := &gatedSource{release: make(chan error, 1), value: validSecret(t)}
	c := NewCache(src, time.Minute)
	c.Prefetch(context.Background(), 20*time.Millisecond) // not answered: times out
	for deadline := time.Now().Add(5 * time.Second); len(c.turn) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the prefetch outlived its timeout")
		}
	}
	src.release <- nil
	if k, err := c.Keys(context.Background()); k == nil || err != nil || src.reads.Load() != 2 {
		t.Errorf("after a timed-out prefetch: %v, reads %d; want keys from the caller's own read", err, src.reads.Load())
	}
}

func TestPrefetchWithoutTTLReadsNothing(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, 0)
	c.Prefetch(context.Background(), time.Minute)
	time.Sleep(10 * time.Millisecond)
	if c.Reads() != 0 {
		t.Errorf("reads = %d with TTL 0, want none before the first caller", c.Reads())
	}
}

// Past the TTL, a read that fails for a passing reason leaves the keys held
// serving for the stale window; one that fails for good does not.
func TestCacheServesStaleKeysWhileSecretsManagerFails(t *testing.T) {
	throttled := fault.Wrap(fault.Transient, "", errors.New("ThrottlingException: Rate exceeded"), "cannot read secret test/merchant")
	notFound := fault.New(fault.Configuration, "secret test/merchant not found in Secrets Manager")
	tests := []struct {
		name      string
		readErr   error
		age       time.Duration // since the keys were read; the TTL is 5m
		wantStale bool
	}{
		{"throttled just past the TTL", throttled, 5*time.Minute + time.Second, true},
		{"throttled near the end of the window", throttled, 5*time.Minute + 59*time.Minute, true},
		{"throttled past the window", throttled, 5*time.Minute + time.Hour, false},
		{"not found", notFound, 5*time.Minute + time.Second, false},
		{"malformed", nil, 5*time.Minute + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &memorySource{value: validSecret(t)}
			var log strings.Builder
			c := NewCache(src, 5*time.Minute, WithStale(time.Hour), WithCacheLogger(slog.New(slog.NewJSONHandler(&log, nil))))
			now := time.Unix(1_800_000_000, 0)
			c.now = func() time.Time { return now }
			held, err := c.Keys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			src.err = tt.readErr
			if tt.readErr == nil {
				src.value = []byte(`{"mchid":"1900000100"}`)
			}
			now = now.Add(tt.age)
			got, err := c.Keys(context.Background())
			if !tt.wantStale {
				if err == nil || got != nil {
					t.Fatalf("Keys = %v, %v; want the read's error", got != nil, err)
				}
				if c.StaleServes() != 0 {
					t.Errorf("stale serves = %d, want 0", c.StaleServes())
				}
				return
			}
			if err != nil || got != held || c.StaleServes() != 1 || src.reads != 2 {
				t.Fatalf("Keys = %v, %v; stale serves %d, reads %d; want the held keys once after 2 reads", got == held, err, c.StaleServes(), src.reads)
			}
			if !strings.Contains(log.String(), "past their TTL") || !strings.Contains(log.String(), "secret test/merchant") {
				t.Errorf("stale serving not logged: %s", log.String())
			}
			// The next reads wait a pause, then the secret is read again, and a
			// good read ends the stale serving.
			if k, _ := c.Keys(context.Background()); k != held || src.reads != 2 {
				t.Errorf("within the pause: reads %d, want no new read", src.reads)
			}
			now = now.Add(staleRetry)
			src.err = nil
			if k, err := c.Keys(context.Background()); err != nil || k == held || src.reads != 3 {
				t.Errorf("after the pause: %v, reads %d; want fresh keys from a third read", err, src.reads)
			}
		})
	}
}

func TestInvalidatedKeysNeverServeStale(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, time.Minute, WithStale(time.Hour))
	held, _ := c.Keys(context.Background())
	c.Invalidate(held)
	src.err = fault.New(fault.Transient, "throttled")
	if k, err := c.Keys(context.Background()); err == nil || k != nil {
		t.Fatalf("after SIGN_ERROR dropped the keys, a throttled read served %v", k != nil)
	}
}

func TestNoStaleWindowByDefault(t *testing.T) {
	src := &memorySource{value: validSecret(t)}
	c := NewCache(src, time.Minute)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	if _, err := c.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.err = fault.New(fault.Transient, "throttled")
	now = now.Add(time.Minute)
	if _, err := c.Keys(context.Background()); err == nil {
		t.Fatal("stale keys served without a stale window")
	}
}
