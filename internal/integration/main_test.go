// Package integration holds the tests of the built bootstrap under the Lambda
// Runtime Interface Emulator, against the WeChat Pay simulator and moto's
// Secrets Manager, EventBridge and SQS, and the tests of template.yaml. They
// run one emulator at a time (it binds 127.0.0.1:9001; runs on one machine
// take turns). Under -short only the template's own tests run.
package integration

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"close-recharge/internal/awstest"
	"close-recharge/internal/emulator"
	"close-recharge/internal/simulator"
	"close-recharge/internal/trigger"
)

const sub = "1900000109"

var (
	bootstrapPath string
	racePath      string // the same bootstrap built with -race
	riePath       string
	motoEndpoint  string
	setupProblem  string // why the integration tests cannot run here
	keys          *simulator.Keys
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	keys = simulator.SharedKeys()
	if testing.Short() {
		setupProblem = "-short: the emulator and moto are left to the full suite (make test)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "close-recharge-bootstrap-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bootstrapPath, racePath = filepath.Join(dir, "bootstrap"), filepath.Join(dir, "bootstrap-race")
	for _, b := range []struct {
		path string
		args []string
		cgo  string
	}{
		{bootstrapPath, nil, "0"},
		// The race detector needs cgo; the secret prefetch runs beside the first invocation.
		{racePath, []string{"-race"}, "1"},
	} {
		args := append(append([]string{"build", "-tags", "lambda.norpc"}, b.args...), "-o", b.path, "../../functions/close-recharge")
		build := exec.Command("go", args...)
		build.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the bootstrap: %v\n%s", err, out)
			return 1
		}
	}

	riePath = os.Getenv("RIE")
	if riePath == "" {
		_, file, _, _ := runtime.Caller(0)
		riePath = filepath.Join(filepath.Dir(file), "..", "..", "bin", "aws-lambda-rie")
	}
	var problems []string
	if _, err := os.Stat(riePath); err != nil {
		problems = append(problems, "the Runtime Interface Emulator is not at "+riePath+" (make bin/aws-lambda-rie)")
	}
	endpoint, stop, err := awstest.StartMoto()
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		defer stop()
		motoEndpoint = endpoint
	}
	setupProblem = strings.Join(problems, "; ")
	return m.Run()
}

// requireComponents skips, or fails under CI, when a real component is missing.
func requireComponents(t *testing.T) {
	t.Helper()
	if setupProblem == "" {
		return
	}
	// -short leaves these tests out on purpose, CI or not; only a component
	// missing from a full run is a failure there.
	if os.Getenv("CI") != "" && !testing.Short() {
		t.Fatal(setupProblem)
	}
	t.Skip(setupProblem)
}

// stack is one deployment's worth of real components.
type stack struct {
	sim       *simulator.Server
	simURL    string
	aws       aws.Config
	proxy     *awstest.Proxy
	secretARN string
	bus       *awstest.Bus
}

func newStack(t *testing.T) *stack {
	t.Helper()
	requireComponents(t)
	s := &stack{sim: simulator.New(keys), aws: awstest.Config(motoEndpoint)}
	srv := httptest.NewServer(s.sim)
	t.Cleanup(srv.Close)
	s.simURL = srv.URL
	s.proxy = awstest.NewProxy(motoEndpoint)
	t.Cleanup(s.proxy.Close)
	var err error
	if s.secretARN, err = awstest.PutSecret(s.aws, awstest.UniqueName("wechatpay/merchant"), keys.Secret(false)); err != nil {
		t.Fatal(err)
	}
	if s.bus, err = awstest.NewBus(s.aws); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) env(extra ...string) []string {
	env := append(awstest.Env(s.proxy.URL),
		"WECHATPAY_SECRET_ID="+s.secretARN,
		"WECHATPAY_BASE_URL="+s.simURL,
		"RESULT_EVENT_BUS="+s.bus.Name,
	)
	return append(env, extra...)
}

func (s *stack) seed(t *testing.T, no, state string) {
	t.Helper()
	if err := s.sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: no, Amount: 10000, State: state}); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, env []string) *emulator.Emulator {
	t.Helper()
	return startWithTimeout(t, env, 30*time.Second)
}

// startWithTimeout runs the function with AWS_LAMBDA_FUNCTION_TIMEOUT = timeout.
func startWithTimeout(t *testing.T, env []string, timeout time.Duration) *emulator.Emulator {
	t.Helper()
	return startBootstrap(t, bootstrapPath, env, timeout)
}

