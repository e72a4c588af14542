// Package simulator is a stand-in for WeChat Pay's platform-solution recharge API
// that speaks the real protocol: real paths, status codes and error bodies,
// strict verification of every request signature, signed answers, and faults
// injected on demand. Tests, the demo and the benchmarks run against it.
package simulator

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
	"close-recharge/internal/wechatpay"
)

const rechargesPath = "/v3/platsolution/ecommerce/recharges"

// SignMode chooses which key signs answers.
type SignMode int

const (
	SignWithPublicKey   SignMode = iota // WeChat Pay public-key mode (PUB_KEY_ID_…)
	SignWithCertificate                 // legacy platform-certificate mode
)

// Server is the simulator. The zero value is not usable: call New.
type Server struct {
	mux    *http.ServeMux
	logger *slog.Logger
	now    func() time.Time

	mu           sync.Mutex
	keys         Keys
	merchantKeys map[string]*rsa.PublicKey // serial_no → key: several during a rotation
	signMode     SignMode
	recharges    map[string]*recharge.Recharge // sub_mchid/out_recharge_no
	served       map[string][][]byte           // the recharge answers sent about each
	nonces       map[string]time.Time
	prunedAt     time.Time
	faults       []*Fault
	calls        map[string]int
	conns        int
	seq          int
	limit        *pace.Bucket  // the merchant's rate limit; nil for none
	latency      time.Duration // added to every request
	throttled    int
	closes       int // RECHARGING → CLOSED by a close request
	outage       Outage
	outaged      int // requests answered by the outage
	inOutage     int // requests that arrived in the outage window, answered or let through
	notify       *notifier
	admin        *http.ServeMux
}

// Option configures a Server.
type Option func(*Server)

// WithLogger logs one line per request.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithClock replaces time.Now, for tests of the timestamp window.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRateLimit limits the merchant to rps requests a second, in bursts of at
// most burst, as WeChat Pay does: beyond it, 429 RATELIMIT_EXCEEDED.
func WithRateLimit(rps float64, burst int) Option {
	return func(s *Server) { s.limit = pace.NewBucket(rps, burst) }
}

// WithLatency adds d to every request, as the distance to WeChat Pay does.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithSignMode chooses the answer-signing key.
func WithSignMode(m SignMode) Option { return func(s *Server) { s.signMode = m } }

// New returns a simulator for one platform merchant.
func New(keys *Keys, opts ...Option) *Server {
	s := &Server{
		logger:       slog.New(slog.DiscardHandler),
		now:          time.Now,
		keys:         *keys,
		merchantKeys: map[string]*rsa.PublicKey{keys.MerchantSerialNo: &keys.MerchantKey.PublicKey},
		recharges:    map[string]*recharge.Recharge{},
		served:       map[string][][]byte{},
		nonces:       map[string]time.Time{},
		calls:        map[string]int{},
		notify:       newNotifier(),
	}
	for _, o := range opts {
		o(s)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+rechargesPath+"/apply", s.apply)
	s.mux.HandleFunc("GET "+rechargesPath+"/out-recharge-no/{no}", s.query)
	s.mux.HandleFunc("POST "+rechargesPath+"/out-recharge-no/{no}/close", s.close)
	s.admin = s.adminRoutes()
	return s
}

// AcceptMerchantKey makes the simulator accept requests signed with key under
// serial, beside the keys it accepts already (a merchant key rotation).
func (s *Server) AcceptMerchantKey(serial string, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merchantKeys[serial] = key
}

// RevokeMerchantKey stops accepting a merchant serial.
func (s *Server) RevokeMerchantKey(serial string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.merchantKeys, serial)
}

// RotatePlatformKey makes the simulator sign answers with a new WeChat Pay
// public key and id from now on.
func (s *Server) RotatePlatformKey(id string, key *rsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys.PublicKeyID, s.keys.PlatformKey = id, key
}

// SetSignMode switches the answer-signing key.
func (s *Server) SetSignMode(m SignMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signMode = m
}

