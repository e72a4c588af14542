package wechatpay_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

// Every outcome comes from one answer about this recharge: a signed answer
// about another recharge, or one that does not say the recharge's state, never
// decides it, and nothing of one attempt's answer reaches another.
func TestAnswerIntegrity(t *testing.T) {
	const other = `{"sp_mchid":"%s","sub_mchid":"` + sub + `","out_recharge_no":"OTHER1","recharge_state":"CLOSED",` +
		`"recharge_amount":{"amount":999999,"currency":"CNY"},"qr_recharge_info":{"openid":"o-not-this-payer"},"close_time":"2026-01-01T00:00:00+08:00"}`
	status500 := simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR", Times: 10}
	tests := []struct {
		name     string
		faults   []simulator.Fault
		wantCode string // "" = closed, and every field is the record's
	}{
		{"another recharge's answer, then one without a state", []simulator.Fault{
			{Kind: simulator.FaultBody, Op: "close", Status: 200, Body: other},
			{Kind: simulator.FaultBody, Op: "close", Status: 200, Body: `{"sub_mchid":"` + sub + `","out_recharge_no":"R1"}`},
			status500}, "SYSTEM_ERROR"},
		{"another recharge's answer, then a null state", []simulator.Fault{
			{Kind: simulator.FaultBody, Op: "close", Status: 200, Body: other},
			{Kind: simulator.FaultBody, Op: "close", Status: 200, Body: `{"sub_mchid":"` + sub + `","out_recharge_no":"R1","recharge_state":null}`},
			status500}, "SYSTEM_ERROR"},
		{"state-less answers throughout", []simulator.Fault{{Kind: simulator.FaultBody, Op: "close", Status: 200, Times: 10,
			Body: `{"sub_mchid":"` + sub + `","out_recharge_no":"R1","recharge_amount":{"amount":1}}`}}, fault.CodeInvalidResponse},
		{"a state-less answer once the close took effect", []simulator.Fault{{Kind: simulator.FaultNoState, Op: "close", Times: 10}}, ""},
		{"an undocumented state", []simulator.Fault{{Kind: simulator.FaultUnknownState, Op: "close"}}, fault.CodeInvalidResponse},
		{"another sub_mchid's recharge", []simulator.Fault{{Kind: simulator.FaultOtherSubMchid, Op: "close"}}, ""},
		{"another platform merchant's recharge", []simulator.Fault{{Kind: simulator.FaultOtherSpMchid, Op: "close"}}, ""},
		{"another sub_mchid's recharge on the settling query", []simulator.Fault{
			{Kind: simulator.FaultResetAfter, Op: "close"}, {Kind: simulator.FaultOtherSubMchid, Op: "query"}}, ""},
		{"204 without a body", []simulator.Fault{{Kind: simulator.FaultBody, Op: "close", Status: 204}}, ""},
		{"fields dropped", []simulator.Fault{{Kind: simulator.FaultDropFields, Op: "close"}}, ""},
		{"fields null", []simulator.Fault{{Kind: simulator.FaultNullFields, Op: "close"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			for _, f := range tt.faults {
				if f.Kind == simulator.FaultBody {
					f.Body = strings.Replace(f.Body, "%s", testKeys(t).MchID, 1)
				}
				e.sim.Inject(f)
			}
			r, _, err := closeTraced(context.Background(), e.client, "R1")
			if tt.wantCode != "" {
				assertFault(t, err, fault.Transient, tt.wantCode)
				if r != nil {
					t.Errorf("a recharge came back with the error: %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			assertRecord(t, e.sim, r)
		})
	}
}

// assertRecord checks that an answer is CLOSED or SUCCESS and that every field
// of it is the simulator's record.
func assertRecord(t *testing.T, sim *simulator.Server, got *recharge.Recharge) {
	t.Helper()
	record, _ := sim.Recharge(sub, "R1")
	if record.RechargeState != recharge.StateClosed && record.RechargeState != recharge.StateSuccess {
		t.Fatalf("record is %s, but the close returned %+v", record.RechargeState, got)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Matches(sub, "R1", b); err != nil {
		t.Fatalf("returned %s: %v", b, err)
	}
}

// A 404 is a missing recharge only when its code says ORDER_NOT_EXIST; an
// error answer without WeChat Pay's error shape is a fault of ours, named by
// our own code and the status, never by HTTP's status text.
func TestErrorAnswersWithoutWeChatPaysShape(t *testing.T) {
	tests := []struct {
		name        string
		fault       simulator.Fault
		wantCode    string // after every attempt failed
		wantMessage string
	}{
		{"HTML 404 from a gateway", simulator.Fault{Kind: simulator.FaultBody, Status: 404, Body: "<html><body>404 Not Found</body></html>"},
			fault.CodeUpstream, "HTTP 404"},
		{"404 NOT_FOUND from a changed path", simulator.Fault{Kind: simulator.FaultBody, Status: 404, Body: `{"code":"NOT_FOUND","message":"Not Found"}`},
			"NOT_FOUND", "Not Found"},
		{"404 with an empty body", simulator.Fault{Kind: simulator.FaultBody, Status: 404}, fault.CodeUpstream, "HTTP 404"},
		{"HTML 502", simulator.Fault{Kind: simulator.FaultBody, Status: 502, Body: "<html>Bad Gateway</html>"}, fault.CodeUpstream, "HTTP 502"},
		{"JSON 500 without a code", simulator.Fault{Kind: simulator.FaultBody, Status: 500, Body: `{"message":"oops"}`}, fault.CodeUpstream, "HTTP 500"},
		{"HTML 403 from a firewall", simulator.Fault{Kind: simulator.FaultBody, Status: 403, Body: "<html>Forbidden</html>"}, fault.CodeUpstream, "HTTP 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is retried", func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			f := tt.fault
			f.Op = "close"
			e.sim.Inject(f)
			r, tr, err := closeTraced(context.Background(), e.client, "R1")
			if err != nil || r.RechargeState != recharge.StateClosed || tr.Attempts != 2 {
				t.Fatalf("Close = %+v, %v after %d attempts; want CLOSED after 2", r, err, tr.Attempts)
			}
		})
		t.Run(tt.name+" throughout is transient", func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", recharge.StateRecharging)
			f := tt.fault
			f.Op, f.Times = "close", 10
			e.sim.Inject(f)
			_, _, err := closeTraced(context.Background(), e.client, "R1")
			assertFault(t, err, fault.Transient, tt.wantCode)
			if msg := fault.As(err).Message; !strings.Contains(msg, tt.wantMessage) || strings.Contains(msg, "<html") {
				t.Errorf("message %q, want it to name %q and quote no body", msg, tt.wantMessage)
			}
		})
	}
	t.Run("404 ORDER_NOT_EXIST is final", func(t *testing.T) {
		e := publicKeyEnv(t)
		_, tr, err := closeTraced(context.Background(), e.client, "R1")
		assertFault(t, err, fault.Refused, "ORDER_NOT_EXIST")
		if tr.Attempts != 1 {
			t.Errorf("attempts = %d, want 1", tr.Attempts)
		}
	})
}

// After a business refusal the settling query decides, and only its answer
// about this recharge can end the close.
func TestSettlingQuery(t *testing.T) {
	tests := []struct {
		name     string
		state    string
		query    simulator.Fault
		wantKind fault.Kind // "" = the record comes back
		wantCode string
	}{
		{"business error on the query of a CLOSED recharge", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultStatus, Status: 403, Code: "RULE_LIMIT"}, fault.Transient, fault.CodeUnsettled},
		{"INVALID_REQUEST on the query", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultStatus, Status: 400, Code: "INVALID_REQUEST"}, fault.Transient, fault.CodeUnsettled},
		{"NO_AUTH on the query", recharge.StateSuccess,
			simulator.Fault{Kind: simulator.FaultStatus, Status: 403, Code: "NO_AUTH"}, fault.Transient, fault.CodeUnsettled},
		{"ORDER_NOT_EXIST on the query", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultStatus, Status: 404, Code: "ORDER_NOT_EXIST"}, fault.Refused, "ORDER_NOT_EXIST"},
		{"HTML 404 on the query", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultBody, Status: 404, Body: "<html>Not Found</html>", Times: 10}, fault.Transient, fault.CodeUpstream},
		{"undocumented state on the query", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultUnknownState}, fault.Transient, fault.CodeUnsettled},
		{"another recharge's answer, then the right one", recharge.StateClosed,
			simulator.Fault{Kind: simulator.FaultOtherRecharge}, "", ""},
		{"a state-less answer, then the right one", recharge.StateSuccess,
			simulator.Fault{Kind: simulator.FaultNullState}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			e.seed(t, "R1", tt.state)
			q := tt.query
			q.Op = "query"
			e.sim.Inject(q)
			r, _, err := closeTraced(context.Background(), e.client, "R1")
			if tt.wantKind != "" {
				assertFault(t, err, tt.wantKind, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			assertRecord(t, e.sim, r)
		})
	}
}

