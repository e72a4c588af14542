package simulator_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

const (
	sub       = "1900000109"
	closeURI  = "/v3/platsolution/ecommerce/recharges/out-recharge-no/R1/close?sub_mchid=" + sub
	queryURI  = "/v3/platsolution/ecommerce/recharges/out-recharge-no/R1?sub_mchid=" + sub
	vectorTS  = 1624523846
	vectorNon = "A1B2C3D4E5F6G7"
)

func testKeys(*testing.T) *simulator.Keys { return simulator.SharedKeys() }

type request struct {
	method, uri string
	body        []byte
	ts          int64
	nonce       string
	signBody    []byte // signed instead of body when set
	signURI     string
	key         *rsa.PrivateKey
	mchid       string
	serial      string
	header      string // sent verbatim when set
}

var nonceSeq int

func (r request) send(t *testing.T, url string, k *simulator.Keys) (*http.Response, []byte) {
	t.Helper()
	if r.ts == 0 {
		r.ts = time.Now().Unix()
	}
	if r.nonce == "" {
		nonceSeq++
		r.nonce = fmt.Sprintf("N%d%d", time.Now().UnixNano(), nonceSeq)
	}
	if r.key == nil {
		r.key = k.MerchantKey
	}
	if r.mchid == "" {
		r.mchid = k.MchID
	}
	if r.serial == "" {
		r.serial = k.MerchantSerialNo
	}
	signBody, signURI := r.body, r.uri
	if r.signBody != nil {
		signBody = r.signBody
	}
	if r.signURI != "" {
		signURI = r.signURI
	}
	sig := simulator.Sign(r.key, simulator.RequestMessage(r.method, signURI, r.ts, r.nonce, signBody))
	auth := fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%d",serial_no="%s",signature="%s"`,
		simulator.AuthScheme, r.mchid, r.nonce, r.ts, r.serial, sig)
	if r.header != "" {
		auth = r.header
	}
	req, _ := http.NewRequest(r.method, url+r.uri, bytes.NewReader(r.body))
	if auth != "-" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func start(t *testing.T, opts ...simulator.Option) (*simulator.Server, string) {
	t.Helper()
	sim := simulator.New(testKeys(t), opts...)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "R1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	return sim, srv.URL
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		t.Fatalf("error body %q is not {code, message}", body)
	}
	return e.Code
}

// assertSigned checks an answer's signature as a client would.
func assertSigned(t *testing.T, resp *http.Response, body []byte, pub *rsa.PublicKey, serial string) {
	t.Helper()
	h := resp.Header
	ts, err := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
	if err != nil || h.Get("Wechatpay-Serial") != serial || h.Get("Request-ID") == "" {
		t.Fatalf("answer headers %v", h)
	}
	if err := simulator.VerifySignature(pub, simulator.ResponseMessage(ts, h.Get("Wechatpay-Nonce"), body), h.Get("Wechatpay-Signature")); err != nil {
		t.Fatalf("answer signature: %v", err)
	}
}

func TestVerifySignatureAgainstWechatpayGoVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/wechatpay-go-signer-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ PrivateKey, Message, Signature string }
	if err := json.Unmarshal(raw, &struct {
		PrivateKey *string `json:"private_key"`
		Message    *string `json:"message"`
		Signature  *string `json:"signature"`
	}{&v.PrivateKey, &v.Message, &v.Signature}); err != nil {
		t.Fatal(err)
	}
	key := parseTestingKey(t, v.PrivateKey)
	if err := simulator.VerifySignature(&key.PublicKey, []byte(v.Message), v.Signature); err != nil {
		t.Fatalf("published vector does not verify: %v", err)
	}
	if got := simulator.Sign(key, []byte(v.Message)); got != v.Signature {
		t.Errorf("Sign = %s, want the published %s", got, v.Signature)
	}
	if err := simulator.VerifySignature(&key.PublicKey, []byte(v.Message+"!"), v.Signature); err == nil {
		t.Error("vector verified over another message")
	}
}