// Calls is how many requests reached op ("apply", "query", "close"), whether
// or not they verified.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Throttled is how many requests the rate limit answered 429.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Closes is how many close requests moved a recharge from RECHARGING to
// CLOSED: the closes in WeChat Pay's books, however often each was asked for.
func (s *Server) Closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// Connections is how many TCP connections the server took, when its
// http.Server's ConnState is set to s.ConnState.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// ConnState counts new connections; install it as http.Server.ConnState.
func (s *Server) ConnState(_ net.Conn, state http.ConnState) {
	if state == http.StateNew {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
	}
}

// SeedRecharge is one recharge to preload, in the -seed file's format.
type SeedRecharge struct {
	SubMchid      string `json:"sub_mchid"`
	OutRechargeNo string `json:"out_recharge_no"`
	Amount        int64  `json:"amount"`
	State         string `json:"state"`
	NotifyURL     string `json:"notify_url,omitempty"` // where its changes of state are notified
	Remark        string `json:"remark,omitempty"`
}

// Seed stores recharges directly, in any state, without notifying.
func (s *Server) Seed(seeds ...SeedRecharge) error {
	for _, sd := range seeds {
		if err := recharge.ValidateSubMchid(sd.SubMchid); err != nil {
			return err
		}
		if err := recharge.ValidateOutRechargeNo(sd.OutRechargeNo); err != nil {
			return err
		}
		state := sd.State
		if state == "" {
			state = recharge.StateRecharging
		}
		amount := sd.Amount
		if amount <= 0 {
			amount = 10000
		}
		r := s.newRecharge(sd.SubMchid, sd.OutRechargeNo, "ECOMMERCE_DEPOSIT", "DEPOSIT", amount)
		s.mu.Lock()
		setState(r, state, s.now())
		s.recharges[key(sd.SubMchid, sd.OutRechargeNo)] = r
		extra := s.extraOf(key(sd.SubMchid, sd.OutRechargeNo))
		extra.notifyURL, extra.remark = sd.NotifyURL, sd.Remark
		s.mu.Unlock()
	}
	return nil
}

// SetState moves a stored recharge to state, without notifying (Pay and
// Expire notify). It reports whether the recharge exists.
func (s *Server) SetState(subMchid, outRechargeNo, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recharges[key(subMchid, outRechargeNo)]
	if ok {
		setState(r, state, s.now())
	}
	return ok
}

// Recharge returns a copy of a stored recharge.
func (s *Server) Recharge(subMchid, outRechargeNo string) (recharge.Recharge, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recharges[key(subMchid, outRechargeNo)]
	if !ok {
		return recharge.Recharge{}, false
	}
	return *r, true
}

func key(subMchid, outRechargeNo string) string { return subMchid + "/" + outRechargeNo }

var cst = time.FixedZone("CST", 8*3600)

func stamp(t time.Time) recharge.Time {
	return recharge.Time{Time: t.In(cst).Truncate(time.Second)}
}

func setState(r *recharge.Recharge, state string, now time.Time) {
	r.RechargeState = state
	switch state {
	case recharge.StateSuccess:
		r.SuccessTime, r.RechargeStateDesc = stamp(now), "充值成功"
	case recharge.StateClosed:
		r.CloseTime, r.RechargeStateDesc = stamp(now), "充值已关闭"
	case recharge.StateRecharging:
		r.RechargeStateDesc = "充值中"
	}
}

func (s *Server) newRecharge(subMchid, outRechargeNo, scene, accountType string, amount int64) *recharge.Recharge {
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("%s%012d", s.now().In(cst).Format("20060102"), s.seq)
	s.mu.Unlock()
	return &recharge.Recharge{
		SpMchid:         s.keys.MchID,
		SubMchid:        subMchid,
		RechargeID:      id,
		OutRechargeNo:   outRechargeNo,
		RechargeChannel: "BANK_TRANSFER",
		AccountType:     accountType,
		RechargeScene:   scene,
		RechargeAmount:  &recharge.Amount{Amount: amount, Currency: "CNY"},
		BankTransferInfo: &recharge.BankTransferInfo{BillNo: "BT" + id, Memo: "充值" + outRechargeNo, BankName: "招商银行", BankCardTail: "1234",
			Extra: map[string]json.RawMessage{"bank_branch": json.RawMessage(`"深圳分行"`)}},
		AcceptTime: stamp(s.now()),
		// Fields newer than the documented object, a nested one among them:
		// clients must pass them through.
		Extra: map[string]json.RawMessage{"bank_account_name": json.RawMessage(`"深圳市某某有限公司"`),
			"online_bank_recharge_info": json.RawMessage(`{"bank_type":"CMB","channel":{"id":7}}`)},
	}
}

