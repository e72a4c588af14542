package wechatpay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

const sub = "1900000109"

func testKeys(*testing.T) *simulator.Keys { return simulator.SharedKeys() }

// fastRetry keeps the real policy's shape with delays short enough for tests.
var fastRetry = wechatpay.RetryPolicy{
	MaxAttempts:    4,
	BaseDelay:      10 * time.Millisecond,
	MaxDelay:       40 * time.Millisecond,
	RateLimitDelay: 80 * time.Millisecond,
	AttemptTimeout: 2 * time.Second,
	Reserve:        300 * time.Millisecond,
	MinAttempt:     100 * time.Millisecond,
}

type env struct {
	sim    *simulator.Server
	client *wechatpay.Client
	url    string
}

func newEnv(t *testing.T, secret merchant.Secret, simOpts ...simulator.Option) *env {
	t.Helper()
	sim := simulator.New(testKeys(t), simOpts...)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	k, err := secret.Keys()
	if err != nil {
		t.Fatalf("secret: %v", err)
	}
	c, err := wechatpay.New(k, wechatpay.WithBaseURL(srv.URL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()),
		wechatpay.WithRetryPolicy(fastRetry))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{sim: sim, client: c, url: srv.URL}
}

func publicKeyEnv(t *testing.T) *env { return newEnv(t, testKeys(t).Secret(false)) }

func (e *env) seed(t *testing.T, no, state string) {
	t.Helper()
	if err := e.sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: no, Amount: 5000, State: state}); err != nil {
		t.Fatal(err)
	}
}

func closeTraced(ctx context.Context, c *wechatpay.Client, no string) (*recharge.Recharge, *recharge.Exchange, error) {
	var tr recharge.Exchange
	r, err := c.Close(wechatpay.WithExchange(ctx, &tr), sub, no)
	return r, &tr, err
}

func TestCloseOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		state        string // seeded; "" = no recharge
		wantState    string
		wantCode     string
		wantKind     fault.Kind
		wantAttempts int
	}{
		{"recharging is closed", recharge.StateRecharging, recharge.StateClosed, "", "", 1},
		{"already closed is settled by query", recharge.StateClosed, recharge.StateClosed, "", "", 2},
		{"paid recharge is returned as SUCCESS", recharge.StateSuccess, recharge.StateSuccess, "", "", 2},
		{"unknown recharge is refused", "", "", "ORDER_NOT_EXIST", fault.Refused, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			if tt.state != "" {
				e.seed(t, "R1", tt.state)
			}
			r, tr, err := closeTraced(context.Background(), e.client, "R1")
			if tr.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", tr.Attempts, tt.wantAttempts)
			}
			if tt.wantKind != "" {
				assertFault(t, err, tt.wantKind, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r.RechargeState != tt.wantState || r.OutRechargeNo != "R1" || r.SubMchid != sub {
				t.Errorf("recharge = %+v, want state %s", r, tt.wantState)
			}
			if tr.RequestID == "" {
				t.Error("trace has no Request-ID")
			}
		})
	}
}

func TestCloseSetsCloseTimeAndKeepsUnknownFields(t *testing.T) {
	e := publicKeyEnv(t)
	e.seed(t, "R1", recharge.StateRecharging)
	r, err := e.client.Close(context.Background(), sub, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if r.CloseTime.IsZero() || r.RechargeAmount == nil || r.RechargeAmount.Amount != 5000 {
		t.Errorf("recharge = %+v", r)
	}
	out, _ := json.Marshal(r)
	if !strings.Contains(string(out), `"bank_account_name":"深圳市某某有限公司"`) {
		t.Errorf("newer field dropped: %s", out)
	}
	if !strings.Contains(string(out), `"close_time":"`) || !strings.Contains(string(out), "+08:00") {
		t.Errorf("close_time not in WeChat Pay's form: %s", out)
	}
}

func TestCloseRefusedWhileRecharging(t *testing.T) {
	e := publicKeyEnv(t)
	e.seed(t, "R1", recharge.StateRecharging)
	e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 403, Code: "RULE_LIMIT"})
	_, tr, err := closeTraced(context.Background(), e.client, "R1")
	assertFault(t, err, fault.Refused, "RULE_LIMIT")
	if tr.Attempts != 2 || e.sim.Calls("query") != 1 {
		t.Errorf("exchange = %+v, %d queries; want a close and a query", tr, e.sim.Calls("query"))
	}
}