func parseTestingKey(t *testing.T, s string) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// openssl signs the request independently of Go's crypto; the simulator must accept it.
func TestRequestSignedByOpenSSLIsAccepted(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required in CI")
		}
		t.Skip("openssl not installed")
	}
	k := testKeys(t)
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "apiclient_key.pem")
	if err := os.WriteFile(keyPath, []byte(simulator.PrivateKeyPEM(k.MerchantKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	opensslSign := func(msg string) string {
		cmd := exec.Command("openssl", "dgst", "-sha256", "-sign", keyPath)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		return base64.StdEncoding.EncodeToString(out)
	}
	// The message of wechatpay-go's own credentials test.
	sdkMsg := "GET\n/v3/certificates\n1624523846\nA1B2C3D4E5F6G7\n\n"
	if err := simulator.VerifySignature(&k.MerchantKey.PublicKey, []byte(sdkMsg), opensslSign(sdkMsg)); err != nil {
		t.Fatalf("openssl signature of the SDK message: %v", err)
	}

	_, url := start(t, simulator.WithClock(func() time.Time { return time.Unix(vectorTS+30, 0) }))
	sig := opensslSign("GET\n" + queryURI + "\n1624523846\nA1B2C3D4E5F6G7\n\n")
	header := fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 signature="%s",serial_no="%s",timestamp="%d",nonce_str="%s",mchid="%s"`,
		sig, k.MerchantSerialNo, vectorTS, vectorNon, k.MchID)
	resp, body := request{method: "GET", uri: queryURI, header: header}.send(t, url, k)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func TestForgedRequestsAreRefused(t *testing.T) {
	k := testKeys(t)
	otherKeys, err := simulator.GenerateKeys(k.MchID)
	if err != nil {
		t.Fatal(err)
	}
	// The simulator's clock stands still: a second passing between signing and
	// checking would otherwise make "300 s ahead" 299 s.
	now := time.Now().Unix()
	clock := simulator.WithClock(func() time.Time { return time.Unix(now, 0) })
	tests := []struct {
		name string
		req  request
	}{
		{"signed with another key", request{key: otherKeys.MerchantKey}},
		{"body changed after signing", request{signBody: []byte(`{"a":1}`)}},
		{"URI changed after signing", request{signURI: strings.Replace(closeURI, sub, "1900000108", 1)}},
		{"timestamp 300 s old", request{ts: now - 300}},
		{"timestamp 300 s ahead", request{ts: now + 300}},
		{"another merchant", request{mchid: "1900000999"}},
		{"unknown serial", request{serial: "0123456789ABCDEF"}},
		{"no Authorization", request{header: "-"}},
		{"other scheme", request{header: `WECHATPAY2-SHA256-RSA4096 mchid="1900000100"`}},
		{"missing parameter", request{header: `WECHATPAY2-SHA256-RSA2048 mchid="1900000100",nonce_str="x",timestamp="1",signature="x"`}},
		{"signature not base64", request{header: fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="x",timestamp="%d",serial_no="%s",signature="!!"`, k.MchID, now, k.MerchantSerialNo)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, url := start(t, clock)
			r := tt.req
			if r.ts == 0 {
				r.ts = now
			}
			r.method, r.uri, r.body = "POST", closeURI, []byte(`{}`)
			resp, body := r.send(t, url, k)
			if resp.StatusCode != 401 || errorCode(t, body) != "SIGN_ERROR" {
				t.Fatalf("status %d %s, want 401 SIGN_ERROR", resp.StatusCode, body)
			}
			if got, _ := sim.Recharge(sub, "R1"); got.RechargeState != recharge.StateRecharging {
				t.Errorf("forged close changed the recharge to %s", got.RechargeState)
			}
		})
	}
}

