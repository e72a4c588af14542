package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/simulator"
)

// logLines parses the function's JSON output lines.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestLogsAndMetricsForEveryOutcome reads the function's real output under the
// emulator: one summary line and one EMF document per invocation, with the
// fields an operator searches by.
func TestLogsAndMetricsForEveryOutcome(t *testing.T) {
	s := newStack(t)
	em := start(t, s.env("LOG_LEVEL=debug", "METRICS_NAMESPACE=TestRecharges"))
	s.seed(t, "OBSCLOSE", "RECHARGING")
	s.seed(t, "OBSPAID", "SUCCESS")
	s.seed(t, "OBSBUSY", "RECHARGING")
	cases := []struct {
		no, payload, outcome, state string
		fault                       *simulator.Fault
		wechat                      bool // whether WeChat Pay answered, so its Request-ID is logged
	}{
		{"OBSCLOSE", httpAPI("OBSCLOSE"), "closed", "CLOSED", nil, true},
		{"OBSPAID", direct("OBSPAID"), "not_closable", "SUCCESS", nil, true},
		{"OBSNONE", envelope("OBSNONE"), "refused", "", nil, true},
		{"OBSBUSY", direct("OBSBUSY"), "transient", "", &simulator.Fault{Kind: simulator.FaultStatus, Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 4}, true},
		{"", `{"sub_mchid":"1900000109","out_recharge_no":"bad/id"}`, "invalid_input", "", nil, false},
	}
	for _, c := range cases {
		if c.fault != nil {
			s.sim.Inject(*c.fault)
		}
		invoke(t, em, c.payload)
		s.sim.ClearFaults()
	}

	// The emulator hands the answer back before the function's stdout has
	// necessarily reached the log: wait for every summary line.
	waitUntil(5*time.Second, func() bool { return strings.Count(em.Logs(), `"msg":"close recharge"`) >= len(cases) })
	lines := logLines(t, em.Logs())
	summaries := map[string]map[string]any{} // outcome → summary line
	emf := map[string]map[string]any{}       // aws_request_id → EMF document
	attempts := 0
	for _, l := range lines {
		switch {
		case l["msg"] == "close recharge":
			summaries[l["outcome"].(string)] = l
		case l["_aws"] != nil:
			emf[l["aws_request_id"].(string)] = l
		case l["msg"] == "wechatpay attempt":
			attempts++
			if l["aws_request_id"] == nil || l["level"] != "DEBUG" {
				t.Errorf("attempt line without request id: %v", l)
			}
		}
	}
	if attempts < 4 {
		t.Errorf("%d debug attempt lines", attempts)
	}
	for i, c := range cases {
		sum := summaries[c.outcome]
		if sum == nil {
			t.Errorf("no summary line for %s", c.outcome)
			continue
		}
		for _, f := range []string{"aws_request_id", "trigger", "sub_mchid", "out_recharge_no", "attempts", "duration_ms"} {
			if _, ok := sum[f]; !ok {
				t.Errorf("%s summary lacks %s: %v", c.outcome, f, sum)
			}
		}
		if sum["out_recharge_no"] != c.no && c.no != "" {
			t.Errorf("%s summary names %v", c.outcome, sum["out_recharge_no"])
		}
		if c.state != "" && sum["recharge_state"] != c.state {
			t.Errorf("%s summary recharge_state = %v", c.outcome, sum["recharge_state"])
		}
		if _, ok := sum["wechatpay_request_id"]; ok != c.wechat {
			t.Errorf("%s summary wechatpay_request_id present = %v", c.outcome, ok)
		}
		if i == 0 && sum["api_request_id"] != "req-OBSCLOSE" {
			t.Errorf("API summary api_request_id = %v", sum["api_request_id"])
		}
		doc := emf[sum["aws_request_id"].(string)]
		if doc == nil {
			t.Errorf("no EMF document for the %s invocation", c.outcome)
			continue
		}
		aws := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if doc["Outcome"] != c.outcome || aws["Namespace"] != "TestRecharges" || doc["Invocations"] != 1.0 || doc["Attempts"] != sum["attempts"] {
			t.Errorf("%s EMF document = %v", c.outcome, doc)
		}
		if cold := doc["ColdStart"]; (i == 0) != (cold == 1.0) {
			t.Errorf("%s ColdStart = %v", c.outcome, cold)
		}
	}
	if leaks := scanForLeaks(em.Logs()); len(leaks) != 0 {
		t.Errorf("leaks: %v", leaks)
	}
}

func TestConfigurationErrorIsLoggedAndCounted(t *testing.T) {
	s := newStack(t)
	// The later WECHATPAY_SECRET_ID wins over the stack's.
	em := start(t, s.env("WECHATPAY_SECRET_ID=wechatpay/missing"))
	invoke(t, em, direct("R1"))
	var sum, doc map[string]any
	for _, l := range logLines(t, em.Logs()) {
		if l["msg"] == "close recharge" {
			sum = l
		}
		if l["_aws"] != nil {
			doc = l
		}
	}
	if sum == nil || sum["outcome"] != "configuration_error" || sum["level"] != "ERROR" || !strings.Contains(sum["error"].(string), "wechatpay/missing") {
		t.Errorf("summary = %v", sum)
	}
	// Two reads: the one started at init, and the invocation's own after it failed.
	if doc == nil || doc["Outcome"] != "configuration_error" || doc["SecretReads"] != 2.0 {
		t.Errorf("EMF = %v", doc)
	}
}
