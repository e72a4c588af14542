package notify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/expiry"

	"close-recharge/internal/closer"
	"close-recharge/internal/merchant"
	"close-recharge/internal/notify"
	"close-recharge/internal/outcome"
	"close-recharge/internal/simulator"
)

const apiv3Key = "0123456789abcdefghijklmnopqrstuv"

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// wechatPay builds notifications as WeChat Pay does: the resource encrypted
// with the merchant's APIv3 key, the body signed with WeChat Pay's key.
type wechatPay struct {
	keys     *simulator.Keys
	apiv3Key string
	signKey  *rsa.PrivateKey
	serial   string
}

func newWeChatPay(t *testing.T) wechatPay {
	t.Helper()
	k := simulator.SharedKeys()
	return wechatPay{keys: k, apiv3Key: apiv3Key, signKey: k.PlatformKey, serial: k.PublicKeyID}
}

// withCertificate signs as in platform-certificate mode.
func (w wechatPay) withCertificate() wechatPay {
	w.signKey, w.serial = w.keys.CertificateKey, w.keys.CertificateSerial()
	return w
}

func plaintext(subMchid, outRechargeNo, state string) map[string]any {
	p := map[string]any{
		"sp_mchid": "1900000100", "sub_mchid": subMchid, "out_recharge_no": outRechargeNo,
		"recharge_id": "RID" + outRechargeNo, "recharge_scene": "ECOMMERCE_DEPOSIT", "account_type": "BASIC",
		"recharge_channel": "QR_RECHARGE", "recharge_amount": map[string]any{"amount": 100, "currency": "CNY"},
		"recharge_state": state, "recharge_state_desc": "", "accept_time": "2026-12-01T17:50:00+08:00",
		"qr_recharge_info":    map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"a_field_added_later": []int{1, 2},
	}
	if state == "SUCCESS" {
		p["success_time"] = "2026-12-01T17:55:00+08:00"
	} else {
		p["close_time"] = "2026-12-01T17:55:00+08:00"
	}
	return p
}

// body encrypts the plaintext under associatedData and wraps it in a notification.
func (w wechatPay) body(t *testing.T, id, eventType string, plain any, associatedData string) []byte {
	t.Helper()
	raw, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher([]byte(w.apiv3Key))
	gcm, _ := cipher.NewGCM(block)
	nonce := "fdasflkja484"
	ct := gcm.Seal(nil, []byte(nonce), raw, []byte(associatedData))
	b, _ := json.Marshal(map[string]any{
		"id": id, "create_time": "2026-12-01T17:55:01+08:00", "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "充值成功",
		"resource": map[string]any{"original_type": "recharge", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "nonce": nonce, "associated_data": associatedData},
	})
	return b
}

// sign makes the request WeChat Pay would post at time at.
func (w wechatPay) sign(t *testing.T, body []byte, at time.Time) notify.Request {
	t.Helper()
	ts, nonce := strconv.FormatInt(at.Unix(), 10), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, w.signKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	h.Set("Wechatpay-Serial", w.serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	h.Set("Request-ID", "08F78BB5AF0610D302")
	return notify.Request{Header: h, Body: body}
}

func (w wechatPay) notification(t *testing.T, id, eventType, subMchid, outRechargeNo, state string) notify.Request {
	return w.sign(t, w.body(t, id, eventType, plaintext(subMchid, outRechargeNo, state), "recharge"), now)
}

// Fakes of the ports, recording what they were asked.

type staticKeys struct{ keys *merchant.Keys }

func (k *staticKeys) Keys(context.Context) (*merchant.Keys, error) { return k.keys, nil }

type bus struct {
	mu     sync.Mutex
	events []closer.Event
	err    error
}

func (b *bus) Publish(_ context.Context, events []closer.Event) []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs := make([]error, len(events))
	for i, e := range events {
		if b.err != nil {
			errs[i] = b.err
			continue
		}
		b.events = append(b.events, e)
	}
	return errs
}

type schedules struct {
	mu      sync.Mutex
	pending map[string]bool
	deletes []string
	err     error
}

func (s *schedules) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.deletes = append(s.deletes, name)
	delete(s.pending, name)
	return nil
}

type marks struct {
	mu  sync.Mutex
	ids map[string]bool
	err error
}

func (m *marks) Seen(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids[id], nil
}