func TestReplayedNonceIsRefused(t *testing.T) {
	k := testKeys(t)
	_, url := start(t)
	r := request{method: "GET", uri: queryURI, nonce: "REPLAYME", ts: time.Now().Unix()}
	if resp, body := r.send(t, url, k); resp.StatusCode != 200 {
		t.Fatalf("first: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.send(t, url, k); resp.StatusCode != 401 || errorCode(t, body) != "SIGN_ERROR" {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
}

func TestCloseStateMachine(t *testing.T) {
	k := testKeys(t)
	sim, url := start(t)
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "PAID1", State: "SUCCESS"}); err != nil {
		t.Fatal(err)
	}
	paidURI := strings.Replace(closeURI, "/R1/", "/PAID1/", 1)
	steps := []struct {
		name       string
		method     string
		uri        string
		body       string
		wantStatus int
		wantCode   string // error code, or the recharge_state of a 200
	}{
		{"close a recharging recharge", "POST", closeURI, `{}`, 200, "CLOSED"},
		{"query it", "GET", queryURI, "", 200, "CLOSED"},
		{"close it again", "POST", closeURI, "", 400, "INVALID_REQUEST"},
		{"close a paid recharge", "POST", paidURI, `{}`, 403, "RULE_LIMIT"},
		{"close an unknown recharge", "POST", strings.Replace(closeURI, "/R1/", "/NOPE/", 1), `{}`, 404, "ORDER_NOT_EXIST"},
		{"query an unknown recharge", "GET", strings.Replace(queryURI, "/R1?", "/NOPE?", 1), "", 404, "ORDER_NOT_EXIST"},
		{"close without sub_mchid", "POST", strings.TrimSuffix(closeURI, "?sub_mchid="+sub), `{}`, 400, "PARAM_ERROR"},
		{"close with a body that is not JSON", "POST", closeURI, `close`, 400, "PARAM_ERROR"},
		{"close another merchant's recharge", "POST", strings.Replace(closeURI, sub, "1900000108", 1), `{}`, 404, "ORDER_NOT_EXIST"},
	}
	for _, st := range steps {
		resp, body := request{method: st.method, uri: st.uri, body: []byte(st.body)}.send(t, url, k)
		if resp.StatusCode != st.wantStatus {
			t.Fatalf("%s: status %d %s, want %d", st.name, resp.StatusCode, body, st.wantStatus)
		}
		assertSigned(t, resp, body, &k.PlatformKey.PublicKey, k.PublicKeyID)
		if st.wantStatus != 200 {
			if code := errorCode(t, body); code != st.wantCode {
				t.Fatalf("%s: code %s, want %s", st.name, code, st.wantCode)
			}
			continue
		}
		var r recharge.Recharge
		if err := json.Unmarshal(body, &r); err != nil || r.RechargeState != st.wantCode || r.CloseTime.IsZero() ||
			r.SpMchid != k.MchID || r.RechargeStateDesc == "" {
			t.Fatalf("%s: recharge %s", st.name, body)
		}
	}
	// Seven close requests, one recharge that was RECHARGING: one close in the books.
	if got := sim.Closes(); got != 1 || sim.Calls("close") != 7 {
		t.Errorf("Closes = %d after %d close requests, want 1", got, sim.Calls("close"))
	}
}

func TestCertificateModeSignsWithTheCertificate(t *testing.T) {
	k := testKeys(t)
	_, url := start(t, simulator.WithSignMode(simulator.SignWithCertificate))
	resp, body := request{method: "GET", uri: queryURI}.send(t, url, k)
	assertSigned(t, resp, body, k.Certificate.PublicKey.(*rsa.PublicKey), k.CertificateSerial())
}

func TestMerchantKeyRotation(t *testing.T) {
	k := testKeys(t)
	next, err := simulator.GenerateKeys(k.MchID)
	if err != nil {
		t.Fatal(err)
	}
	sim, url := start(t)
	rotated := request{method: "GET", uri: queryURI, key: next.MerchantKey, serial: next.MerchantSerialNo}
	if resp, _ := rotated.send(t, url, k); resp.StatusCode != 401 {
		t.Fatalf("unknown new key accepted: %d", resp.StatusCode)
	}
	sim.AcceptMerchantKey(next.MerchantSerialNo, &next.MerchantKey.PublicKey)
	if resp, body := rotated.send(t, url, k); resp.StatusCode != 200 {
		t.Fatalf("new key refused: %d %s", resp.StatusCode, body)
	}
	sim.RevokeMerchantKey(k.MerchantSerialNo)
	if resp, _ := (request{method: "GET", uri: queryURI}).send(t, url, k); resp.StatusCode != 401 {
		t.Fatalf("revoked key accepted: %d", resp.StatusCode)
	}
	sim.RotatePlatformKey(next.PublicKeyID, next.PlatformKey)
	resp, body := rotated.send(t, url, k)
	assertSigned(t, resp, body, &next.PlatformKey.PublicKey, next.PublicKeyID)
}