// ServeHTTP verifies the request's signature, applies any injected fault, and
// serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		s.admin.ServeHTTP(w, r)
		return
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.logger.Info("wechatpay-sim", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"code", rec.code, "duration_ms", s.now().Sub(start).Milliseconds())
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.writeError(rec, http.StatusBadRequest, "PARAM_ERROR", "请求体读取失败")
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(rec, http.StatusNotFound, "NOT_FOUND", "请求的资源不存在")
		return
	}
	op := opOf(r)
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	if status, code, down := s.down(); down {
		s.writeError(rec, status, code, "模拟停机："+code)
		return
	}
	if s.limit != nil && !s.limit.Allow() {
		s.mu.Lock()
		s.throttled++
		s.mu.Unlock()
		s.writeError(rec, http.StatusTooManyRequests, "RATELIMIT_EXCEEDED", "请求频率超过限制，请稍后再试")
		return
	}
	if msg := s.verifyRequest(r, body); msg != "" {
		s.writeError(rec, http.StatusUnauthorized, "SIGN_ERROR", msg)
		return
	}
	no, _ := noFromPath(r.URL.Path)
	f := s.takeFault(op, no)
	ctx := &exchange{s: s, w: rec, r: r, body: body, fault: f}
	if f != nil && !ctx.before() {
		return
	}
	s.mux.ServeHTTP(rec, r.WithContext(withExchange(r.Context(), ctx)))
}

func opOf(r *http.Request) string {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == rechargesPath+"/apply":
		return "apply"
	case r.Method == http.MethodGet:
		return "query"
	}
	return "close"
}

func (s *Server) verifyRequest(r *http.Request, body []byte) string {
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err.Error()
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.MchID != s.keys.MchID {
		return "商户号 mchid 与签名不匹配"
	}
	pub, ok := s.merchantKeys[a.SerialNo]
	if !ok {
		return "商户证书序列号 serial_no 有误"
	}
	if skew := time.Duration(now.Unix()-a.Timestamp) * time.Second; skew >= MaxClockSkew || skew <= -MaxClockSkew {
		return "请求时间戳 timestamp 已过期"
	}
	// Signature before nonce: a forged request must not burn a real one's nonce.
	if err := VerifySignature(pub, RequestMessage(r.Method, r.RequestURI, a.Timestamp, a.Nonce, body), a.Signature); err != nil {
		return "签名错误，请检查后再试"
	}
	// A nonce is remembered as long as its timestamp could still be accepted;
	// forgetting in batches keeps each request O(1).
	if now.Sub(s.prunedAt) > MaxClockSkew {
		for n, t := range s.nonces {
			if now.Sub(t) > 2*MaxClockSkew {
				delete(s.nonces, n)
			}
		}
		s.prunedAt = now
	}
	if _, replay := s.nonces[a.Nonce]; replay {
		return "随机串 nonce_str 重复，请求被重放"
	}
	s.nonces[a.Nonce] = now
	return ""
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*recharge.Recharge, bool) {
	sub := r.URL.Query().Get("sub_mchid")
	if recharge.ValidateSubMchid(sub) != nil {
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "sub_mchid 参数错误")
		return nil, false
	}
	if err := recharge.ValidateOutRechargeNo(r.PathValue("no")); err != nil {
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "out_recharge_no 参数错误")
		return nil, false
	}
	s.mu.Lock()
	rc, ok := s.recharges[key(sub, r.PathValue("no"))]
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "ORDER_NOT_EXIST", "充值单不存在")
	}
	return rc, ok
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if rc, ok := s.lookup(w, r); ok {
		s.mu.Lock()
		snapshot := *rc
		s.mu.Unlock()
		s.writeRecharge(w, r, &snapshot)
	}
}