func (m *marks) Record(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.ids[id] = true
	return nil
}

type fixture struct {
	svc       *notify.Service
	keys      *staticKeys
	bus       *bus
	schedules *schedules
	marks     *marks
	log       *bytes.Buffer
	clock     *time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	secret := simulator.SharedKeys().Secret(true)
	secret.APIv3Key = apiv3Key
	raw, _ := json.Marshal(secret)
	keys, err := merchant.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	f := &fixture{
		keys: &staticKeys{keys}, bus: &bus{}, marks: &marks{ids: map[string]bool{}}, log: &bytes.Buffer{}, clock: &clock,
		schedules: &schedules{pending: map[string]bool{
			expiry.ScheduleName("1900000109", "RC001"): true, expiry.ScheduleName("1900000109", "RC002"): true,
		}},
	}
	f.svc = notify.New(f.keys, f.bus, f.schedules, f.marks,
		notify.WithClock(func() time.Time { return *f.clock }), notify.WithLogger(slog.New(slog.NewJSONHandler(f.log, nil))))
	return f
}

func (f *fixture) handle(t *testing.T, req notify.Request) notify.Response {
	t.Helper()
	res := f.svc.Handle(context.Background(), req)
	if strings.Contains(f.log.String(), "oUpF8uMuAJO") || strings.Contains(f.log.String(), req.Header.Get("Wechatpay-Signature")) {
		t.Fatalf("the log carries the plaintext's openid or the signature:\n%s", f.log)
	}
	return res
}

func wantAnswer(t *testing.T, res notify.Response, status int, code string) {
	t.Helper()
	var body struct{ Code, Message string }
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatalf("answer %q is not JSON: %v", res.Body, err)
	}
	if res.Status != status || body.Code != code {
		t.Fatalf("answer = %d %s, want %d %s", res.Status, res.Body, status, code)
	}
	if code == "FAIL" && body.Message == "" {
		t.Fatalf("a FAIL answer without a message: %s", res.Body)
	}
}

func (f *fixture) wantNothingDone(t *testing.T) {
	t.Helper()
	if len(f.bus.events) != 0 || len(f.schedules.deletes) != 0 || len(f.marks.ids) != 0 {
		t.Fatalf("a refused notification changed something: events %v, deletes %v, marks %v", f.bus.events, f.schedules.deletes, f.marks.ids)
	}
}

func TestGenuineNotificationIsPublishedAndItsScheduleDeleted(t *testing.T) {
	for _, tc := range []struct {
		name, eventType, state, detailType string
		wechatPay                          func(wechatPay) wechatPay
	}{
		{"success, public key", notify.EventSuccess, "SUCCESS", outcome.Succeeded, func(w wechatPay) wechatPay { return w }},
		{"closed, public key", notify.EventClosed, "CLOSED", outcome.Closed, func(w wechatPay) wechatPay { return w }},
		{"success, platform certificate", notify.EventSuccess, "SUCCESS", outcome.Succeeded, wechatPay.withCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := tc.wechatPay(newWeChatPay(t))
			res := f.handle(t, w.notification(t, "EV-1", tc.eventType, "1900000109", "RC001", tc.state))
			wantAnswer(t, res, http.StatusOK, "SUCCESS")

			if len(f.bus.events) != 1 || f.bus.events[0].DetailType != tc.detailType {
				t.Fatalf("published %+v, want one %s", f.bus.events, tc.detailType)
			}
			if !outcome.IsOwn(tc.detailType) {
				t.Errorf("%s is not counted as the stack's own event: the close function would take it as a request", tc.detailType)
			}
			raw, _ := json.Marshal(f.bus.events[0].Detail)
			var detail map[string]any
			_ = json.Unmarshal(raw, &detail)
			want := plaintext("1900000109", "RC001", tc.state)
			for k := range want {
				if _, ok := detail[k]; !ok {
					t.Errorf("detail lost the plaintext's field %s: %s", k, raw)
				}
			}
			if detail["notification_id"] != "EV-1" || detail["out_recharge_no"] != "RC001" || detail["recharge_state"] != tc.state {
				t.Errorf("detail = %s", raw)
			}
			if f.schedules.pending[expiry.ScheduleName("1900000109", "RC001")] || !f.schedules.pending[expiry.ScheduleName("1900000109", "RC002")] {
				t.Errorf("schedules left %v: want RC001's deleted and only it", f.schedules.pending)
			}
			if !f.marks.ids["EV-1"] {
				t.Error("the handled notification's id was not recorded")
			}
		})
	}
}

