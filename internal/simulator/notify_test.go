package simulator_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"

	"close-recharge/internal/merchant"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

// received is one notification request as a receiver saw it.
type received struct {
	header  http.Header
	body    []byte
	event   string
	content map[string]any // the decrypted resource
	err     error          // why wechatpay-go refused it
}

// receiver is a platform's notify URL built on wechatpay-go's own
// notification handler: it verifies and decrypts what it is sent, and
// answers the nth request (from 0) with answer(n) when that succeeds, 401
// otherwise.
type receiver struct {
	url    string
	mu     sync.Mutex
	got    []received
	answer func(n int) (int, string)
}

func newReceiver(t *testing.T, apiV3Key string, verifier auth.Verifier, answer func(n int) (int, string)) *receiver {
	t.Helper()
	handler, err := notify.NewRSANotifyHandler(apiV3Key, verifier)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var content map[string]any
		req, err := handler.ParseNotifyRequest(r.Context(), r, &content)
		got := received{header: r.Header.Clone(), body: body, content: content, err: err}
		if req != nil {
			got.event = req.EventType
		}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, got)
		rc.mu.Unlock()
		status, answer := http.StatusUnauthorized, `{"code":"FAIL","message":"verification failed"}`
		if err == nil {
			status, answer = rc.answer(n)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/notify"
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func acknowledge(int) (int, string) { return http.StatusOK, `{"code":"SUCCESS"}` }

func publicKeyVerifier(k *simulator.Keys) auth.Verifier {
	return verifiers.NewSHA256WithRSAPubkeyVerifier(k.PublicKeyID, k.PlatformKey.PublicKey)
}

// waitFor polls until cond holds, or fails the test after a wide margin.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newNotifyingSim(t *testing.T, k *simulator.Keys, opts ...simulator.Option) (*simulator.Server, string) {
	t.Helper()
	sim := simulator.New(k, opts...)
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func TestWechatpayGoAcceptsTheNotifications(t *testing.T) {
	k := testKeys(t)
	certVerifier := verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{k.Certificate}))
	tests := []struct {
		name      string
		mode      simulator.SignMode
		verifier  auth.Verifier
		change    func(t *testing.T, sim *simulator.Server, url string)
		event     string
		state     string
		stateTime string
		serial    string
	}{
		{name: "paid, public key", verifier: publicKeyVerifier(k), event: "RECHARGE.SUCCESS", state: "SUCCESS",
			stateTime: "success_time", serial: k.PublicKeyID,
			change: func(t *testing.T, sim *simulator.Server, _ string) {
				if _, err := sim.Pay(sub, "N1"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "closed by the close API, platform certificate", mode: simulator.SignWithCertificate, verifier: certVerifier,
			event: "RECHARGE.CLOSED", state: "CLOSED", stateTime: "close_time", serial: k.CertificateSerial(),
			change: func(t *testing.T, _ *simulator.Server, url string) {
				resp, body := request{method: "POST", uri: "/v3/platsolution/ecommerce/recharges/out-recharge-no/N1/close?sub_mchid=" + sub,
					body: []byte(`{}`)}.send(t, url, k)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("close: %d %s", resp.StatusCode, body)
				}
			}},
		{name: "expired by WeChat Pay", verifier: publicKeyVerifier(k), event: "RECHARGE.CLOSED", state: "CLOSED",
			stateTime: "close_time", serial: k.PublicKeyID,
			change: func(t *testing.T, sim *simulator.Server, _ string) {
				if _, err := sim.Expire(sub, "N1"); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, k.APIv3Key, tt.verifier, acknowledge)
			sim, url := newNotifyingSim(t, k, simulator.WithSignMode(tt.mode), simulator.WithNotifyTimeScale(time.Millisecond))
			if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "N1", Amount: 4200,
				NotifyURL: rc.url, Remark: "押金"}); err != nil {
				t.Fatal(err)
			}
			tt.change(t, sim, url)
			waitFor(t, "the notification to be acknowledged", func() bool {
				ns := sim.Notifications()
				return len(ns) == 1 && ns[0].Delivered
			})
			got := rc.requests()
			if len(got) != 1 || got[0].err != nil {
				t.Fatalf("receiver got %d requests, the first refused with %v", len(got), got[0].err)
			}
			r := got[0]
			for h, want := range map[string]string{"Wechatpay-Serial": tt.serial,
				"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"} {
				if r.header.Get(h) != want {
					t.Errorf("%s = %q, want %q", h, r.header.Get(h), want)
				}
			}
			if r.header.Get("Request-ID") == "" {
				t.Error("no Request-ID")
			}
			var body struct {
				ID           string            `json:"id"`
				CreateTime   string            `json:"create_time"`
				ResourceType string            `json:"resource_type"`
				EventType    string            `json:"event_type"`
				Summary      string            `json:"summary"`
				Resource     map[string]string `json:"resource"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339, body.CreateTime); err != nil || body.ID == "" || body.Summary == "" ||
				body.ResourceType != "encrypt-resource" || body.EventType != tt.event ||
				body.Resource["original_type"] != "recharge" || body.Resource["algorithm"] != "AEAD_AES_256_GCM" {
				t.Errorf("body %s", r.body)
			}
			c := r.content
			amount, _ := c["recharge_amount"].(map[string]any)
			channel, _ := c["qr_recharge_info"].(map[string]any)
			stored, _ := sim.Recharge(sub, "N1")
			if c["sp_mchid"] != k.MchID || c["sub_mchid"] != sub || c["out_recharge_no"] != "N1" ||
				c["recharge_id"] != stored.RechargeID || c["recharge_state"] != tt.state || c["remark"] != "押金" ||
				c[tt.stateTime] == nil || c["accept_time"] == nil || c["recharge_state_desc"] != stored.RechargeStateDesc ||
				amount["amount"] != 4200.0 || amount["currency"] != "CNY" || channel["openid"] == "" || channel["openid"] == nil {
				t.Errorf("decrypted resource %v", c)
			}
			if stored.RechargeState != tt.state {
				t.Errorf("stored recharge is %s", stored.RechargeState)
			}
		})
	}
}

func TestAcknowledgementEndsRetries(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name    string
		status  int
		answer  string
		retried bool
	}{
		{name: "200 SUCCESS", status: 200, answer: `{"code":"SUCCESS"}`},
		{name: "empty 200", status: 200},
		{name: "empty 204", status: 204},
		{name: "200 FAIL", status: 200, answer: `{"code":"FAIL","message":"busy"}`, retried: true},
		{name: "empty 202", status: 202, retried: true},
		{name: "500 SUCCESS", status: 500, answer: `{"code":"SUCCESS"}`, retried: true},
		{name: "500", status: 500, answer: `{"code":"FAIL","message":"down"}`, retried: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), func(int) (int, string) { return tt.status, tt.answer })
			sim, _ := newNotifyingSim(t, k, simulator.WithNotifyTimeScale(time.Millisecond), simulator.WithNotifyURL(rc.url))
			if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "A1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := sim.Pay(sub, "A1"); err != nil {
				t.Fatal(err)
			}
			if tt.retried {
				waitFor(t, "a retry", func() bool { return len(rc.requests()) >= 2 })
				if sim.Notifications()[0].Delivered {
					t.Error("an unacknowledged notification is marked delivered")
				}
				return
			}
			waitFor(t, "the acknowledgement", func() bool { return len(sim.Notifications()[0].Attempts) == 1 })
			// Ten times the first scaled wait: a retry would have come by now.
			time.Sleep(150 * time.Millisecond)
			if n := len(rc.requests()); n != 1 || !sim.Notifications()[0].Delivered {
				t.Errorf("receiver got %d requests; want 1, acknowledged", n)
			}
		})
	}
}

func TestRetriesFollowTheScaledSchedule(t *testing.T) {
	k := testKeys(t)
	const perSecond = 10 * time.Millisecond
	rc := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), func(n int) (int, string) {
		if n < 2 {
			return http.StatusInternalServerError, `{"code":"FAIL","message":"try later"}`
		}
		return http.StatusOK, `{"code":"SUCCESS"}`
	})
	sim, _ := newNotifyingSim(t, k, simulator.WithNotifyTimeScale(perSecond))
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "S1", NotifyURL: rc.url}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Pay(sub, "S1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third attempt", func() bool { return sim.Notifications()[0].Delivered })
	// The next wait of the schedule is 30 s, 300 ms scaled: twice that and no fourth attempt.
	time.Sleep(600 * time.Millisecond)
	n := sim.Notifications()[0]
	if len(n.Attempts) != 3 || len(rc.requests()) != 3 {
		t.Fatalf("%d attempts, receiver saw %d; want 3", len(n.Attempts), len(rc.requests()))
	}
	for i, want := range []struct {
		wait   time.Duration
		status int
	}{{0, 500}, {15 * time.Second, 500}, {15 * time.Second, 200}} {
		a := n.Attempts[i]
		if a.Wait != want.wait || a.Status != want.status {
			t.Errorf("attempt %d: wait %v, status %d; want %v, %d", i+1, a.Wait, a.Status, want.wait, want.status)
		}
		if i > 0 {
			if gap := a.At.Sub(n.Attempts[i-1].At); gap < 15*perSecond {
				t.Errorf("attempt %d came %v after the one before; the scaled schedule says %v", i+1, gap, 15*perSecond)
			}
		}
	}
	bodies := rc.requests()
	if !bytes.Equal(bodies[0].body, bodies[2].body) || bodies[0].header.Get("Wechatpay-Nonce") == bodies[2].header.Get("Wechatpay-Nonce") {
		t.Error("a retry must repeat the body and be signed afresh")
	}
	if got := sum(simulator.NotifySchedule); got != 24*time.Hour+4*time.Minute {
		t.Errorf("the schedule lasts %v; WeChat Pay's lasts 24h4m", got)
	}
}

func sum(ds []time.Duration) time.Duration {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	return total
}

func TestNotificationsTwiceAndOutOfOrder(t *testing.T) {
	k := testKeys(t)
	rc := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), acknowledge)
	sim, _ := newNotifyingSim(t, k, simulator.WithNotifyTwice(), simulator.WithNotifyURL(rc.url))
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "O1"},
		simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "O2"}); err != nil {
		t.Fatal(err)
	}
	sim.HoldNotifications()
	if _, err := sim.Pay(sub, "O1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Expire(sub, "O2"); err != nil {
		t.Fatal(err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests while held", n)
	}
	sim.ReleaseNotifications()
	waitFor(t, "four deliveries", func() bool { return len(rc.requests()) == 4 })
	got := rc.requests()
	var order []string
	for _, r := range got {
		if r.err != nil {
			t.Fatalf("refused: %v", r.err)
		}
		order = append(order, r.content["out_recharge_no"].(string)+" "+r.event)
	}
	if want := []string{"O2 RECHARGE.CLOSED", "O2 RECHARGE.CLOSED", "O1 RECHARGE.SUCCESS", "O1 RECHARGE.SUCCESS"}; !slices.Equal(order, want) {
		t.Errorf("received %q; want %q", order, want)
	}
	for _, i := range []int{0, 2} {
		a, b := got[i], got[i+1]
		if !bytes.Equal(a.body, b.body) || a.header.Get("Wechatpay-Signature") != b.header.Get("Wechatpay-Signature") ||
			a.header.Get("Wechatpay-Nonce") != b.header.Get("Wechatpay-Nonce") {
			t.Errorf("delivery %d's duplicate is not the same request byte for byte", i+1)
		}
	}
	if ns := sim.Notifications(); len(ns) != 4 || !ns[1].Duplicate || ns[0].Duplicate {
		t.Errorf("notifications %+v", ns)
	}
}

func TestCloseStopsRetries(t *testing.T) {
	k := testKeys(t)
	rc := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), func(int) (int, string) { return 503, "" })
	before := runtime.NumGoroutine()
	// Unscaled: the first retry is 15 s away.
	sim := simulator.New(k, simulator.WithNotifyURL(rc.url))
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "C1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Pay(sub, "C1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool { return len(sim.Notifications()[0].Attempts) == 1 })
	done := make(chan struct{})
	go func() { sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the retry schedule")
	}
	waitFor(t, "the goroutines to end", func() bool {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		return runtime.NumGoroutine() <= before
	})
	if n := len(sim.Notifications()[0].Attempts); n != 1 {
		t.Errorf("%d attempts; the retry must not have run", n)
	}
}

func TestPayAndExpireOnlyMoveRechargingRecharges(t *testing.T) {
	sim := simulator.New(testKeys(t))
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "P1"},
		simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "P2", State: "CLOSED"}); err != nil {
		t.Fatal(err)
	}
	if r, err := sim.Pay(sub, "P1"); err != nil || r.RechargeState != recharge.StateSuccess || r.SuccessTime.IsZero() {
		t.Fatalf("Pay = %+v, %v", r, err)
	}
	for _, tt := range []struct {
		op   func(string, string) (recharge.Recharge, error)
		no   string
		want error
	}{{sim.Pay, "P1", simulator.ErrNotRecharging}, {sim.Expire, "P1", simulator.ErrNotRecharging},
		{sim.Pay, "P2", simulator.ErrNotRecharging}, {sim.Pay, "NONE", simulator.ErrNoRecharge}} {
		if _, err := tt.op(sub, tt.no); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.no, err, tt.want)
		}
	}
	if r, _ := sim.Recharge(sub, "P1"); r.RechargeState != recharge.StateSuccess {
		t.Errorf("P1 is %s after refused operations", r.RechargeState)
	}
	if n := len(sim.Notifications()); n != 0 {
		t.Errorf("%d notifications without a notify URL", n)
	}
}

func TestAdminRoutes(t *testing.T) {
	k := testKeys(t)
	rc := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), acknowledge)
	sim, url := newNotifyingSim(t, k)
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), method, url+path, bytes.NewBufferString(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if status, b := do("POST", "/simulator/recharges", `[{"sub_mchid":"`+sub+`","out_recharge_no":"H1"},{"sub_mchid":"`+sub+`","out_recharge_no":"H2"}]`); status != 200 {
		t.Fatalf("seed: %d %s", status, b)
	}
	if status, b := do("PUT", "/simulator/recharges/H1/notify-url?sub_mchid="+sub, `{"notify_url":"`+rc.url+`"}`); status != 204 {
		t.Fatalf("notify-url: %d %s", status, b)
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/simulator/recharges/H1/pay?sub_mchid=" + sub, 200},
		{"POST", "/simulator/recharges/H1/pay?sub_mchid=" + sub, 409},
		{"POST", "/simulator/recharges/H2/expire?sub_mchid=" + sub, 200},
		{"POST", "/simulator/recharges/H3/pay?sub_mchid=" + sub, 404},
	} {
		if status, b := do(tt.method, tt.path, ""); status != tt.want {
			t.Errorf("%s %s: %d %s; want %d", tt.method, tt.path, status, b, tt.want)
		}
	}
	if r, _ := sim.Recharge(sub, "H2"); r.RechargeState != "CLOSED" {
		t.Errorf("H2 is %s after expire", r.RechargeState)
	}
	waitFor(t, "H1's notification", func() bool { return len(rc.requests()) == 1 })
	status, b := do("GET", "/simulator/notifications", "")
	var ns []simulator.Notification
	if err := json.Unmarshal(b, &ns); status != 200 || err != nil || len(ns) != 1 || ns[0].OutRechargeNo != "H1" ||
		ns[0].EventType != "RECHARGE.SUCCESS" {
		t.Errorf("notifications: %d %s", status, b)
	}
}

func TestStateDirKeepsTheAPIv3Key(t *testing.T) {
	dir := t.TempDir()
	k, err := simulator.LoadOrCreateKeys(dir, "1900000100")
	if err != nil {
		t.Fatal(err)
	}
	var secret struct {
		APIv3Key string `json:"apiv3_key"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "secret.json"))
	if err := json.Unmarshal(b, &secret); err != nil || len(secret.APIv3Key) != 32 || secret.APIv3Key != k.APIv3Key {
		t.Fatalf("secret.json apiv3_key %q; keys have %q", secret.APIv3Key, k.APIv3Key)
	}
	again, err := simulator.LoadOrCreateKeys(dir, "1900000100")
	if err != nil || again.APIv3Key != k.APIv3Key {
		t.Fatalf("reloaded APIv3 key %q, %v", again.APIv3Key, err)
	}

	// A state directory written before notifications gets a key, and keeps its own keys.
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(b, &fields)
	delete(fields, "apiv3_key")
	old, _ := json.Marshal(fields)
	if err := os.WriteFile(filepath.Join(dir, "secret.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	upgraded, err := simulator.LoadOrCreateKeys(dir, "1900000100")
	if err != nil || len(upgraded.APIv3Key) != 32 || upgraded.MerchantSerialNo != k.MerchantSerialNo {
		t.Fatalf("upgraded keys %v: key %q, serial %q", err, upgraded.APIv3Key, upgraded.MerchantSerialNo)
	}
	if reread, _ := simulator.LoadOrCreateKeys(dir, "1900000100"); reread.APIv3Key != upgraded.APIv3Key {
		t.Error("the upgraded key was not kept")
	}
}

// TestNodeSDKAcceptsTheNotifications checks what the simulator posts with the
// Node SDK's own Rsa.verify and Aes.AesGcm, and that the same check refuses
// the notification once a byte of its body is changed.
func TestNodeSDKAcceptsTheNotifications(t *testing.T) {
	dir := nodeSDK(t)
	k := testKeys(t)
	var (
		mu   sync.Mutex
		seen []received
	)
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, received{header: r.Header.Clone(), body: body})
		mu.Unlock()
		_, _ = io.WriteString(w, `{"code":"SUCCESS"}`)
	}))
	defer platform.Close()
	sim, _ := newNotifyingSim(t, k, simulator.WithNotifyURL(platform.URL))
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "NODE2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Pay(sub, "NODE2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 1 })

	secret, _ := json.Marshal(struct {
		merchant.Secret
		APIv3Key string `json:"apiv3_key"`
	}{k.Secret(false), k.APIv3Key})
	secretPath := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	genuine := string(seen[0].body)
	for _, tt := range []struct {
		name, body string
		verified   bool
	}{
		{name: "as sent", body: genuine, verified: true},
		{name: "body changed", body: strings.Replace(genuine, "充值成功", "充值失败", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{}
			for name := range seen[0].header {
				headers[name] = seen[0].header.Get(name)
			}
			b, _ := json.Marshal(map[string]any{"headers": headers, "body": tt.body})
			path := filepath.Join(t.TempDir(), "notification.json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("node", filepath.Join(dir, "notify.js"), path, secretPath).Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var res struct {
				Verified  bool
				Error     string
				Plaintext map[string]any
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("node printed %q", out)
			}
			if res.Verified != tt.verified {
				t.Fatalf("node: %s", out)
			}
			if tt.verified && (res.Error != "" || res.Plaintext["out_recharge_no"] != "NODE2" || res.Plaintext["recharge_state"] != "SUCCESS") {
				t.Fatalf("node: %s", out)
			}
		})
	}
}