func (s *Server) close(w http.ResponseWriter, r *http.Request) {
	ex := exchangeFrom(r.Context())
	if len(bytes.TrimSpace(ex.body)) > 0 {
		var obj map[string]json.RawMessage
		if json.Unmarshal(ex.body, &obj) != nil {
			s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON 对象")
			return
		}
	}
	rc, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	state := rc.RechargeState
	if state == recharge.StateRecharging {
		setState(rc, recharge.StateClosed, s.now())
		s.closes++
	}
	snapshot := *rc
	s.mu.Unlock()
	if state == recharge.StateRecharging {
		// Closed in WeChat Pay's books whatever becomes of the answer.
		s.announce(snapshot)
	}
	switch state {
	case recharge.StateRecharging:
		if !ex.afterApply() {
			return
		}
		s.writeRecharge(w, r, &snapshot)
	case recharge.StateClosed:
		s.writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "充值单已关闭，无需重复关闭")
	case recharge.StateSuccess:
		s.writeError(w, http.StatusForbidden, "RULE_LIMIT", "充值单已成功，不能关闭")
	default:
		s.writeError(w, http.StatusForbidden, "RULE_LIMIT", "充值单状态不允许关闭")
	}
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	ex := exchangeFrom(r.Context())
	var req wechatpay.ApplyRequest
	dec := json.NewDecoder(bytes.NewReader(ex.body))
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON")
		return
	}
	switch {
	case recharge.ValidateSubMchid(req.SubMchid) != nil:
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "sub_mchid 参数错误")
		return
	case recharge.ValidateOutRechargeNo(req.OutRechargeNo) != nil:
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "out_recharge_no 参数错误")
		return
	case req.RechargeAmount.Amount <= 0:
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "recharge_amount.amount 必须大于 0")
		return
	case req.RechargeScene != "ECOMMERCE_DEPOSIT" && req.RechargeScene != "ECOMMERCE_PAYMENT":
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "recharge_scene 参数错误")
		return
	case req.AccountType != "DEPOSIT" && req.AccountType != "OPERATION":
		s.writeError(w, http.StatusBadRequest, "PARAM_ERROR", "account_type 参数错误")
		return
	}
	k := key(req.SubMchid, req.OutRechargeNo)
	s.mu.Lock()
	rc, exists := s.recharges[k]
	s.mu.Unlock()
	if !exists {
		rc = s.newRecharge(req.SubMchid, req.OutRechargeNo, req.RechargeScene, req.AccountType, req.RechargeAmount.Amount)
		setState(rc, recharge.StateRecharging, s.now())
		s.mu.Lock()
		s.recharges[k] = rc
		extra := s.extraOf(k)
		extra.notifyURL, extra.remark = req.NotifyURL, req.Remark
		s.mu.Unlock()
	} else if rc.RechargeAmount == nil || rc.RechargeAmount.Amount != req.RechargeAmount.Amount {
		s.writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "商户充值单号重复，且请求参数不一致")
		return
	}
	if !ex.afterApply() {
		return
	}
	s.writeJSON(w, r, http.StatusOK, wechatpay.ApplyResponse{
		RechargeID:    rc.RechargeID,
		OutRechargeNo: rc.OutRechargeNo,
		RechargeURL:   "https://pay.weixin.qq.com/recharge?id=" + rc.RechargeID,
	})
}

func (s *Server) writeRecharge(w http.ResponseWriter, r *http.Request, rc *recharge.Recharge) {
	ex := exchangeFrom(r.Context())
	body, err := json.Marshal(rc)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	body = ex.fault.spoil(body)
	k := key(r.URL.Query().Get("sub_mchid"), r.PathValue("no"))
	s.mu.Lock()
	s.served[k] = append(s.served[k], body)
	s.mu.Unlock()
	s.send(w, ex.fault, http.StatusOK, body)
}

// stored returns a copy of the recharge a close or query request names.
func (s *Server) stored(r *http.Request) (recharge.Recharge, bool) {
	// Faults act before the mux serves, so the path is read here.
	no, ok := noFromPath(r.URL.Path)
	if !ok || opOf(r) == "apply" {
		return recharge.Recharge{}, false
	}
	return s.Recharge(r.URL.Query().Get("sub_mchid"), no)
}

func noFromPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, rechargesPath+"/out-recharge-no/")
	if !ok {
		return "", false
	}
	no, _ := strings.CutSuffix(rest, "/close")
	return no, no != "" && !strings.Contains(no, "/")
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	s.send(w, exchangeFrom(r.Context()).fault, status, body)
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]string{"code": code, "message": message})
	if rec, ok := w.(*recorder); ok {
		rec.code = code
	}
	s.send(w, nil, status, body)
}

