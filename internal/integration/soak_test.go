package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/simulator"
)

func envelope(no string) string {
	return fmt.Sprintf(`{"version":"0","id":"e-%[1]s","detail-type":"Recharge Expired","source":"platform.recharges",`+
		`"account":"123456789012","time":"2026-12-01T02:00:00Z","region":"ap-east-1","resources":[],`+
		`"detail":{"sub_mchid":%[2]q,"out_recharge_no":%[1]q}}`, no, sub)
}

func restAPI(no string) string {
	return fmt.Sprintf(`{"resource":"/recharges/{out_recharge_no}/close","path":"/recharges/%[1]s/close","httpMethod":"POST",`+
		`"pathParameters":{"out_recharge_no":%[1]q},"requestContext":{"requestId":"rest-%[1]s"},`+
		`"body":"{\"sub_mchid\":\"%[2]s\"}","isBase64Encoded":false}`, no, sub)
}

func scheduler(no string) string {
	return fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q,"expire_time":"2026-12-01T10:00:00+08:00"}`, sub, no)
}

var soakTriggers = map[string]func(string) string{
	"direct": direct, "scheduler": scheduler, "eventbridge": envelope, "http-api": httpAPI, "rest-api": restAPI,
}

// scenario is one way an invocation can meet the world, and the outcome it must end in.
type scenario struct {
	name   string
	weight int
	state  string // seeded recharge state; "" for none
	faults []simulator.Fault
	// aws is an answer the proxy gives PutEvents instead of moto.
	aws  string
	bad  bool // the payload itself is hostile
	want string
}

const failedEntry = `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"try again"}]}`

var scenarios = []scenario{
	{name: "no fault", weight: 30, state: "RECHARGING", want: "closed"},
	{name: "already closed", weight: 5, state: "CLOSED", want: "closed"},
	{name: "paid first", weight: 5, state: "SUCCESS", want: "not_closable"},
	{name: "unknown recharge", weight: 4, want: "refused"},
	{name: "business refusal", weight: 3, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 403, Code: "RULE_LIMIT"}}, want: "refused"},
	{name: "500 once", weight: 6, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR"}}, want: "closed"},
	{name: "429 once", weight: 5, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Op: "close", Status: 429, Code: "RATELIMIT_EXCEEDED"}}, want: "closed"},
	{name: "503 throughout", weight: 2, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultStatus, Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 50}}, want: "transient"},
	{name: "reset before close", weight: 6, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultResetBefore, Op: "close"}}, want: "closed"},
	{name: "reset after close", weight: 6, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultResetAfter, Op: "close"}}, want: "closed"},
	{name: "latency", weight: 4, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultLatency, Op: "close", Delay: 300 * time.Millisecond}}, want: "closed"},
	{name: "hung", weight: 1, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultLatency, Delay: time.Minute, Times: 50}}, want: "transient"},
	{name: "forged answer", weight: 4, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultBadSignature, Op: "close"}}, want: "closed"},
	{name: "unsigned answer", weight: 4, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultNoSignature, Op: "close"}}, want: "closed"},
	{name: "stale answer", weight: 2, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultStaleTimestamp, Op: "close"}}, want: "closed"},
	{name: "garbled JSON", weight: 4, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultGarbled, Op: "close"}}, want: "closed"},
	{name: "answer for another recharge", weight: 3, state: "RECHARGING", faults: []simulator.Fault{{Kind: simulator.FaultOtherRecharge, Op: "close"}}, want: "closed"},
	{name: "PutEvents entry failed", weight: 3, state: "RECHARGING", aws: failedEntry, want: "transient"},
	{name: "hostile payload", weight: 3, bad: true, want: "invalid_input"},
}

// kindOf reduces an answer to its outcome (docs/architecture.md, "Outcomes and published events").
func kindOf(a answer) string {
	switch {
	case a.errorType == "INVALID_INPUT" || a.status == 400:
		return "invalid_input"
	case a.errorType == "TRANSIENT" || a.status >= 502:
		return "transient"
	case a.errorType == "CONFIGURATION_ERROR" || a.status == 500:
		return "configuration_error"
	case a.errorType == "REFUSED" || a.code != "":
		return "refused"
	case a.state == "CLOSED":
		return "closed"
	case a.state == "SUCCESS":
		return "not_closable"
	}
	return "unknown"
}

var (
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/]{300,}={0,2}`)
	leakWords  = []string{"PRIVATE KEY", "WECHATPAY2-SHA256-RSA2048", `signature="`, "Wechatpay-Signature"}
)