// A recharge applied with a notify_url is notified there, not at the default
// URL, with the remark it was applied with.
func TestAppliedNotifyURLAndRemarkAreUsed(t *testing.T) {
	k := testKeys(t)
	own := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), acknowledge)
	fallback := newReceiver(t, k.APIv3Key, publicKeyVerifier(k), acknowledge)
	sim, url := newNotifyingSim(t, k, simulator.WithNotifyURL(fallback.url))
	body := `{"sub_mchid":"` + sub + `","out_recharge_no":"AP1","recharge_scene":"ECOMMERCE_DEPOSIT","account_type":"DEPOSIT",` +
		`"recharge_amount":{"amount":100,"currency":"CNY"},"notify_url":"` + own.url + `","remark":"季度保证金"}`
	resp, out := request{method: "POST", uri: "/v3/platsolution/ecommerce/recharges/apply", body: []byte(body)}.send(t, url, k)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply: %d %s", resp.StatusCode, out)
	}
	if _, err := sim.Pay(sub, "AP1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool { return len(own.requests()) == 1 })
	if got := own.requests()[0]; got.err != nil || got.content["remark"] != "季度保证金" {
		t.Errorf("notification %v, refused with %v", got.content, got.err)
	}
	if n := len(fallback.requests()); n != 0 {
		t.Errorf("the default notify URL got %d requests", n)
	}
}