func TestApply(t *testing.T) {
	k := testKeys(t)
	sim, url := start(t)
	body := `{"sub_mchid":"1900000109","out_recharge_no":"NEW1","recharge_scene":"ECOMMERCE_DEPOSIT","account_type":"DEPOSIT","recharge_amount":{"amount":100,"currency":"CNY"}}`
	resp, out := request{method: "POST", uri: "/v3/platsolution/ecommerce/recharges/apply", body: []byte(body)}.send(t, url, k)
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"recharge_url"`) {
		t.Fatalf("apply: %d %s", resp.StatusCode, out)
	}
	if r, ok := sim.Recharge(sub, "NEW1"); !ok || r.RechargeState != recharge.StateRecharging {
		t.Fatalf("applied recharge = %+v", r)
	}
	bad := strings.Replace(body, `"amount":100`, `"amount":0`, 1)
	resp, out = request{method: "POST", uri: "/v3/platsolution/ecommerce/recharges/apply", body: []byte(bad)}.send(t, url, k)
	if resp.StatusCode != 400 || errorCode(t, out) != "PARAM_ERROR" {
		t.Fatalf("bad apply: %d %s", resp.StatusCode, out)
	}
}

// Matches holds an answer to the recharge as served, every field of it: a
// field left out, an unknown field dropped, a value changed or a field added
// is a mismatch, and so is an answer about another recharge or state.
func TestMatchesWantsEveryFieldServed(t *testing.T) {
	k := testKeys(t)
	sim, url := start(t)
	if err := sim.Matches(sub, "R1", []byte(`{}`)); err == nil {
		t.Error("an answer about a recharge never served matched")
	}
	resp, served := request{method: "GET", uri: queryURI}.send(t, url, k)
	if resp.StatusCode != 200 {
		t.Fatalf("query: %d %s", resp.StatusCode, served)
	}
	if err := sim.Matches(sub, "R1", served); err != nil {
		t.Fatalf("the answer as served: %v", err)
	}
	var record map[string]any
	if err := json.Unmarshal(served, &record); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"recharge_amount", "bank_transfer_info", "bank_account_name", "online_bank_recharge_info"} {
		if _, ok := record[field]; !ok {
			t.Fatalf("the simulator's record has no %s to check: %s", field, served)
		}
	}
	edits := map[string]func(m map[string]any){
		"recharge_amount left out":        func(m map[string]any) { delete(m, "recharge_amount") },
		"bank_transfer_info null":         func(m map[string]any) { m["bank_transfer_info"] = nil },
		"an unknown field dropped":        func(m map[string]any) { delete(m, "bank_account_name") },
		"a nested unknown field dropped":  func(m map[string]any) { delete(m["bank_transfer_info"].(map[string]any), "bank_branch") },
		"an amount changed":               func(m map[string]any) { m["recharge_amount"].(map[string]any)["amount"] = 1 },
		"a field added":                   func(m map[string]any) { m["remark"] = "x" },
		"another state":                   func(m map[string]any) { m["recharge_state"] = "CLOSED" },
		"another recharge":                func(m map[string]any) { m["out_recharge_no"] = "R2" },
		"an unknown object's field added": func(m map[string]any) { m["online_bank_recharge_info"].(map[string]any)["x"] = 1 },
	}
	for name, edit := range edits {
		var m map[string]any
		_ = json.Unmarshal(served, &m)
		edit(m)
		b, _ := json.Marshal(m)
		if err := sim.Matches(sub, "R1", b); err == nil {
			t.Errorf("%s: matched %s", name, b)
		}
	}
}

// A published answer carries the event contract's version beside the fields
// served, and Matches lets that one through, as a string at the top level;
// any other field added still fails it.
func TestMatchesLetsThePublisherAddContractVersion(t *testing.T) {
	k := testKeys(t)
	sim, url := start(t)
	resp, served := request{method: "GET", uri: queryURI}.send(t, url, k)
	if resp.StatusCode != 200 {
		t.Fatalf("query: %d %s", resp.StatusCode, served)
	}
	edited := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(served, &m)
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	published := edited(func(m map[string]any) { m["contract_version"] = "1" })
	if err := sim.Matches(sub, "R1", published); err != nil {
		t.Errorf("the answer as published: %v", err)
	}
	for name, edit := range map[string]func(m map[string]any){
		"contract_version a number":   func(m map[string]any) { m["contract_version"] = 1 },
		"contract_version empty":      func(m map[string]any) { m["contract_version"] = "" },
		"contract_version nested":     func(m map[string]any) { m["recharge_amount"].(map[string]any)["contract_version"] = "1" },
		"another field beside it":     func(m map[string]any) { m["contract_version"], m["published_by"] = "1", "x" },
		"a field dropped beside it":   func(m map[string]any) { m["contract_version"] = "1"; delete(m, "recharge_amount") },
		"sp_mchid changed beside it":  func(m map[string]any) { m["contract_version"], m["sp_mchid"] = "1", "1900000999" },
		"sp_mchid left out beside it": func(m map[string]any) { m["contract_version"] = "1"; delete(m, "sp_mchid") },
	} {
		if b := edited(edit); sim.Matches(sub, "R1", b) == nil {
			t.Errorf("%s: matched %s", name, b)
		}
	}
}

// An outage window answers every request with its status and code, on the
// simulator's clock: from its start, up to but not including its end, and
// nothing it refused took effect; the rate limit does not count those
// requests, and Outaged does.
func TestOutageWindow(t *testing.T) {
	k := testKeys(t)
	base := time.Now()
	var offset atomic.Int64 // the simulator's clock: base + offset
	sim, url := start(t, simulator.WithClock(func() time.Time { return base.Add(time.Duration(offset.Load())) }),
		simulator.WithRateLimit(1000, 1000))
	sim.SetOutage(simulator.Outage{Start: base.Add(10 * time.Second), Length: time.Minute})
	steps := []struct {
		name       string
		at         time.Duration
		method     string
		uri        string
		wantStatus int
		wantCode   string // error code, or the recharge_state of a 200
	}{
		{"query before the outage", 10*time.Second - time.Nanosecond, "GET", queryURI, 200, "RECHARGING"},
		{"close as it starts", 10 * time.Second, "POST", closeURI, 503, "SERVICE_UNAVAILABLE"},
		{"query during it", 40 * time.Second, "GET", queryURI, 503, "SERVICE_UNAVAILABLE"},
		{"close just before it ends", 70*time.Second - time.Nanosecond, "POST", closeURI, 503, "SERVICE_UNAVAILABLE"},
		{"query as it ends: the closes did nothing", 70 * time.Second, "GET", queryURI, 200, "RECHARGING"},
		{"close after it", 71 * time.Second, "POST", closeURI, 200, "CLOSED"},
	}
	for _, st := range steps {
		offset.Store(int64(st.at))
		resp, body := request{method: st.method, uri: st.uri, body: []byte(`{}`)}.send(t, url, k)
		if resp.StatusCode != st.wantStatus {
			t.Fatalf("%s: status %d %s, want %d", st.name, resp.StatusCode, body, st.wantStatus)
		}
		got := ""
		if st.wantStatus == 200 {
			var r recharge.Recharge
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("%s: %s", st.name, body)
			}
			got = r.RechargeState
		} else {
			got = errorCode(t, body)
		}
		if got != st.wantCode {
			t.Fatalf("%s: %s, want %s", st.name, got, st.wantCode)
		}
	}
	if sim.Outaged() != 3 || sim.Throttled() != 0 || sim.Closes() != 1 {
		t.Errorf("outaged %d, throttled %d, closes %d; want 3, 0, 1", sim.Outaged(), sim.Throttled(), sim.Closes())
	}
	// A 429 outage answers RATELIMIT_EXCEEDED; the zero Outage is none.
	sim.SetOutage(simulator.Outage{Start: base, Length: time.Hour, Status: http.StatusTooManyRequests})
	if resp, body := (request{method: "GET", uri: queryURI}).send(t, url, k); resp.StatusCode != 429 || errorCode(t, body) != "RATELIMIT_EXCEEDED" {
		t.Fatalf("429 outage: %d %s", resp.StatusCode, body)
	}
	sim.SetOutage(simulator.Outage{})
	if resp, body := (request{method: "GET", uri: queryURI}).send(t, url, k); resp.StatusCode != 200 {
		t.Fatalf("no outage: %d %s", resp.StatusCode, body)
	}
}

// A partial outage answers one request in Every of those that arrive in its
// window and serves the others; those it answered count as Outaged, and
// setting an outage again starts its count afresh.
func TestPartialOutageAnswersOneRequestInEvery(t *testing.T) {
	k := testKeys(t)
	base := time.Now()
	sim, url := start(t, simulator.WithClock(func() time.Time { return base }), simulator.WithRateLimit(1000, 1000))
	sim.SetOutage(simulator.Outage{Start: base.Add(-time.Second), Length: time.Minute, Status: http.StatusInternalServerError, Every: 4})
	var statuses []int
	for range 8 {
		resp, body := (request{method: "GET", uri: queryURI}).send(t, url, k)
		if resp.StatusCode != 200 && errorCode(t, body) != "SYSTEM_ERROR" {
			t.Fatalf("status %d %s, want 200 or SYSTEM_ERROR", resp.StatusCode, body)
		}
		statuses = append(statuses, resp.StatusCode)
	}
	if want := []int{200, 200, 200, 500, 200, 200, 200, 500}; !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	if sim.Outaged() != 2 {
		t.Fatalf("outaged %d, want 2", sim.Outaged())
	}
	sim.SetOutage(simulator.Outage{Start: base.Add(-time.Second), Length: time.Minute, Every: 2})
	if resp, _ := (request{method: "GET", uri: queryURI}).send(t, url, k); resp.StatusCode != 200 {
		t.Fatalf("first request of a new partial outage: %d, want 200", resp.StatusCode)
	}
}