func TestCloseFinalErrorsAreNotRetried(t *testing.T) {
	tests := []struct {
		status   int
		code     string
		wantKind fault.Kind
	}{
		{403, "NO_AUTH", fault.Refused},
		{404, "ORDER_NOT_EXIST", fault.Refused},
		{400, "PARAM_ERROR", fault.InvalidInput},
		{401, "SIGN_ERROR", fault.Configuration},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: tt.status, Code: tt.code})
			_, tr, err := closeTraced(context.Background(), e.client, "R1")
			assertFault(t, err, tt.wantKind, tt.code)
			if tr.Attempts != 1 {
				t.Errorf("attempts = %d, want 1", tr.Attempts)
			}
			if got, _ := e.sim.Recharge(sub, "R1"); got.RechargeState != recharge.StateRecharging {
				t.Errorf("recharge state = %s, want untouched", got.RechargeState)
			}
		})
	}
}

func TestCloseFaults(t *testing.T) {
	tests := []struct {
		name         string
		faults       []simulator.Fault
		wantAttempts int
		wantCloses   int
		wantKind     fault.Kind // "" = closed
		wantCode     string
		wantErr      error
	}{
		{name: "500 twice then success", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR", Times: 2}},
			wantAttempts: 3, wantCloses: 3},
		{name: "429 then success", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 429, Code: "RATELIMIT_EXCEEDED"}},
			wantAttempts: 2, wantCloses: 2},
		{name: "503 throughout", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 10}},
			wantAttempts: 4, wantCloses: 4, wantKind: fault.Transient, wantCode: "SERVICE_UNAVAILABLE"},
		{name: "connection reset before the close is applied", faults: []simulator.Fault{{Kind: simulator.FaultResetBefore, Op: "close"}},
			wantAttempts: 2, wantCloses: 2},
		{name: "connection reset after the close is applied", faults: []simulator.Fault{{Kind: simulator.FaultResetAfter, Op: "close"}},
			wantAttempts: 3, wantCloses: 2},
		{name: "garbled JSON then success", faults: []simulator.Fault{{Kind: simulator.FaultGarbled, Op: "close"}},
			wantAttempts: 3, wantCloses: 2},
		{name: "answer for another recharge", faults: []simulator.Fault{{Kind: simulator.FaultOtherRecharge, Op: "close"}},
			wantAttempts: 3, wantCloses: 2},
		{name: "answer signed by another key", faults: []simulator.Fault{{Kind: simulator.FaultBadSignature, Op: "close"}},
			wantAttempts: 1, wantCloses: 1, wantKind: fault.Transient, wantCode: fault.CodeUnverified, wantErr: wechatpay.ErrUnverified},
		{name: "answer without signature headers", faults: []simulator.Fault{{Kind: simulator.FaultNoSignature, Op: "close"}},
			wantAttempts: 1, wantCloses: 1, wantKind: fault.Transient, wantCode: fault.CodeUnverified, wantErr: wechatpay.ErrUnverified},
		{name: "answer with a stale timestamp", faults: []simulator.Fault{{Kind: simulator.FaultStaleTimestamp, Op: "close"}},
			wantAttempts: 1, wantCloses: 1, wantKind: fault.Transient, wantCode: fault.CodeUnverified, wantErr: wechatpay.ErrUnverified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			e.sim.Inject(tt.faults...)
			r, tr, err := closeTraced(context.Background(), e.client, "R1")
			if tr.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", tr.Attempts, tt.wantAttempts)
			}
			if got := e.sim.Calls("close"); got != tt.wantCloses {
				t.Errorf("closes seen by WeChat Pay = %d, want %d", got, tt.wantCloses)
			}
			if tt.wantKind != "" {
				assertFault(t, err, tt.wantKind, tt.wantCode)
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r.RechargeState != recharge.StateClosed {
				t.Errorf("state = %s, want CLOSED", r.RechargeState)
			}
		})
	}
}

func TestRateLimitBacksOffLonger(t *testing.T) {
	elapsed := func(code string, status int) time.Duration {
		e := publicKeyEnv(t)
		e.seed(t, "R1", recharge.StateRecharging)
		e.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: status, Code: code})
		start := time.Now()
		if _, err := e.client.Close(context.Background(), sub, "R1"); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// Equal jitter keeps at least half the base: 40 ms after a 429, at most 10 ms after a 500.
	if d := elapsed("RATELIMIT_EXCEEDED", 429); d < fastRetry.RateLimitDelay/2 {
		t.Errorf("retry after 429 came %v later, want at least %v", d, fastRetry.RateLimitDelay/2)
	}
}

// deadlineRecorder notes the deadline every attempt's request carries.
type deadlineRecorder struct {
	next      http.RoundTripper
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
	return d.next.RoundTrip(r)
}