// send signs and writes an answer. Every answer is signed, errors too, as
// WeChat Pay does; faults may spoil the signature of a 2xx one.
func (s *Server) send(w http.ResponseWriter, f *Fault, status int, body []byte) {
	s.mu.Lock()
	keys, mode := s.keys, s.signMode
	s.mu.Unlock()
	ts, nonce := s.now().Unix(), randomHex(16)
	signKey, serial := keys.PlatformKey, keys.PublicKeyID
	if mode == SignWithCertificate {
		signKey, serial = keys.CertificateKey, keys.CertificateSerial()
	}
	kind := FaultKind(-1)
	if f != nil && status/100 == 2 {
		kind = f.Kind
	}
	switch kind {
	case FaultGarbled:
		body = body[:len(body)/2]
	case FaultStaleTimestamp:
		ts -= int64(2 * MaxClockSkew / time.Second)
	case FaultBadSignature:
		signKey = keys.MerchantKey // a real RSA key, but not WeChat Pay's
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Request-ID", randomHex(16))
	if kind != FaultNoSignature {
		h.Set("Wechatpay-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Wechatpay-Nonce", nonce)
		h.Set("Wechatpay-Serial", serial)
		h.Set("Wechatpay-Signature", Sign(signKey, ResponseMessage(ts, nonce, body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Matches reports how an answer about a recharge — as a client returned or
// published it, in JSON — departs from WeChat Pay's record: it must name the
// stored recharge in its stored state, and be one of the recharge answers
// served about it (the record as sent, unknown fields and nested objects
// alike, or as a fault spoiled it): every field of that answer, with the
// value served, and nothing else. A null stands for a field left out, on
// either side. Which answer it is does not matter: one served after the
// client gave up may come last.
//
// A published answer carries the publisher's own contract_version (a string)
// beside WeChat Pay's fields; nothing else is let through. The publisher's
// other field, sp_mchid, is WeChat Pay's own in every answer served here: no
// fault takes it out.
func (s *Server) Matches(subMchid, outRechargeNo string, answer []byte) error {
	rc, ok := s.Recharge(subMchid, outRechargeNo)
	if !ok {
		return fmt.Errorf("no recharge %s/%s is stored", subMchid, outRechargeNo)
	}
	s.mu.Lock()
	served := s.served[key(subMchid, outRechargeNo)]
	s.mu.Unlock()
	var got map[string]any
	if err := json.Unmarshal(answer, &got); err != nil {
		return fmt.Errorf("answer is not a JSON object: %w", err)
	}
	for k, v := range map[string]string{"sp_mchid": rc.SpMchid, "sub_mchid": rc.SubMchid,
		"out_recharge_no": rc.OutRechargeNo, "recharge_state": rc.RechargeState} {
		if got[k] != v {
			return fmt.Errorf("answer has %s = %v, the record %q", k, got[k], v)
		}
	}
	if v, ok := got["contract_version"]; ok {
		if s, isString := v.(string); !isString || s == "" {
			return fmt.Errorf("answer has contract_version = %v, want a version string", v)
		}
		delete(got, "contract_version")
	}
	mismatch := fmt.Errorf("no answer about %s/%s was served", subMchid, outRechargeNo)
	for _, body := range served {
		var want map[string]any
		if json.Unmarshal(body, &want) != nil {
			continue
		}
		if mismatch = same("", got, want); mismatch == nil {
			return nil
		}
	}
	return mismatch
}

// same reports the first field in which got and want differ.
func same(path string, got, want map[string]any) error {
	for k, w := range want {
		if _, ok := got[k]; !ok && w != nil {
			return fmt.Errorf("answer has no %s%s; WeChat Pay sent %v", path, k, w)
		}
	}
	for k, g := range got {
		w := want[k]
		gm, gIsMap := g.(map[string]any)
		wm, wIsMap := w.(map[string]any)
		switch {
		case gIsMap && wIsMap:
			if err := same(path+k+".", gm, wm); err != nil {
				return err
			}
		case !reflect.DeepEqual(g, w):
			return fmt.Errorf("answer has %s%s = %v; WeChat Pay sent %v", path, k, g, w)
		}
	}
	return nil
}