func TestHostileNotificationsAreRefusedAndChangeNothing(t *testing.T) {
	w := newWeChatPay(t)
	genuine := func(t *testing.T) notify.Request {
		return w.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name    string
		request func(t *testing.T) notify.Request
		status  int
		reason  string // the answer's message says why
	}{
		{"forged signature", func(t *testing.T) notify.Request {
			forger := w
			forger.signKey = otherKey
			return forger.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
		}, http.StatusUnauthorized, "signature verification failed"},
		{"unknown serial", func(t *testing.T) notify.Request {
			r := genuine(t)
			r.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_0119999999999999999999999999999999")
			return r
		}, http.StatusUnauthorized, "signature verification failed"},
		{"certificate's signature under the public key's id", func(t *testing.T) notify.Request {
			c := w.withCertificate()
			c.serial = w.serial
			return c.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
		}, http.StatusUnauthorized, "signature verification failed"},
		{"stale timestamp (301 s)", func(t *testing.T) notify.Request {
			return w.sign(t, w.body(t, "EV-1", notify.EventSuccess, plaintext("1900000109", "RC001", "SUCCESS"), "recharge"), now.Add(-301*time.Second))
		}, http.StatusUnauthorized, "signature verification failed"},
		{"future timestamp (301 s)", func(t *testing.T) notify.Request {
			return w.sign(t, w.body(t, "EV-1", notify.EventSuccess, plaintext("1900000109", "RC001", "SUCCESS"), "recharge"), now.Add(301*time.Second))
		}, http.StatusUnauthorized, "signature verification failed"},
		{"no timestamp", func(t *testing.T) notify.Request {
			r := genuine(t)
			r.Header.Del("Wechatpay-Timestamp")
			return r
		}, http.StatusUnauthorized, "signature verification failed"},
		{"tampered body", func(t *testing.T) notify.Request {
			r := genuine(t)
			r.Body = bytes.Replace(r.Body, []byte(`"RECHARGE.SUCCESS"`), []byte(`"RECHARGE.CLOSED"`), 1)
			return r
		}, http.StatusUnauthorized, "signature verification failed"},
		{"tampered ciphertext", func(t *testing.T) notify.Request {
			r := genuine(t)
			var env map[string]any
			_ = json.Unmarshal(r.Body, &env)
			res := env["resource"].(map[string]any)
			ct := []byte(res["ciphertext"].(string))
			ct[5] ^= 'A' ^ 'B'
			res["ciphertext"] = string(ct)
			r.Body, _ = json.Marshal(env)
			return r
		}, http.StatusUnauthorized, "signature verification failed"},
		{"signed, but under other associated data", func(t *testing.T) notify.Request {
			body := w.body(t, "EV-1", notify.EventSuccess, plaintext("1900000109", "RC001", "SUCCESS"), "recharge")
			body = bytes.Replace(body, []byte(`"associated_data":"recharge"`), []byte(`"associated_data":"transaction"`), 1)
			return w.sign(t, body, now)
		}, http.StatusUnauthorized, "resource did not decrypt"},
		{"signed, but encrypted under another APIv3 key", func(t *testing.T) notify.Request {
			other := w
			other.apiv3Key = strings.Repeat("x", 32)
			return other.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
		}, http.StatusUnauthorized, "resource did not decrypt"},
		// Forged and undecryptable: refused for the signature, before any decryption.
		{"forged, under another APIv3 key", func(t *testing.T) notify.Request {
			forger := w
			forger.signKey, forger.apiv3Key = otherKey, strings.Repeat("x", 32)
			return forger.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
		}, http.StatusUnauthorized, "signature verification failed"},
		{"oversize", func(t *testing.T) notify.Request {
			p := plaintext("1900000109", "RC001", "SUCCESS")
			p["padding"] = strings.Repeat("x", notify.MaxBody)
			return w.sign(t, w.body(t, "EV-1", notify.EventSuccess, p, "recharge"), now)
		}, http.StatusRequestEntityTooLarge, "64 KiB"},
		{"another platform merchant", func(t *testing.T) notify.Request {
			p := plaintext("1900000109", "RC001", "SUCCESS")
			p["sp_mchid"] = "1900000999"
			return w.sign(t, w.body(t, "EV-1", notify.EventSuccess, p, "recharge"), now)
		}, http.StatusBadRequest, "notification names another platform merchant"},
		{"invalid out_recharge_no", func(t *testing.T) notify.Request {
			return w.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC-001/../x", "SUCCESS")
		}, http.StatusBadRequest, "invalid out_recharge_no"},
		{"state other than the event type says", func(t *testing.T) notify.Request {
			return w.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "CLOSED")
		}, http.StatusBadRequest, "recharge_state does not match event_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			res := f.handle(t, tc.request(t))
			wantAnswer(t, res, tc.status, "FAIL")
			if !bytes.Contains(res.Body, []byte(tc.reason)) {
				t.Errorf("answer %s does not say %q", res.Body, tc.reason)
			}
			f.wantNothingDone(t)
			// The template's metric filter raises NotifySignedButRefusedAlarm on
			// what WeChat Pay signed and this stack still refused, and only on
			// that: nobody else can sign, so nobody else can raise it.
			signed := tc.status == http.StatusBadRequest || tc.reason == "resource did not decrypt"
			if got := alarmFilterMatches(t, f.log.Bytes()); got != signed {
				t.Errorf("the signed-but-refused metric filter matches %v, want %v:\n%s", got, signed, f.log)
			}
		})
	}
}

