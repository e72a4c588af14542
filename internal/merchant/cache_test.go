package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/fault"
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
	// The simulator, which makes full key sets, imports this package.
	b, err := json.Marshal(testSecret(t))
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