func startBootstrap(t *testing.T, bootstrap string, env []string, timeout time.Duration) *emulator.Emulator {
	t.Helper()
	requireComponents(t)
	em, err := emulator.Start(emulator.Config{RIE: riePath, Bootstrap: bootstrap, Env: env, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		em.Stop()
		if t.Failed() {
			t.Logf("emulator output:\n%s", em.Logs())
		}
	})
	return em
}

func invoke(t *testing.T, em *emulator.Emulator, payload string) emulator.Response {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	resp, err := em.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// waitUntil polls cond for up to within and reports whether it came true.
func waitUntil(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func direct(no string) string {
	return fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, sub, no)
}

func httpAPI(no string) string {
	return fmt.Sprintf(`{"version":"2.0","routeKey":"POST /recharges/{out_recharge_no}/close","rawPath":"/recharges/%[1]s/close",`+
		`"queryStringParameters":{"sub_mchid":%[2]q},"pathParameters":{"out_recharge_no":%[1]q},`+
		`"requestContext":{"requestId":"req-%[1]s","http":{"method":"POST"}},"isBase64Encoded":false}`, no, sub)
}

// triggers are the five ways the function is invoked, with whether each is an API.
var triggers = []struct {
	name    string
	payload func(no string) string
	api     bool
}{
	{"direct", direct, false}, {"scheduler", scheduler, false}, {"eventbridge", envelope, false},
	{"http-api", httpAPI, true}, {"rest-api", restAPI, true},
}

// answer is an invocation's outcome reduced to what docs/architecture.md's outcome table speaks of.
type answer struct {
	errorType string
	status    int    // API Gateway status, 0 for other triggers
	state     string // recharge_state of a returned recharge
	code      string // error code of a returned error body or failure result
	body      string
}

func reduce(t *testing.T, resp emulator.Response) answer {
	t.Helper()
	if resp.ErrorType != "" {
		return answer{errorType: resp.ErrorType, body: resp.ErrorMessage}
	}
	a := answer{body: string(resp.Body)}
	body := resp.Body
	var api struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if json.Unmarshal(resp.Body, &api) == nil && api.StatusCode != 0 {
		a.status, body, a.body = api.StatusCode, []byte(api.Body), api.Body
	}
	var v struct {
		State string `json:"recharge_state"`
		Code  string `json:"code"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("answer is not JSON: %s", resp.Body)
	}
	a.state, a.code = v.State, v.Code
	if a.code == "" {
		a.code = v.Error.Code
	}
	return a
}

func TestEveryFixtureClosesUnderTheEmulator(t *testing.T) {
	s := newStack(t)
	paths, _ := filepath.Glob("../../events/*.json")
	if len(paths) < 5 {
		t.Fatalf("want a fixture per trigger, found %v", paths)
	}
	em := start(t, s.env())
	want := map[string]bool{}
	for _, p := range paths {
		payload, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		req, err := trigger.Decode(payload)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, c := range req.Closes() {
			s.seed(t, c.OutRechargeNo, "RECHARGING")
			want[c.OutRechargeNo] = true
		}
		resp := invoke(t, em, string(payload))
		if req.Kind == trigger.SQS {
			if string(resp.Body) != `{"batchItemFailures":[]}` || len(req.Closes()) != len(req.Records) {
				t.Errorf("%s: %s, want every record settled", p, resp.Body)
			}
			continue
		}
		got := reduce(t, resp)
		wantStatus := 0
		if req.IsAPI() {
			wantStatus = 200
		}
		if got.errorType != "" || got.state != "CLOSED" || got.status != wantStatus {
			t.Errorf("%s: %+v, want CLOSED (status %d)", p, got, wantStatus)
		}
	}
	events, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		var r struct {
			OutRechargeNo string `json:"out_recharge_no"`
			State         string `json:"recharge_state"`
		}
		_ = json.Unmarshal(e.Detail, &r)
		if e.DetailType != "Recharge Closed" || e.Source != "wechatpay.recharge" || r.State != "CLOSED" || !want[r.OutRechargeNo] {
			t.Errorf("unexpected event %+v", e)
		}
		delete(want, r.OutRechargeNo)
	}
	if len(want) != 0 {
		t.Errorf("no Recharge Closed event for %v", want)
	}
}

// TestOutcomeTable walks docs/architecture.md's outcome table row by row, for each of
// the five triggers, and checks what was published: an event for each settled
// row, nothing for the others — configuration errors included.
func TestOutcomeTable(t *testing.T) {
	s := newStack(t)
	em := start(t, s.env())
	type row struct {
		name      string
		no        string
		state     string // seeded, "" for none
		fault     *simulator.Fault
		payload   func(no string) string
		want      answer
		published string // detail type, "" for nothing
	}
	var rows []row
	for i, trig := range triggers {
		pay := trig.payload
		pick := func(directAns, apiAns answer) answer {
			if trig.api {
				return apiAns
			}
			return directAns
		}
		v := fmt.Sprint("T", i)
		rows = append(rows,
			row{"closed", "CLOSE" + v, "RECHARGING", nil, pay, pick(answer{state: "CLOSED"}, answer{status: 200, state: "CLOSED"}), "Recharge Closed"},
			row{"already closed", "AGAIN" + v, "CLOSED", nil, pay, pick(answer{state: "CLOSED"}, answer{status: 200, state: "CLOSED"}), "Recharge Closed"},
			row{"not closable", "PAID" + v, "SUCCESS", nil, pay, pick(answer{state: "SUCCESS"}, answer{status: 409, state: "SUCCESS"}), "Recharge Close Rejected"},
			row{"refused: not exist", "NONE" + v, "", nil, pay, pick(answer{code: "ORDER_NOT_EXIST"}, answer{status: 404, code: "ORDER_NOT_EXIST"}), "Recharge Close Failed"},
			row{"refused: no auth", "NOAUTH" + v, "RECHARGING", &simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 403, Code: "NO_AUTH"},
				pay, pick(answer{code: "NO_AUTH"}, answer{status: 403, code: "NO_AUTH"}), "Recharge Close Failed"},
			row{"refused while recharging", "RULE" + v, "RECHARGING", &simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 403, Code: "RULE_LIMIT"},
				pay, pick(answer{code: "RULE_LIMIT"}, answer{status: 409, code: "RULE_LIMIT"}), "Recharge Close Failed"},
			row{"transient: 503", "BUSY" + v, "RECHARGING", &simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 4},
				pay, pick(answer{errorType: "TRANSIENT"}, answer{status: 503, code: "SERVICE_UNAVAILABLE"}), ""},
			row{"transient: 500", "ERR" + v, "RECHARGING", &simulator.Fault{Kind: simulator.FaultStatus, Op: "close", Status: 500, Code: "SYSTEM_ERROR", Times: 4},
				pay, pick(answer{errorType: "TRANSIENT"}, answer{status: 502, code: "SYSTEM_ERROR"}), ""},
		)
	}
	rows = append(rows,
		row{"invalid input: direct", "", "", nil, func(string) string { return `{"sub_mchid":"1900000109","out_recharge_no":"../x"}` },
			answer{errorType: "INVALID_INPUT"}, ""},
		row{"invalid input: API", "", "", nil, func(string) string {
			return strings.Replace(httpAPI("BADSUB"), `"sub_mchid":"1900000109"`, `"sub_mchid":"19x"`, 1)
		},
			answer{status: 400, code: "INVALID_INPUT"}, ""},
	)

	wantEvents := map[string]string{}
	run := func(r row) {
		t.Run(r.name+" "+r.no, func(t *testing.T) {
			if r.state != "" {
				s.seed(t, r.no, r.state)
			}
			if r.fault != nil {
				s.sim.Inject(*r.fault)
				defer s.sim.ClearFaults()
			}
			got := reduce(t, invoke(t, em, r.payload(r.no)))
			got.body = ""
			if got != r.want {
				t.Errorf("got %+v, want %+v", got, r.want)
			}
		})
		if r.published != "" {
			wantEvents[r.no] = r.published
		}
	}
	for _, r := range rows {
		run(r)
	}
	// Configuration: the secret cannot be found. Every trigger fails alike, and
	// nothing reaches WeChat Pay or the bus.
	em.Stop()
	em = start(t, s.env("WECHATPAY_SECRET_ID="+s.secretARN+"-gone"))
	closes := s.sim.Calls("close")
	for i, trig := range triggers {
		no := fmt.Sprint("CONF", i)
		want := answer{errorType: "CONFIGURATION_ERROR"}
		if trig.api {
			want = answer{status: 500, code: "CONFIGURATION_ERROR"}
		}
		run(row{"configuration: " + trig.name, no, "RECHARGING", nil, trig.payload, want, ""})
	}
	if n := s.sim.Calls("close") - closes; n != 0 {
		t.Errorf("WeChat Pay saw %d closes without keys", n)
	}
	events, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	gotEvents := map[string]string{}
	for _, e := range events {
		no := e.OutRechargeNo()
		if _, dup := gotEvents[no]; dup {
			t.Errorf("published twice for %s", no)
		}
		gotEvents[no] = e.DetailType
	}
	if fmt.Sprint(sorted(gotEvents)) != fmt.Sprint(sorted(wantEvents)) {
		t.Errorf("published %v, want %v", sorted(gotEvents), sorted(wantEvents))
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestRefusedWithoutABusFailsTheInvocation(t *testing.T) {
	s := newStack(t)
	env := awstest.Env(s.proxy.URL)
	env = append(env, "WECHATPAY_SECRET_ID="+s.secretARN, "WECHATPAY_BASE_URL="+s.simURL)
	em := start(t, env)
	got := reduce(t, invoke(t, em, direct("NOPE")))
	if got.errorType != "REFUSED" || !strings.Contains(got.body, "ORDER_NOT_EXIST") {
		t.Errorf("got %+v, want errorType REFUSED naming ORDER_NOT_EXIST", got)
	}
	s.seed(t, "NOBUS1", "RECHARGING")
	if got := reduce(t, invoke(t, em, direct("NOBUS1"))); got.state != "CLOSED" {
		t.Errorf("close without a bus: %+v", got)
	}
}

func TestSecretProblemsAreConfigurationErrors(t *testing.T) {
	s := newStack(t)
	malformed := keys.Secret(false)
	malformed.WechatPayPublicKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
	malformedARN, err := awstest.PutSecret(s.aws, awstest.UniqueName("wechatpay/broken"), malformed)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		secretID string
		payload  string
		want     answer
		mentions []string
	}{
		{"missing secret, direct", "wechatpay/does-not-exist", direct("R1"), answer{errorType: "CONFIGURATION_ERROR"}, []string{"wechatpay/does-not-exist"}},
		{"missing secret, API", "wechatpay/does-not-exist", httpAPI("R1"), answer{status: 500, code: "CONFIGURATION_ERROR"}, []string{"wechatpay/does-not-exist"}},
		{"malformed secret", malformedARN, direct("R1"), answer{errorType: "CONFIGURATION_ERROR"}, []string{malformedARN, "wechatpay_public_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(awstest.Env(s.proxy.URL), "WECHATPAY_SECRET_ID="+tt.secretID, "WECHATPAY_BASE_URL="+s.simURL, "RESULT_EVENT_BUS="+s.bus.Name)
			em := start(t, env)
			got := reduce(t, invoke(t, em, tt.payload))
			body := got.body
			got.body = ""
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(body, m) {
					t.Errorf("error %q does not name %s", body, m)
				}
			}
			if leaks := scanForLeaks(body + "\n" + em.Logs()); len(leaks) > 0 || strings.Contains(body+em.Logs(), "AAAA") {
				t.Errorf("key material in the answer or the logs: %v", leaks)
			}
		})
	}
	if s.sim.Calls("close") != 0 {
		t.Errorf("WeChat Pay was called without keys")
	}
}

func TestSecretIsReadOnceAcrossWarmInvocations(t *testing.T) {
	s := newStack(t)
	em := start(t, s.env())
	const n = 100
	for i := range n {
		no := fmt.Sprintf("WARM%03d", i)
		s.seed(t, no, "RECHARGING")
		if got := reduce(t, invoke(t, em, direct(no))); got.state != "CLOSED" {
			t.Fatalf("invocation %d: %+v", i, got)
		}
	}
	if reads := s.proxy.Calls("secretsmanager.GetSecretValue"); reads != 1 {
		t.Errorf("Secrets Manager reads over %d warm invocations = %d, want 1", n, reads)
	}
	if puts := s.proxy.Calls("AWSEvents.PutEvents"); puts != n {
		t.Errorf("PutEvents calls = %d, want %d", puts, n)
	}
}

// Run by the -race bootstrap: the secret is read at init beside the first
// invocation, and rotations drop and re-read it.
func TestRotatedKeysArePickedUpWithoutAColdStart(t *testing.T) {
	s := newStack(t)
	em := startBootstrap(t, racePath, s.env(), 30*time.Second)
	closeOne := func(no string) {
		t.Helper()
		s.seed(t, no, "RECHARGING")
		if got := reduce(t, invoke(t, em, direct(no))); got.state != "CLOSED" {
			t.Fatalf("%s: %+v", no, got)
		}
	}
	reads := func() int { return s.proxy.Calls("secretsmanager.GetSecretValue") }
	closeOne("ROT1")

	next, err := simulator.GenerateKeys(keys.MchID)
	if err != nil {
		t.Fatal(err)
	}
	// The merchant rotates its API key: WeChat Pay accepts only the new serial.
	rotated := keys.Secret(false)
	rotated.MerchantSerialNo, rotated.MerchantPrivateKey = next.MerchantSerialNo, simulator.PrivateKeyPEM(next.MerchantKey)
	if _, err := awstest.PutSecret(s.aws, s.secretARN, rotated); err != nil {
		t.Fatal(err)
	}
	s.sim.AcceptMerchantKey(next.MerchantSerialNo, &next.MerchantKey.PublicKey)
	s.sim.RevokeMerchantKey(keys.MerchantSerialNo)
	closeOne("ROT2")
	if r := reads(); r != 2 {
		t.Errorf("reads after a merchant key rotation = %d, want 2", r)
	}

	// WeChat Pay rotates its public key: answers are signed with a new PUB_KEY_ID_.
	rotated.WechatPayPublicKeyID, rotated.WechatPayPublicKey = next.PublicKeyID, simulator.PublicKeyPEM(&next.PlatformKey.PublicKey)
	if _, err := awstest.PutSecret(s.aws, s.secretARN, rotated); err != nil {
		t.Fatal(err)
	}
	s.sim.RotatePlatformKey(next.PublicKeyID, next.PlatformKey)
	closeOne("ROT3")
	closeOne("ROT4")
	if r := reads(); r != 3 {
		t.Errorf("reads after a WeChat Pay key rotation = %d, want 3", r)
	}
	if inits := strings.Count(em.Logs(), "INIT START"); inits != 1 {
		t.Errorf("the function started %d times; rotation must not need a cold start", inits)
	}
	if strings.Contains(em.Logs(), "DATA RACE") {
		t.Errorf("the race detector found a race:\n%s", em.Logs())
	}
}

func TestBadEnvironmentFailsInitNamingTheVariable(t *testing.T) {
	requireComponents(t)
	em := start(t, []string{"WECHATPAY_SECRET_FILE=/tmp/secret.json", "WECHATPAY_SECRET_TTL=five minutes"})
	resp := invoke(t, em, direct("R1"))
	if resp.ErrorType == "" && resp.Status == 200 {
		t.Fatalf("invocation succeeded despite a bad environment: %s", resp.Body)
	}
	if !waitUntil(2*time.Second, func() bool { return strings.Contains(em.Logs(), "WECHATPAY_SECRET_TTL: must be") }) {
		t.Errorf("init output does not name the variable:\n%s", em.Logs())
	}
}

func TestSecretFileForLocalRuns(t *testing.T) {
	requireComponents(t)
	sim := simulator.New(keys)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "secret.json")
	b, _ := json.Marshal(keys.Secret(true))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "FILE1"}); err != nil {
		t.Fatal(err)
	}
	em := start(t, []string{"WECHATPAY_SECRET_FILE=" + path, "WECHATPAY_BASE_URL=" + srv.URL})
	if got := reduce(t, invoke(t, em, direct("FILE1"))); got.state != "CLOSED" {
		t.Errorf("got %+v", got)
	}
	if leaks := scanForLeaks(em.Logs()); len(leaks) > 0 {
		t.Errorf("the logs leak: %v", leaks)
	}
}

func TestTemplateIsLintClean(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cfn-lint is left to the full suite (make test)")
	}
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("cfn-lint is required in CI")
		}
		t.Skip("cfn-lint not installed")
	}
	out, err := exec.Command("cfn-lint", "-t", "../../template.yaml", "--include-checks", "I").CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("cfn-lint:\n%s", out)
		}
		t.Fatal(err)
	}
}