// signedButRefusedPattern is the template's NotifySignedButRefusedMetric
// pattern, which alarmFilterMatches evaluates.
const signedButRefusedPattern = `{ ($.msg = "notification refused") && (($.reason = "resource did not decrypt") || ($.status = 400)) }`

// alarmFilterMatches evaluates the template's metric filter pattern on the
// log lines; the pattern is checked to be the one evaluated here.
func alarmFilterMatches(t *testing.T, logs []byte) bool {
	t.Helper()
	tmpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tmpl, []byte("FilterPattern: '"+signedButRefusedPattern+"'")) {
		t.Fatalf("template.yaml's NotifySignedButRefusedMetric pattern is not %s", signedButRefusedPattern)
	}
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var l struct {
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "notification refused" && (l.Reason == "resource did not decrypt" || l.Status == 400) {
			return true
		}
	}
	return false
}

// An APIv3 key changed in the merchant platform before the secret: the
// notification is refused, and WeChat Pay's retry after the secret is
// updated goes through (a 2xx would have lost it).
func TestUndecryptableNotificationGoesThroughOnceTheKeyIsRight(t *testing.T) {
	f := newFixture(t)
	w := newWeChatPay(t)
	w.apiv3Key = strings.Repeat("n", 32)
	body := w.body(t, "EV-1", notify.EventSuccess, plaintext("1900000109", "RC001", "SUCCESS"), "recharge")
	wantAnswer(t, f.handle(t, w.sign(t, body, now)), http.StatusUnauthorized, "FAIL")
	f.wantNothingDone(t)

	f.keys.keys.APIv3Key = []byte(w.apiv3Key)
	wantAnswer(t, f.handle(t, w.sign(t, body, now.Add(time.Minute))), http.StatusOK, "SUCCESS")
	if len(f.bus.events) != 1 {
		t.Fatalf("published %d events after the key was fixed, want 1", len(f.bus.events))
	}
}