// The client says what each failure is in the function's own words: nothing
// past it reads WeChat Pay's codes or statuses.
func TestFailuresAreClassifiedIntoReasons(t *testing.T) {
	tests := []struct {
		name   string
		state  string
		fault  simulator.Fault
		reason fault.Reason
	}{
		{"ORDER_NOT_EXIST", "", simulator.Fault{Kind: simulator.FaultNone}, fault.NotFound},
		{"NO_AUTH", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultStatus, Status: 403, Code: "NO_AUTH"}, fault.Forbidden},
		{"business refusal while recharging", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultRefuse, Status: 403, Code: "RULE_LIMIT"}, fault.Conflict},
		{"429 throughout", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultStatus, Status: 429, Code: "RATELIMIT_EXCEEDED", Times: 10}, fault.Unavailable},
		{"FREQUENCY_LIMITED throughout", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultStatus, Status: 403, Code: "FREQUENCY_LIMITED", Times: 10}, fault.Unavailable},
		{"HTML 503 throughout", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultBody, Status: 503, Body: "<html/>", Times: 10}, fault.Unavailable},
		{"500 throughout", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultStatus, Status: 500, Code: "SYSTEM_ERROR", Times: 10}, fault.Upstream},
		{"hung", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultLatency, Delay: 3 * time.Second, Times: 10}, fault.TimedOut},
		{"SIGN_ERROR", recharge.StateRecharging, simulator.Fault{Kind: simulator.FaultStatus, Status: 401, Code: "SIGN_ERROR"}, fault.Misconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := publicKeyEnv(t)
			if tt.state != "" {
				e.seed(t, "R1", tt.state)
			}
			f := tt.fault
			f.Op = "close"
			e.sim.Inject(f)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, _, err := closeTraced(ctx, e.client, "R1")
			if fe := fault.As(err); fe == nil || fe.Why() != tt.reason {
				t.Fatalf("err = %v, want reason %s", err, tt.reason)
			}
		})
	}
}