// No attempt may run into the reserve kept before the caller's deadline, and
// retries stop for the deadline, not for a count: the policy here allows a
// thousand attempts. What is checked is each attempt's own deadline, not how
// long anything took.
func TestDeadlineIsHonoured(t *testing.T) {
	tests := []struct {
		name         string
		fault        simulator.Fault
		moreAttempts bool // the deadline, not the first attempt, must end it
	}{
		{"WeChat Pay slower than the deadline", simulator.Fault{Kind: simulator.FaultLatency, Op: "close", Delay: 3 * time.Second, Times: 10}, false},
		{"5xx until the deadline", simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 500, Times: 1000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			e.sim.Inject(tt.fault)
			policy := fastRetry
			policy.MaxAttempts = 1000
			rec := &deadlineRecorder{next: wechatpay.NewHTTPClient().Transport}
			secret := testKeys(t).Secret(false)
			k, _ := secret.Keys()
			c, err := wechatpay.New(k, wechatpay.WithBaseURL(e.url), wechatpay.WithRetryPolicy(policy),
				wechatpay.WithHTTPClient(&http.Client{Transport: rec}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
			defer cancel()
			dl, _ := ctx.Deadline()
			_, tr, err := closeTraced(ctx, c, "R1")
			if fault.KindOf(err) != fault.Transient {
				t.Fatalf("err = %v, want transient", err)
			}
			if len(rec.deadlines) != tr.Attempts || tr.Attempts == 0 {
				t.Fatalf("%d requests recorded for %d attempts", len(rec.deadlines), tr.Attempts)
			}
			for i, adl := range rec.deadlines {
				if adl.IsZero() || adl.After(dl.Add(-policy.Reserve)) {
					t.Errorf("attempt %d ran until %v, into the %v reserve before the deadline", i+1, dl.Sub(adl), policy.Reserve)
				}
			}
			if tt.moreAttempts && tr.Attempts <= fastRetry.MaxAttempts {
				t.Errorf("%d attempts: the count, not the deadline, ended the retries", tr.Attempts)
			}
		})
	}
	t.Run("latency ends as a timeout", func(t *testing.T) {
		e := publicKeyEnv(t)
		e.seed(t, "R1", recharge.StateRecharging)
		e.sim.Inject(simulator.Fault{Kind: simulator.FaultLatency, Op: "close", Delay: 3 * time.Second, Times: 10})
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		defer cancel()
		_, tr, err := closeTraced(ctx, e.client, "R1")
		assertFault(t, err, fault.Transient, fault.CodeTimeout)
		if tr.Attempts != 1 {
			t.Errorf("attempts = %d, want 1 (no room for a second)", tr.Attempts)
		}
	})
}

func TestVerificationModes(t *testing.T) {
	k := func(t *testing.T) *simulator.Keys { return testKeys(t) }
	certOnly := func(t *testing.T) merchant.Secret {
		s := k(t).Secret(true)
		s.WechatPayPublicKeyID, s.WechatPayPublicKey = "", ""
		return s
	}
	tests := []struct {
		name       string
		secret     func(*testing.T) merchant.Secret
		mode       simulator.SignMode
		verifiable bool
	}{
		{"public key, answers signed with it", func(t *testing.T) merchant.Secret { return k(t).Secret(false) }, simulator.SignWithPublicKey, true},
		{"public key only, answers signed with a certificate", func(t *testing.T) merchant.Secret { return k(t).Secret(false) }, simulator.SignWithCertificate, false},
		{"certificate, answers signed with it", certOnly, simulator.SignWithCertificate, true},
		{"certificate only, answers signed with the public key", certOnly, simulator.SignWithPublicKey, false},
		{"both, answers signed with the public key", func(t *testing.T) merchant.Secret { return k(t).Secret(true) }, simulator.SignWithPublicKey, true},
		{"both, answers signed with a certificate", func(t *testing.T) merchant.Secret { return k(t).Secret(true) }, simulator.SignWithCertificate, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.secret(t), simulator.WithSignMode(tt.mode))
			e.seed(t, "R1", recharge.StateRecharging)
			_, err := e.client.Query(context.Background(), sub, "R1")
			if tt.verifiable && err != nil {
				t.Fatalf("Query: %v", err)
			}
			if !tt.verifiable && !errors.Is(err, wechatpay.ErrUnverified) {
				t.Fatalf("Query err = %v, want ErrUnverified", err)
			}
		})
	}
}

