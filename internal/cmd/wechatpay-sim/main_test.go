package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/merchant"
	"close-recharge/internal/wechatpay"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var urlPattern = regexp.MustCompile(`url=(http://\S+)`)

// serve runs the command until the returned stop is called, and returns its URL.
func serve(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlPattern.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("no URL printed:\n%s", out.String())
	return "", nil
}

func TestServesClosesWithTheKeysItWrote(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`[{"sub_mchid":"1900000109","out_recharge_no":"SEED1","amount":100,"state":"RECHARGING"},`+
		`{"sub_mchid":"1900000109","out_recharge_no":"PAID1","amount":100,"state":"SUCCESS"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	url, stop := serve(t, "-state-dir", dir, "-seed", seed)
	secret, err := os.ReadFile(filepath.Join(dir, "secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := merchant.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Certificates) != 1 || keys.PublicKey == nil {
		t.Fatalf("secret.json lacks the public key or the certificate")
	}
	c, err := wechatpay.New(keys, wechatpay.WithBaseURL(url))
	if err != nil {
		t.Fatal(err)
	}
	for no, want := range map[string]string{"SEED1": "CLOSED", "PAID1": "SUCCESS"} {
		r, err := c.Close(context.Background(), "1900000109", no)
		if err != nil || r.RechargeState != want {
			t.Fatalf("Close(%s) = %+v, %v; want %s", no, r, err, want)
		}
	}
	stop()

	// Rate-limited to 1 a second: of two queries at once, the second is answered 429.
	url, stop = serve(t, "-state-dir", dir, "-seed", seed, "-rate", "1", "-latency", "5ms")
	c, err = wechatpay.New(keys, wechatpay.WithBaseURL(url), wechatpay.WithRetryPolicy(wechatpay.RetryPolicy{MaxAttempts: 1,
		AttemptTimeout: 5 * time.Second, MinAttempt: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	_, first := c.Query(context.Background(), "1900000109", "PAID1")
	_, second := c.Query(context.Background(), "1900000109", "PAID1")
	if first != nil || second == nil || !strings.Contains(second.Error(), "RATELIMIT_EXCEEDED") {
		t.Errorf("queries under -rate 1: %v, %v; want the second answered RATELIMIT_EXCEEDED", first, second)
	}
	stop()
	again, _ := os.ReadFile(filepath.Join(dir, "secret.json"))
	if !bytes.Equal(secret, again) {
		t.Error("a second start replaced the keys in -state-dir")
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-state-dir", t.TempDir(), "-sign-with", "hmac"},
		{"-state-dir", t.TempDir(), "-seed", "/nonexistent/seed.json"},
		{"-state-dir", t.TempDir(), "-rate", "-1"},
		{"-state-dir", t.TempDir(), "-latency", "-1s"},
	} {
		if err := run(context.Background(), args, &syncBuffer{}); err == nil {
			t.Errorf("run(%q) accepted bad flags", args)
		}
	}
}
