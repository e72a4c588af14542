package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"

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
		{"-state-dir", t.TempDir(), "-notify-time-scale", "0s"},
		{"-state-dir", t.TempDir(), "-notify-url", "ftp://example.com/notify"},
	} {
		if err := run(context.Background(), args, &syncBuffer{}); err == nil {
			t.Errorf("run(%q) accepted bad flags", args)
		}
	}
}

func TestPayRouteNotifiesTheNotifyURL(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`[{"sub_mchid":"1900000109","out_recharge_no":"LIFE1","amount":100}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	type heard struct {
		event string
		state any
		err   error
	}
	got := make(chan heard, 10)
	var handler atomic.Pointer[notify.Handler]
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var content map[string]any
		req, err := handler.Load().ParseNotifyRequest(r.Context(), r, &content)
		h := heard{state: content["recharge_state"], err: err}
		if req != nil {
			h.event = req.EventType
		}
		got <- h
		_, _ = io.WriteString(w, `{"code":"SUCCESS"}`)
	}))
	defer platform.Close()

	base, stop := serve(t, "-state-dir", dir, "-seed", seed, "-notify-url", platform.URL, "-notify-time-scale", "1ms")
	defer stop()
	secretJSON, err := os.ReadFile(filepath.Join(dir, "secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := merchant.Parse(secretJSON)
	if err != nil {
		t.Fatal(err)
	}
	var secret struct {
		APIv3Key string `json:"apiv3_key"`
	}
	if err := json.Unmarshal(secretJSON, &secret); err != nil || len(secret.APIv3Key) != 32 {
		t.Fatalf("secret.json has no 32-byte apiv3_key: %v", err)
	}
	h, err := notify.NewRSANotifyHandler(secret.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(keys.PublicKeyID, *keys.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(h)

	for _, want := range []int{http.StatusOK, http.StatusConflict} {
		resp, err := http.Post(base+"/simulator/recharges/LIFE1/pay?sub_mchid=1900000109", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("pay: %d, want %d", resp.StatusCode, want)
		}
	}
	select {
	case h := <-got:
		if h.err != nil || h.event != "RECHARGE.SUCCESS" || h.state != "SUCCESS" {
			t.Fatalf("the platform heard %+v", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
}