// TestSoak runs a few hundred invocations across every trigger while the
// simulator and the AWS proxy inject a random mix of faults. Every invocation
// must end in its expected outcome, every transient one must close when Lambda
// retries it, every success must be published exactly once, and no key,
// signature or Authorization value may appear in any log or answer.
// SOAK_INVOCATIONS sets the count (make soak: 600), SOAK_SEED the mix.
func TestSoak(t *testing.T) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("SOAK_INVOCATIONS")); err == nil && v > 0 {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("soak: %d invocations, SOAK_SEED=%d", n, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	s := newStack(t)
	em := startWithTimeout(t, s.env("LOG_LEVEL=debug"), 5*time.Second)
	total := 0
	for _, sc := range scenarios {
		total += sc.weight
	}
	pick := func() scenario {
		r := rng.IntN(total)
		for _, sc := range scenarios {
			if r -= sc.weight; r < 0 {
				return sc
			}
		}
		return scenarios[0]
	}
	triggerNames := make([]string, 0, len(soakTriggers))
	for k := range soakTriggers {
		triggerNames = append(triggerNames, k)
	}
	sort.Strings(triggerNames)

	tally := map[string]map[string]int{} // scenario → outcome → count
	byTrigger := map[string]int{}
	wantPublished := map[string]string{} // out_recharge_no → detail type
	var answers strings.Builder
	lost, wrong := 0, 0
	for i := range n {
		sc := pick()
		trig := triggerNames[rng.IntN(len(triggerNames))]
		no := fmt.Sprintf("SOAK%05d", i)
		payload := soakTriggers[trig](no)
		if sc.bad {
			payload = strings.ReplaceAll(payload, no, no+"/../x")
		}
		if sc.state != "" {
			s.seed(t, no, sc.state)
		}
		s.sim.Inject(sc.faults...)
		if sc.aws != "" {
			s.proxy.Answer("AWSEvents.PutEvents", 200, sc.aws)
		}
		resp := invoke(t, em, payload)
		s.sim.ClearFaults()
		s.proxy.Forward("AWSEvents.PutEvents")
		answers.Write(resp.Body)
		got := kindOf(reduce(t, resp))
		if tally[sc.name] == nil {
			tally[sc.name] = map[string]int{}
		}
		tally[sc.name][got]++
		byTrigger[trig]++
		if got != sc.want {
			t.Errorf("#%d %s via %s: outcome %s, want %s: %s", i, sc.name, trig, got, sc.want, resp.Body)
			wrong++
			continue
		}
		if got == "transient" {
			// Lambda retries a failed event; the API caller retries a 5xx.
			retry := invoke(t, em, payload)
			answers.Write(retry.Body)
			if k := kindOf(reduce(t, retry)); k != "closed" {
				t.Errorf("#%d %s via %s: retry ended %s: %s", i, sc.name, trig, k, retry.Body)
				lost++
				continue
			}
			got = "closed"
		}
		switch got {
		case "closed":
			wantPublished[no] = "Recharge Closed"
		case "not_closable":
			wantPublished[no] = "Recharge Close Rejected"
		case "refused":
			wantPublished[no] = "Recharge Close Failed"
		}
	}

	events, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	published := map[string][]string{}
	for _, e := range events {
		var d struct {
			OutRechargeNo string `json:"out_recharge_no"`
			State         string `json:"recharge_state"`
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Errorf("event detail %s: %v", e.Detail, err)
			continue
		}
		published[d.OutRechargeNo] = append(published[d.OutRechargeNo], e.DetailType)
		if e.DetailType == "Recharge Closed" {
			r, _ := s.sim.Recharge(sub, d.OutRechargeNo)
			if d.State != "CLOSED" || r.RechargeState != "CLOSED" {
				t.Errorf("%s published as closed, but it is %s at WeChat Pay", d.OutRechargeNo, r.RechargeState)
				wrong++
			}
		}
	}
	for no, want := range wantPublished {
		if got := published[no]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: published %v, want exactly one %s", no, got, want)
			wrong++
		}
	}
	for no, got := range published {
		if _, ok := wantPublished[no]; !ok {
			t.Errorf("%s: published %v, want nothing", no, got)
			wrong++
		}
	}

	leaks := scanForLeaks(em.Logs() + answers.String())
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}

	var report strings.Builder
	fmt.Fprintf(&report, "soak tally (SOAK_SEED=%d): %d invocations, %d events published, lost %d, wrongly published or answered %d, leaks %d\n",
		seed, n, len(events), lost, wrong, len(leaks))
	for _, sc := range scenarios {
		if c := tally[sc.name]; c != nil {
			fmt.Fprintf(&report, "  %-28s %v\n", sc.name, c)
		}
	}
	fmt.Fprintf(&report, "  by trigger: %v\n", byTrigger)
	fmt.Fprintf(&report, "  Secrets Manager reads: %d, PutEvents calls: %d\n",
		s.proxy.Calls("secretsmanager.GetSecretValue"), s.proxy.Calls("AWSEvents.PutEvents"))
	t.Log(report.String())
	if os.Getenv("SOAK_REPORT") != "" {
		_ = os.WriteFile(os.Getenv("SOAK_REPORT"), []byte(report.String()), 0o644)
	}
}

// scanForLeaks looks for anything that must never leave the function: key
// material of the merchant secret, Authorization header values, signatures.
func scanForLeaks(text string) []string {
	var found []string
	for _, w := range leakWords {
		if strings.Contains(text, w) {
			found = append(found, "contains "+w)
		}
	}
	secret := keys.Secret(true)
	for _, pemText := range append([]string{secret.MerchantPrivateKey, secret.WechatPayPublicKey}, secret.PlatformCertificates...) {
		for _, line := range strings.Split(pemText, "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
				found = append(found, "contains a line of the merchant secret")
				break
			}
		}
	}
	if m := longBase64.FindString(text); m != "" {
		found = append(found, "contains a signature-sized base64 value "+m[:20]+"…")
	}
	return found
}

func TestLeakScannerFindsLeaks(t *testing.T) {
	secret := keys.Secret(false)
	keyLine := strings.Split(secret.MerchantPrivateKey, "\n")[3]
	sig := simulator.Sign(keys.MerchantKey, []byte("x"))
	for _, text := range []string{
		`{"msg":"` + keyLine + `"}`,
		`Authorization: WECHATPAY2-SHA256-RSA2048 mchid="1900000100"`,
		`{"sig":"` + sig + `"}`,
		"-----BEGIN PRIVATE KEY-----",
	} {
		if len(scanForLeaks(text)) == 0 {
			t.Errorf("scanner missed a leak in %.60s…", text)
		}
	}
	if l := scanForLeaks(`{"level":"INFO","msg":"close recharge","out_recharge_no":"R1"}`); len(l) != 0 {
		t.Errorf("scanner flagged a clean line: %v", l)
	}
}