func TestWithoutAnAPIv3KeyNothingIsDoneAndWeChatPayRetries(t *testing.T) {
	f := newFixture(t)
	f.keys.keys.APIv3Key = nil
	res := f.handle(t, newWeChatPay(t).notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS"))
	wantAnswer(t, res, http.StatusInternalServerError, "FAIL")
	f.wantNothingDone(t)
}

func TestReplayIsAnsweredSuccessAndPublishedOnce(t *testing.T) {
	f := newFixture(t)
	w := newWeChatPay(t)
	req := w.notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
	wantAnswer(t, f.handle(t, req), http.StatusOK, "SUCCESS")
	// Byte for byte, and as WeChat Pay's retry (signed again, later).
	wantAnswer(t, f.handle(t, req), http.StatusOK, "SUCCESS")
	*f.clock = now.Add(10 * time.Minute)
	retry := w.sign(t, req.Body, *f.clock)
	wantAnswer(t, f.handle(t, retry), http.StatusOK, "SUCCESS")
	if len(f.bus.events) != 1 || len(f.schedules.deletes) != 1 {
		t.Fatalf("a replay did the work again: %d events, %d deletes", len(f.bus.events), len(f.schedules.deletes))
	}
}

func TestPublishFailureIsRetriedInFull(t *testing.T) {
	f := newFixture(t)
	req := newWeChatPay(t).notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
	f.bus.err = errors.New("EventBridge unavailable")
	wantAnswer(t, f.handle(t, req), http.StatusInternalServerError, "FAIL")
	if f.marks.ids["EV-1"] {
		t.Fatal("the id was recorded although nothing was published: WeChat Pay's retry would be dropped")
	}
	f.bus.err = nil
	wantAnswer(t, f.handle(t, req), http.StatusOK, "SUCCESS")
	if len(f.bus.events) != 1 || !f.marks.ids["EV-1"] {
		t.Fatalf("the retry published %d events, recorded %v; want 1 and recorded", len(f.bus.events), f.marks.ids)
	}
}

func TestDeleteFailureIsNotAnsweredSuccess(t *testing.T) {
	f := newFixture(t)
	req := newWeChatPay(t).notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS")
	f.schedules.err = errors.New("Scheduler throttled")
	wantAnswer(t, f.handle(t, req), http.StatusInternalServerError, "FAIL")
	if f.marks.ids["EV-1"] {
		t.Fatal("the id was recorded although the schedule is still pending")
	}
	f.schedules.err = nil
	wantAnswer(t, f.handle(t, req), http.StatusOK, "SUCCESS")
	if f.schedules.pending[expiry.ScheduleName("1900000109", "RC001")] || len(f.bus.events) != 1 {
		t.Fatalf("after the retry: schedules %v, %d events", f.schedules.pending, len(f.bus.events))
	}
}

// A failure to record leaves the work done: WeChat Pay is told SUCCESS.
func TestRecordFailureStillAnswersSuccess(t *testing.T) {
	f := newFixture(t)
	f.marks.err = errors.New("DynamoDB throttled")
	res := f.handle(t, newWeChatPay(t).notification(t, "EV-1", notify.EventSuccess, "1900000109", "RC001", "SUCCESS"))
	wantAnswer(t, res, http.StatusOK, "SUCCESS")
	if len(f.bus.events) != 1 {
		t.Fatalf("published %d events, want 1", len(f.bus.events))
	}
}

func TestOutOfOrderAndRepeatedStates(t *testing.T) {
	f := newFixture(t)
	w := newWeChatPay(t)
	steps := []struct{ id, eventType, outRechargeNo, state string }{
		{"EV-A", notify.EventSuccess, "RC001", "SUCCESS"},
		{"EV-B", notify.EventClosed, "RC002", "CLOSED"},
		// The same state again under a new id: published again for consumers,
		// who dedupe on (out_recharge_no, recharge_state); its schedule is gone already.
		{"EV-C", notify.EventSuccess, "RC001", "SUCCESS"},
		{"EV-A", notify.EventSuccess, "RC001", "SUCCESS"},
	}
	for _, s := range steps {
		wantAnswer(t, f.handle(t, w.notification(t, s.id, s.eventType, "1900000109", s.outRechargeNo, s.state)), http.StatusOK, "SUCCESS")
	}
	var got []string
	for _, e := range f.bus.events {
		raw, _ := json.Marshal(e.Detail)
		var d struct{ OutRechargeNo, RechargeState, NotificationID string }
		_ = json.Unmarshal(bytes.ReplaceAll(raw, []byte("_"), nil), &d)
		got = append(got, e.DetailType+" "+d.OutRechargeNo+" "+d.NotificationID)
	}
	want := []string{"Recharge Succeeded RC001 EV-A", "Recharge Closed RC002 EV-B", "Recharge Succeeded RC001 EV-C"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("published %q, want %q", got, want)
	}
	if len(f.schedules.pending) != 0 {
		t.Fatalf("schedules left: %v", f.schedules.pending)
	}
}

func TestUnhandledEventTypeIsAcknowledgedAndLeftAlone(t *testing.T) {
	f := newFixture(t)
	res := f.handle(t, newWeChatPay(t).notification(t, "EV-1", "RECHARGE.REFUNDED", "1900000109", "RC001", "SUCCESS"))
	wantAnswer(t, res, http.StatusOK, "SUCCESS")
	f.wantNothingDone(t)
}
