package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/simulator"
)

// A WeChat Pay that never answers must end as the transient timeout outcome,
// answered by the function itself: an answer at all, and no "Task timed out",
// show that Lambda's own timeout did not strike first.
func TestHungWeChatPayEndsAsATimeoutBeforeTheDeadline(t *testing.T) {
	s := newStack(t)
	const timeout = 3 * time.Second
	em := startWithTimeout(t, s.env(), timeout)
	s.seed(t, "HUNG1", "RECHARGING")
	s.seed(t, "HUNG2", "RECHARGING")
	s.sim.Inject(simulator.Fault{Kind: simulator.FaultLatency, Op: "close", Delay: time.Minute, Times: 100})

	resp := invoke(t, em, httpAPI("HUNG1"))
	if got := reduce(t, resp); got.status != 504 || got.code != "TIMEOUT" {
		t.Errorf("API: %+v, want 504 TIMEOUT", got)
	}
	resp = invoke(t, em, direct("HUNG2"))
	if got := reduce(t, resp); got.errorType != "TRANSIENT" || !strings.Contains(got.body, "TIMEOUT") {
		t.Errorf("direct: %+v, want a TRANSIENT TIMEOUT", got)
	}
	if strings.Contains(em.Logs(), "Task timed out") {
		t.Errorf("Lambda's timeout struck:\n%s", em.Logs())
	}
}

func TestAWSFaultsAreTransient(t *testing.T) {
	const throttled = `{"__type":"ThrottlingException","message":"Rate exceeded"}`
	const partial = `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"try again"}]}`
	tests := []struct {
		name     string
		env      []string
		answerOp string // proxy answers this operation with status/body instead of moto
		status   int
		body     string
		closed   bool   // whether WeChat Pay closed the recharge before the failure
		code     string // what the caller is told
		api      int    // and the API status
	}{
		{name: "Secrets Manager unreachable", env: []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:1"}, code: "NETWORK_ERROR", api: 502},
		{name: "Secrets Manager throttled", answerOp: "secretsmanager.GetSecretValue", status: 400, body: throttled, code: "NETWORK_ERROR", api: 502},
		{name: "EventBridge unreachable", env: []string{"AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:1"}, closed: true, code: "PUBLISH_FAILED", api: 502},
		{name: "EventBridge throttled", answerOp: "AWSEvents.PutEvents", status: 400, body: throttled, closed: true, code: "PUBLISH_FAILED", api: 502},
		{name: "EventBridge takes the call but not the entry", answerOp: "AWSEvents.PutEvents", status: 200, body: partial, closed: true, code: "PUBLISH_FAILED", api: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			if tt.answerOp != "" {
				s.proxy.Answer(tt.answerOp, tt.status, tt.body)
			}
			em := start(t, s.env(tt.env...))
			s.seed(t, "AWS1", "RECHARGING")
			s.seed(t, "AWS2", "RECHARGING")
			if got := reduce(t, invoke(t, em, direct("AWS1"))); got.errorType != "TRANSIENT" || !strings.HasPrefix(got.body, tt.code+":") {
				t.Errorf("direct: %+v, want TRANSIENT %s", got, tt.code)
			}
			if got := reduce(t, invoke(t, em, httpAPI("AWS2"))); got.status != tt.api || got.code != tt.code {
				t.Errorf("API: %+v, want %d %s", got, tt.api, tt.code)
			}
			if r, _ := s.sim.Recharge(sub, "AWS1"); (r.RechargeState == "CLOSED") != tt.closed {
				t.Errorf("recharge is %s", r.RechargeState)
			}

			// Lambda retries the failed event once the fault is gone: nothing is lost.
			s.proxy.Forward(tt.answerOp)
			em.Stop()
			retry := start(t, s.env())
			if got := reduce(t, invoke(t, retry, direct("AWS1"))); got.state != "CLOSED" {
				t.Errorf("retry: %+v", got)
			}
			events, err := s.bus.Drain()
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].DetailType != "Recharge Closed" {
				t.Errorf("published %+v, want one Recharge Closed", events)
			}
		})
	}
}

func TestHostileInputNeverReachesWeChatPay(t *testing.T) {
	s := newStack(t)
	em := start(t, s.env())
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	payloads := []string{
		`{"sub_mchid":"1900000109","out_recharge_no":"R1","out_recharge_no":"../../v3/x"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"R1/close?sub_mchid=1"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"R%2F1"}`,
		`{"sub_mchid":1900000109,"out_recharge_no":"R1"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"R1","x":` + deep + `}`,
		"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R1\xff\"}",
		`{"detail-type":"Recharge Expired","detail":"{\"sub_mchid\":\"1900000109\"}"}`,
		strings.Replace(httpAPI("R1"), `"isBase64Encoded":false`, `"body":"{\"sub_mchid\":\"1900000108\"}","isBase64Encoded":false`, 1),
		strings.Replace(httpAPI("R1"), `"isBase64Encoded":false`, `"body":"`+strings.Repeat("A", 8192)+`","isBase64Encoded":true`, 1),
		`"just a string"`,
		`[]`,
	}
	for _, p := range payloads {
		got := reduce(t, invoke(t, em, p))
		if got.errorType != "INVALID_INPUT" && !(got.status == 400 && got.code == "INVALID_INPUT") {
			t.Errorf("%.80s…: %+v, want invalid input", p, got)
		}
	}
	if n := s.sim.Calls("close") + s.sim.Calls("query"); n != 0 {
		t.Errorf("WeChat Pay saw %d requests", n)
	}
	// The instance reads the secret once at init, whatever the first event is;
	// hostile input must add nothing to that.
	waitUntil(5*time.Second, func() bool { return s.proxy.Calls("secretsmanager.GetSecretValue") > 0 })
	if reads, puts := s.proxy.Calls("secretsmanager.GetSecretValue"), s.proxy.Calls("AWSEvents.PutEvents"); reads != 1 || puts != 0 {
		t.Errorf("AWS saw %d secret reads and %d PutEvents, want the init's one read and nothing else", reads, puts)
	}
	// The answer can come back before the function's last log line is read.
	waitUntil(5*time.Second, func() bool { return strings.Count(em.Logs(), `"msg":"close recharge"`) >= len(payloads) })
	summaries := 0
	for _, l := range strings.Split(strings.TrimSpace(em.Logs()), "\n") {
		var line map[string]any
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &line) != nil || line["msg"] != "close recharge" {
			continue
		}
		summaries++
		if line["outcome"] != "invalid_input" {
			t.Errorf("summary line with outcome %v", line["outcome"])
		}
	}
	if summaries != len(payloads) {
		t.Errorf("%d summary lines for %d invocations", summaries, len(payloads))
	}
}