func TestPKCS1MerchantKey(t *testing.T) {
	s := testKeys(t).Secret(false)
	s.MerchantPrivateKey = pkcs1PEM(testKeys(t).MerchantKey)
	e := newEnv(t, s)
	e.seed(t, "R1", recharge.StateRecharging)
	if _, err := e.client.Close(context.Background(), sub, "R1"); err != nil {
		t.Fatalf("Close with a PKCS#1 key: %v", err)
	}
}

func TestSignatureRejectedByWeChatPay(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := testKeys(t).Secret(false)
	s.MerchantPrivateKey = simulator.PrivateKeyPEM(other)
	e := newEnv(t, s)
	e.seed(t, "R1", recharge.StateRecharging)
	_, tr, err := closeTraced(context.Background(), e.client, "R1")
	assertFault(t, err, fault.Configuration, "SIGN_ERROR")
	if !errors.Is(err, wechatpay.ErrSignRejected) || tr.Attempts != 1 {
		t.Errorf("err = %v after %d attempts, want ErrSignRejected after 1", err, tr.Attempts)
	}
}

func TestApplyThenClose(t *testing.T) {
	e := publicKeyEnv(t)
	req := wechatpay.ApplyRequest{SubMchid: sub, OutRechargeNo: "A1", RechargeScene: "ECOMMERCE_DEPOSIT",
		AccountType: "DEPOSIT", RechargeAmount: recharge.Amount{Amount: 100, Currency: "CNY"}}
	res, err := e.client.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.RechargeID == "" || res.RechargeURL == "" || res.OutRechargeNo != "A1" {
		t.Errorf("apply = %+v", res)
	}
	r, err := e.client.Close(context.Background(), sub, "A1")
	if err != nil || r.RechargeID != res.RechargeID || r.RechargeState != recharge.StateClosed {
		t.Fatalf("close = %+v, %v", r, err)
	}
}

func TestInvalidIdentifiersNeverReachWeChatPay(t *testing.T) {
	e := publicKeyEnv(t)
	for _, no := range []string{"", "../R1", "R1/close", "R1?x=1", "R%2F1", "R 1"} {
		if _, err := e.client.Close(context.Background(), sub, no); fault.KindOf(err) != fault.InvalidInput {
			t.Errorf("Close(%q) err = %v, want invalid input", no, err)
		}
	}
	if _, err := e.client.Close(context.Background(), "12a", "R1"); fault.KindOf(err) != fault.InvalidInput {
		t.Errorf("bad sub_mchid: err = %v", err)
	}
	if n := e.sim.Calls("close") + e.sim.Calls("query"); n != 0 {
		t.Errorf("WeChat Pay saw %d requests", n)
	}
}

func TestNewRefusesPlainHTTPToRemoteHosts(t *testing.T) {
	s := testKeys(t).Secret(false)
	k, _ := s.Keys()
	_, err := wechatpay.New(k, wechatpay.WithBaseURL("http://api.mch.weixin.qq.com"))
	assertFault(t, err, fault.Configuration, fault.CodeConfiguration)
}

func assertFault(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *fault.Error", err)
	}
	if fe.Kind != kind || fe.Code != code {
		t.Fatalf("err = %v (kind %s, code %s), want kind %s code %s", err, fe.Kind, fe.Code, kind, code)
	}
}

// A signed request reaches WeChat Pay at most once. When a kept-alive
// connection breaks after WeChat Pay has read a query, Go's transport would
// resend the GET as it was — same nonce, same signature — and WeChat Pay
// refuses a nonce it has seen (401 SIGN_ERROR): a network fault would end as a
// configuration error. The client's own retry signs anew instead.
func TestSignedRequestsGoOutOnce(t *testing.T) {
	for _, op := range []string{"query", "close"} {
		t.Run(op, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "ONCE1", recharge.StateRecharging)
			ctx := context.Background()
			if _, err := e.client.Query(ctx, sub, "ONCE1"); err != nil { // a connection to reuse
				t.Fatal(err)
			}
			e.sim.Inject(simulator.Fault{Kind: simulator.FaultResetBefore, Op: op, Times: 1})
			var tr recharge.Exchange
			var err error
			if op == "query" {
				_, err = e.client.Query(wechatpay.WithExchange(ctx, &tr), sub, "ONCE1")
			} else {
				_, err = e.client.Close(wechatpay.WithExchange(ctx, &tr), sub, "ONCE1")
			}
			if err != nil {
				t.Fatalf("%s after a broken connection: %v (attempts %d)", op, err, tr.Attempts)
			}
			if tr.Attempts != 2 {
				t.Fatalf("attempts %d, want 2: the broken one and a freshly signed one", tr.Attempts)
			}
		})
	}
}
