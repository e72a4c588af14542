package simulator

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"close-recharge/internal/recharge"
)

// FaultKind is a way for an answer to go wrong.
type FaultKind int

const (
	// FaultStatus answers Status with Code, doing nothing.
	FaultStatus FaultKind = iota
	// FaultLatency waits Delay, then serves the request normally.
	FaultLatency
	// FaultResetBefore drops the connection before the request is applied.
	FaultResetBefore
	// FaultResetAfter applies the request, then drops the connection: the
	// client cannot know whether its close happened.
	FaultResetAfter
	// FaultBadSignature signs a 2xx answer with a key that is not WeChat Pay's.
	FaultBadSignature
	// FaultNoSignature sends a 2xx answer without the Wechatpay-* headers.
	FaultNoSignature
	// FaultStaleTimestamp signs a 2xx answer with a timestamp ten minutes old.
	FaultStaleTimestamp
	// FaultGarbled sends a correctly signed 2xx answer that is not JSON.
	FaultGarbled
	// FaultOtherRecharge sends a correctly signed answer about another recharge.
	FaultOtherRecharge
	// FaultNone serves the request normally: a placeholder in a queue of faults.
	FaultNone
	// FaultOtherSubMchid sends a signed answer about another secondary merchant's recharge.
	FaultOtherSubMchid
	// FaultOtherSpMchid sends a signed answer naming another platform merchant.
	FaultOtherSpMchid
	// FaultNoState sends a signed recharge without recharge_state.
	FaultNoState
	// FaultNullState sends a signed recharge whose recharge_state is null.
	FaultNullState
	// FaultUnknownState sends a signed recharge in a state WeChat Pay has not documented.
	FaultUnknownState
	// FaultDropFields sends a signed recharge holding only its identifiers and state.
	FaultDropFields
	// FaultNullFields sends a signed recharge whose every other field is null.
	FaultNullFields
	// FaultBody answers Status with Body as it is (an HTML page, an empty body,
	// JSON without a code), doing nothing. A 2xx one is signed.
	FaultBody
	// FaultRefuse answers Status with Code, doing nothing, while the recharge
	// is RECHARGING; otherwise it serves the request normally. It is WeChat
	// Pay refusing a close for a rule of its own.
	FaultRefuse
	// FaultPaid makes the money arrive just before the request is served: a
	// RECHARGING recharge becomes SUCCESS.
	FaultPaid
)

var faultNames = map[FaultKind]string{
	FaultStatus: "status", FaultLatency: "latency", FaultResetBefore: "reset-before",
	FaultResetAfter: "reset-after", FaultBadSignature: "bad-signature", FaultNoSignature: "no-signature",
	FaultStaleTimestamp: "stale-timestamp", FaultGarbled: "garbled", FaultOtherRecharge: "other-recharge",
	FaultNone: "none", FaultOtherSubMchid: "other-sub-mchid", FaultOtherSpMchid: "other-sp-mchid",
	FaultNoState: "no-state", FaultNullState: "null-state", FaultUnknownState: "unknown-state",
	FaultDropFields: "drop-fields", FaultNullFields: "null-fields", FaultBody: "body", FaultRefuse: "refuse", FaultPaid: "paid",
}

func (k FaultKind) String() string { return faultNames[k] }

// Fault is injected into the next Times requests (1 if zero) to Op ("apply",
// "query", "close"; empty for any) about OutRechargeNo (empty for any) that
// pass signature verification.
type Fault struct {
	Kind          FaultKind
	Op            string
	OutRechargeNo string
	Times         int
	Status        int    // FaultStatus, FaultBody, FaultRefuse
	Code          string // FaultStatus, FaultRefuse
	Body          string // FaultBody
	Delay         time.Duration
}

// Inject queues faults; each request takes from the first one that matches it.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times <= 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, &f)
	}
}

// ClearFaults drops all queued faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(op, outRechargeNo string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Op == "" || f.Op == op) && (f.OutRechargeNo == "" || f.OutRechargeNo == outRechargeNo) {
			taken := *f
			if f.Times--; f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return &taken
		}
	}
	return nil
}

// Outage is a window of the simulator's clock in which every request that
// reaches it is answered Status with Code (Code defaults by Status), whatever
// it asks and before the rate limit counts it: WeChat Pay down
// (503 SERVICE_UNAVAILABLE) or refusing everyone (429 RATELIMIT_EXCEEDED)
// for minutes, not for a counted number of requests as Inject's faults are.
// With Every above 1 the outage is partial: it answers one request in Every
// that arrive in the window (the Every-th, the 2×Every-th, …) and lets the
// others through — WeChat Pay failing a share of requests for minutes.
type Outage struct {
	Start  time.Time
	Length time.Duration
	Status int
	Code   string
	Every  int
}

// SetOutage replaces the outage window (Status 503 if zero); the zero Outage
// is none.
func (s *Server) SetOutage(o Outage) {
	if o.Status == 0 {
		o.Status = http.StatusServiceUnavailable
	}
	if o.Code == "" {
		o.Code = defaultCode(o.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage, s.inOutage = o, 0
}

// Outaged is how many requests the outage window answered.
func (s *Server) Outaged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outaged
}

// down reports whether a request arriving now falls in the outage window,
// and counts it if so.
func (s *Server) down() (status int, code string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.outage
	if o.Length <= 0 {
		return 0, "", false
	}
	if now := s.now(); now.Before(o.Start) || !now.Before(o.Start.Add(o.Length)) {
		return 0, "", false
	}
	if s.inOutage++; o.Every > 1 && s.inOutage%o.Every != 0 {
		return 0, "", false
	}
	s.outaged++
	return o.Status, o.Code, true
}

// exchange is one request in flight and the fault it carries.
type exchange struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	body  []byte
	fault *Fault
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *exchange {
	if ex, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		return ex
	}
	return &exchange{}
}

// before acts on faults that strike before the request is served; false
// means the request is finished.
func (ex *exchange) before() bool {
	switch ex.fault.Kind {
	case FaultStatus:
		status, code := ex.fault.Status, ex.fault.Code
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if code == "" {
			code = defaultCode(status)
		}
		ex.s.writeError(ex.w, status, code, "模拟故障："+code)
		return false
	case FaultLatency:
		// The request is served even if the client has given up: an answer that
		// arrives too late is exactly how a close becomes ambiguous.
		select {
		case <-time.After(ex.fault.Delay):
		case <-ex.r.Context().Done():
		}
	case FaultResetBefore:
		ex.drop()
		return false
	case FaultBody:
		ex.s.send(ex.w, ex.fault, ex.fault.Status, []byte(ex.fault.Body))
		return false
	case FaultRefuse:
		if rc, ok := ex.s.stored(ex.r); ok && rc.RechargeState == recharge.StateRecharging {
			ex.s.writeError(ex.w, ex.fault.Status, ex.fault.Code, "模拟拒绝："+ex.fault.Code)
			return false
		}
	case FaultPaid:
		if rc, ok := ex.s.stored(ex.r); ok && rc.RechargeState == recharge.StateRecharging {
			ex.s.SetState(rc.SubMchid, rc.OutRechargeNo, recharge.StateSuccess)
		}
	}
	return true
}

// spoil rewrites a signed recharge answer as a content fault asks; other
// answers pass unchanged.
func (f *Fault) spoil(body []byte) []byte {
	if f == nil {
		return body
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	identity := map[string]bool{"sp_mchid": true, "sub_mchid": true, "out_recharge_no": true, "recharge_state": true}
	str := func(k string) string { var s string; _ = json.Unmarshal(m[k], &s); return s }
	quote := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	switch f.Kind {
	case FaultOtherRecharge:
		m["out_recharge_no"] = quote(str("out_recharge_no") + "X")
	case FaultOtherSubMchid:
		m["sub_mchid"] = quote(str("sub_mchid") + "1")
	case FaultOtherSpMchid:
		m["sp_mchid"] = quote(str("sp_mchid") + "1")
	case FaultNoState:
		delete(m, "recharge_state")
	case FaultNullState:
		m["recharge_state"] = json.RawMessage("null")
	case FaultUnknownState:
		m["recharge_state"] = quote("FROZEN")
	case FaultDropFields, FaultNullFields:
		for k := range m {
			switch {
			case identity[k]:
			case f.Kind == FaultDropFields:
				delete(m, k)
			default:
				m[k] = json.RawMessage("null")
			}
		}
	default:
		return body
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// afterApply acts on faults that strike once the request took effect; false
// means the request is finished.
func (ex *exchange) afterApply() bool {
	if ex.fault != nil && ex.fault.Kind == FaultResetAfter {
		ex.drop()
		return false
	}
	return true
}

// drop closes the connection with a TCP reset and no answer.
func (ex *exchange) drop() {
	conn, _, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func defaultCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "RATELIMIT_EXCEEDED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case http.StatusNotFound:
		return "ORDER_NOT_EXIST"
	case http.StatusForbidden:
		return "NO_AUTH"
	case http.StatusUnauthorized:
		return "SIGN_ERROR"
	case http.StatusBadRequest:
		return "PARAM_ERROR"
	}
	return "SYSTEM_ERROR"
}
