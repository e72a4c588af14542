package handler_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/handler"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// The model-based test: the simulator is the model of WeChat Pay. Each
// sequence seeds one recharge in some state, queues a random run of ways for
// WeChat Pay's answers to go wrong, invokes the real handler (real client,
// key cache and close use-case) once or twice, and after each invocation
// checks what was returned and published against the simulator's record:
//
//   - "closed" ⇒ the record is CLOSED, and every field returned or published
//     is the record's;
//   - "not closable" ⇒ the record is SUCCESS, likewise;
//   - "refused" ⇒ the record is RECHARGING or does not exist, and the refusal's
//     code is one WeChat Pay sent in an error answer during the invocation
//     (ORDER_NOT_EXIST only for a recharge that does not exist);
//   - anything else ⇒ a transient or configuration failure, nothing published;
//   - at most one event is published per invocation, and it agrees with what
//     was returned.
var (
	modelSequences = flag.Int("model.sequences", 2000, "sequences TestCloseModel runs")
	modelSeed      = flag.Uint64("model.seed", 0, "run only this sequence of TestCloseModel (its failure message names it)")
)

const modelSub = "1900000109"

// modelRetry keeps the real policy's shape at a scale that lets thousands of
// sequences run in seconds; an attempt longer than AttemptTimeout is a lost answer.
var modelRetry = wechatpay.RetryPolicy{
	MaxAttempts:    4,
	BaseDelay:      time.Millisecond,
	MaxDelay:       4 * time.Millisecond,
	RateLimitDelay: 2 * time.Millisecond,
	AttemptTimeout: 150 * time.Millisecond,
	Reserve:        20 * time.Millisecond,
	MinAttempt:     10 * time.Millisecond,
}

// behaviour is one way for one WeChat Pay request to go.
type behaviour struct {
	name  string
	fault simulator.Fault
	slow  bool // answers after the client gave up, and applies the request then
	rule  bool // a business refusal of WeChat Pay's own
}

func status(code string, s int) simulator.Fault {
	return simulator.Fault{Kind: simulator.FaultStatus, Status: s, Code: code}
}

func body(s int, b string) simulator.Fault {
	return simulator.Fault{Kind: simulator.FaultBody, Status: s, Body: b}
}

var behaviours = []behaviour{
	{name: "right answer", fault: simulator.Fault{Kind: simulator.FaultNone}},
	{name: "right answer", fault: simulator.Fault{Kind: simulator.FaultNone}},
	{name: "right answer, 5 ms late", fault: simulator.Fault{Kind: simulator.FaultLatency, Delay: 5 * time.Millisecond}},
	{name: "answer lost: later than the attempt", fault: simulator.Fault{Kind: simulator.FaultLatency, Delay: 200 * time.Millisecond}, slow: true},
	{name: "500 SYSTEM_ERROR", fault: status("SYSTEM_ERROR", 500)},
	{name: "503 SERVICE_UNAVAILABLE", fault: status("SERVICE_UNAVAILABLE", 503)},
	{name: "429 RATELIMIT_EXCEEDED", fault: status("RATELIMIT_EXCEEDED", 429)},
	{name: "HTML 502", fault: body(502, "<html><body>502 Bad Gateway</body></html>")},
	{name: "HTML 404", fault: body(404, "<html><body>404 Not Found</body></html>")},
	{name: "404 NOT_FOUND", fault: body(404, `{"code":"NOT_FOUND","message":"Not Found"}`)},
	{name: "403 HTML", fault: body(403, "<html>Forbidden</html>")},
	{name: "500 empty", fault: body(500, "")},
	{name: "400 JSON without a code", fault: body(400, `{"message":"bad"}`)},
	{name: "204 signed, no body", fault: body(204, "")},
	{name: "200 signed HTML", fault: body(200, "<html>ok</html>")},
	{name: "200 signed, another recharge in full", fault: body(200, `{"sp_mchid":"1900000100","sub_mchid":"`+modelSub+
		`","out_recharge_no":"OTHER1","recharge_state":"CLOSED","recharge_amount":{"amount":999999,"currency":"CNY"},"qr_recharge_info":{"openid":"o-other"}}`)},
	{name: "200 signed, identifiers only", fault: body(200, `{"sub_mchid":"`+modelSub+`","out_recharge_no":"%s"}`)},
	{name: "200 signed, null state", fault: body(200, `{"sub_mchid":"`+modelSub+`","out_recharge_no":"%s","recharge_state":null}`)},
	{name: "connection reset before", fault: simulator.Fault{Kind: simulator.FaultResetBefore}},
	{name: "connection reset after", fault: simulator.Fault{Kind: simulator.FaultResetAfter}},
	{name: "signed by another key", fault: simulator.Fault{Kind: simulator.FaultBadSignature}},
	{name: "no signature", fault: simulator.Fault{Kind: simulator.FaultNoSignature}},
	{name: "stale timestamp", fault: simulator.Fault{Kind: simulator.FaultStaleTimestamp}},
	{name: "garbled", fault: simulator.Fault{Kind: simulator.FaultGarbled}},
	{name: "another out_recharge_no", fault: simulator.Fault{Kind: simulator.FaultOtherRecharge}},
	{name: "another sub_mchid", fault: simulator.Fault{Kind: simulator.FaultOtherSubMchid}},
	{name: "another sp_mchid", fault: simulator.Fault{Kind: simulator.FaultOtherSpMchid}},
	{name: "no recharge_state", fault: simulator.Fault{Kind: simulator.FaultNoState}},
	{name: "null recharge_state", fault: simulator.Fault{Kind: simulator.FaultNullState}},
	{name: "undocumented state", fault: simulator.Fault{Kind: simulator.FaultUnknownState}},
	{name: "fields dropped", fault: simulator.Fault{Kind: simulator.FaultDropFields}},
	{name: "fields null", fault: simulator.Fault{Kind: simulator.FaultNullFields}},
	{name: "refused by a rule while recharging", fault: simulator.Fault{Kind: simulator.FaultRefuse, Status: 403, Code: "RULE_LIMIT"}, rule: true},
	{name: "INVALID_REQUEST while recharging", fault: simulator.Fault{Kind: simulator.FaultRefuse, Status: 400, Code: "INVALID_REQUEST"}, rule: true},
	{name: "NO_AUTH while recharging", fault: simulator.Fault{Kind: simulator.FaultRefuse, Status: 403, Code: "NO_AUTH"}, rule: true},
	{name: "the money arrives first", fault: simulator.Fault{Kind: simulator.FaultPaid}},
}

var states = []string{recharge.StateRecharging, recharge.StateRecharging, recharge.StateRecharging,
	recharge.StateClosed, recharge.StateSuccess, ""}

// chooser makes a sequence's choices: from a seeded generator, or from the
// fuzzer's bytes.
type chooser interface{ intn(n int) int }

type seeded struct{ r *rand.Rand }

func (s seeded) intn(n int) int { return s.r.IntN(n) }

type fuzzed struct{ b []byte }

func (f *fuzzed) intn(n int) int {
	if len(f.b) == 0 {
		return 0
	}
	c := int(f.b[0])
	f.b = f.b[1:]
	return c % n
}

// sequence is one generated scenario, printable.
type sequence struct {
	state       string
	asAPI       bool
	invocations int
	steps       []behaviour
	publishFail bool
}

func generate(c chooser) sequence {
	s := sequence{state: states[c.intn(len(states))], asAPI: c.intn(3) == 0, invocations: 1 + c.intn(2), publishFail: c.intn(20) == 0}
	slow, rule := false, false
	for range c.intn(7) {
		b := behaviours[c.intn(len(behaviours))]
		// A request answered after the client gave up still takes effect. A
		// rule refusal of another request in between would contradict it, which
		// WeChat Pay's rules do not: such pairs are not generated.
		if (b.slow && rule) || (b.rule && slow) {
			continue
		}
		slow, rule = slow || b.slow, rule || b.rule
		s.steps = append(s.steps, b)
	}
	return s
}

func (s sequence) String() string {
	names := make([]string, len(s.steps))
	for i, b := range s.steps {
		names[i] = b.name
	}
	return fmt.Sprintf("state %q, api %v, %d invocation(s), publish fails %v, answers [%s]",
		s.state, s.asAPI, s.invocations, s.publishFail, strings.Join(names, "; "))
}

// world is one simulator and one handler wired as in production.
type world struct {
	sim       *simulator.Server
	closer    *closer.Service
	handler   *handler.Handler
	publisher *recordingPublisher
	recorder  *answerRecorder
}

func newWorld(t testing.TB) *world { return newWorldWith(t, simulator.New(simulator.SharedKeys())) }

func newWorldWith(t testing.TB, sim *simulator.Server) *world {
	keys := simulator.SharedKeys()
	rec := &answerRecorder{next: sim, codes: map[string]bool{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	secret, err := json.Marshal(keys.Secret(false))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := wechatpay.NewPool(wechatpay.WithBaseURL(srv.URL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()),
		wechatpay.WithRetryPolicy(modelRetry))
	pub := &recordingPublisher{}
	svc := closer.New(secretstore.NewCache(&secretstore.File{Path: path}, time.Hour), pool, pub)
	return &world{sim: sim, closer: svc, handler: handler.New(svc, slog.New(slog.DiscardHandler), nil), publisher: pub, recorder: rec}
}

type published struct {
	detailType string
	detail     []byte
}

// numberOf is the out_recharge_no of a published detail: a recharge or a failure result.
func numberOf(detail []byte) string {
	var d struct {
		No string `json:"out_recharge_no"`
	}
	_ = json.Unmarshal(detail, &d)
	return d.No
}

type recordingPublisher struct {
	mu      sync.Mutex
	events  []published
	fail    bool
	failNos map[string]bool // entries about these recharges fail, the others are taken
}

func (p *recordingPublisher) Publish(_ context.Context, events []closer.Event) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(events))
	for i, e := range events {
		if p.fail {
			errs[i] = fault.New(fault.Transient, "EventBridge did not take the event")
			continue
		}
		b, err := json.Marshal(e.Detail)
		if err != nil {
			errs[i] = err
			continue
		}
		if p.failNos[numberOf(b)] {
			errs[i] = fault.New(fault.Transient, "EventBridge did not take the entry")
			continue
		}
		p.events = append(p.events, published{e.DetailType, b})
	}
	return errs
}

func (p *recordingPublisher) take() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.events
	p.events = nil
	return e
}

// answerRecorder notes the codes of WeChat Pay's error answers and counts
// requests in flight, so that a check waits for late ones to land.
type answerRecorder struct {
	next      http.Handler
	inFlight  atomic.Int32
	mu        sync.Mutex
	codes     map[string]bool // WeChat Pay's error codes, alone and after the recharge's number
	paths     []string        // of the requests since the last reset
	onRequest func(delta int) // when set, told of each request's start (+1) and end (-1)
}

func (a *answerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	if a.onRequest != nil {
		a.onRequest(1)
		defer a.onRequest(-1)
	}
	no := numberIn(r.URL.Path)
	a.mu.Lock()
	a.paths = append(a.paths, r.URL.Path)
	a.mu.Unlock()
	cw := &capture{ResponseWriter: w}
	a.next.ServeHTTP(cw, r)
	if cw.status >= 400 {
		var e struct{ Code string }
		if json.Unmarshal(cw.body.Bytes(), &e) == nil && e.Code != "" {
			a.mu.Lock()
			a.codes[e.Code] = true
			a.codes[no+" "+e.Code] = true
			a.mu.Unlock()
		}
	}
}

// numberIn is the out_recharge_no a request's path names.
func numberIn(path string) string {
	_, rest, _ := strings.Cut(path, "/out-recharge-no/")
	no, _, _ := strings.Cut(rest, "/")
	return no
}

func (a *answerRecorder) reset() {
	a.mu.Lock()
	a.codes = map[string]bool{}
	a.paths = nil
	a.mu.Unlock()
}

// asked reports whether any request since the last reset had s in its path.
func (a *answerRecorder) asked(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.paths, func(p string) bool { return strings.Contains(p, s) })
}

func (a *answerRecorder) sent(code string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.codes[code]
}

func (a *answerRecorder) settle() error {
	for deadline := time.Now().Add(5 * time.Second); a.inFlight.Load() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("a request to the simulator is still in flight after 5 s")
		}
	}
	return nil
}

type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// run plays one sequence for recharge no and returns the first broken invariant.
func (w *world) run(s sequence, no string) error {
	if s.state != "" {
		if err := w.sim.Seed(simulator.SeedRecharge{SubMchid: modelSub, OutRechargeNo: no, Amount: 5000, State: s.state}); err != nil {
			return err
		}
	}
	w.sim.ClearFaults()
	for _, b := range s.steps {
		f := b.fault
		f.Body = strings.ReplaceAll(f.Body, "%s", no)
		w.sim.Inject(f)
	}
	defer w.sim.ClearFaults()
	w.publisher.fail = s.publishFail
	for i := range s.invocations {
		w.recorder.reset()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		answer, err := w.handler.Invoke(ctx, event(s.asAPI, no))
		cancel()
		if serr := w.recorder.settle(); serr != nil {
			return serr
		}
		if verr := w.check(s.asAPI, no, answer, err, w.publisher.take()); verr != nil {
			return fmt.Errorf("invocation %d: %w", i+1, verr)
		}
	}
	return nil
}

func event(asAPI bool, no string) []byte {
	if asAPI {
		return []byte(`{"version":"2.0","routeKey":"POST /recharges/{out_recharge_no}/close","requestContext":{"requestId":"m"},` +
			`"pathParameters":{"out_recharge_no":"` + no + `"},"queryStringParameters":{"sub_mchid":"` + modelSub + `"}}`)
	}
	return []byte(`{"sub_mchid":"` + modelSub + `","out_recharge_no":"` + no + `"}`)
}

// check reads what the invocation returned as one of the outcomes and holds
// it, and what was published, against the record.
func (w *world) check(asAPI bool, no string, answer []byte, invokeErr error, events []published) error {
	record, exists := w.sim.Recharge(modelSub, no)
	var kind, returned string // kind: closed, not_closable, refused or failed
	switch {
	case asAPI:
		if invokeErr != nil {
			return fmt.Errorf("API invocation failed: %v", invokeErr)
		}
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(answer, &resp); err != nil {
			return fmt.Errorf("API answer %s: %v", answer, err)
		}
		returned = resp.Body
		var b struct {
			State string `json:"recharge_state"`
			Code  string `json:"code"`
		}
		_ = json.Unmarshal([]byte(resp.Body), &b)
		switch {
		case resp.StatusCode == 200 && b.State == recharge.StateClosed:
			kind = "closed"
		case resp.StatusCode == 409 && b.State == recharge.StateSuccess:
			kind = "not_closable"
		case (resp.StatusCode == 404 || resp.StatusCode == 403 || resp.StatusCode == 409) && b.Code != "" && b.State == "":
			kind = "refused"
			// Published with the failure result around the code the API shows.
			returned = fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q,"error":%s}`, modelSub, no, resp.Body)
		case resp.StatusCode >= 500 && b.Code != "" && b.State == "":
			kind = "failed"
		default:
			return fmt.Errorf("API answer %d %s is none of the outcomes", resp.StatusCode, resp.Body)
		}
	case invokeErr != nil:
		var ire messages.InvokeResponse_Error
		if !errors.As(invokeErr, &ire) || (ire.Type != string(fault.Transient) && ire.Type != string(fault.Configuration)) {
			return fmt.Errorf("invocation error %v is neither transient nor configuration", invokeErr)
		}
		kind = "failed"
	default:
		returned = string(answer)
		var b struct {
			State string          `json:"recharge_state"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(answer, &b); err != nil {
			return fmt.Errorf("answer %s: %v", answer, err)
		}
		switch {
		case b.State == recharge.StateClosed:
			kind = "closed"
		case b.State == recharge.StateSuccess:
			kind = "not_closable"
		case len(b.Error) > 0 && b.State == "":
			kind = "refused"
		default:
			return fmt.Errorf("answer %s is none of the outcomes", answer)
		}
	}

	if kind == "failed" {
		if len(events) > 0 {
			return fmt.Errorf("a failed invocation published %d event(s): %s %s", len(events), events[0].detailType, events[0].detail)
		}
		return nil
	}
	if len(events) != 1 {
		return fmt.Errorf("outcome %s published %d events, want 1", kind, len(events))
	}
	ev := events[0]
	switch kind {
	case "closed", "not_closable":
		want, wantType := recharge.StateClosed, outcome.Closed
		if kind == "not_closable" {
			want, wantType = recharge.StateSuccess, outcome.Rejected
		}
		if !exists || record.RechargeState != want {
			return fmt.Errorf("outcome %s, but the record is %q (exists %v)", kind, record.RechargeState, exists)
		}
		if ev.detailType != wantType {
			return fmt.Errorf("outcome %s published %q", kind, ev.detailType)
		}
		for what, b := range map[string][]byte{"returned": []byte(returned), "published": ev.detail} {
			if err := w.sim.Matches(modelSub, no, b); err != nil {
				return fmt.Errorf("%s %s: %v", what, b, err)
			}
		}
	case "refused":
		var f closer.Failure
		if err := json.Unmarshal(ev.detail, &f); err != nil || ev.detailType != outcome.Failed {
			return fmt.Errorf("refusal published as %q %s", ev.detailType, ev.detail)
		}
		if exists && record.RechargeState != recharge.StateRecharging {
			return fmt.Errorf("refused (%s), but the record is %s", f.Error.Code, record.RechargeState)
		}
		if !w.recorder.sent(f.Error.Code) {
			return fmt.Errorf("refused with %s, a code WeChat Pay did not send", f.Error.Code)
		}
		if f.Error.Code == wechatpay.CodeOrderNotExist && exists {
			return fmt.Errorf("refused as ORDER_NOT_EXIST, but the recharge exists")
		}
		if f.SubMchid != modelSub || f.OutRechargeNo != no {
			return fmt.Errorf("refusal names %s/%s", f.SubMchid, f.OutRechargeNo)
		}
		var r closer.Failure
		if err := json.Unmarshal([]byte(returned), &r); err != nil || r != f {
			return fmt.Errorf("returned %s, published %s", returned, ev.detail)
		}
	}
	return nil
}

func TestCloseModel(t *testing.T) {
	n := *modelSequences
	if testing.Short() && n > 300 {
		n = 300
	}
	playSeeds(t, n, func(w *world, seed uint64) (fmt.Stringer, error) {
		s := generate(seeded{rand.New(rand.NewPCG(seed, 0x5eed))})
		return s, w.run(s, fmt.Sprintf("M%d", seed))
	})
}

// playSeeds plays n seeds (or only -model.seed) over a few worlds side by
// side, and stops after five failures, each naming how to replay it.
func playSeeds(t *testing.T, n int, play func(w *world, seed uint64) (fmt.Stringer, error)) {
	first := uint64(1)
	if *modelSeed != 0 {
		first, n = *modelSeed, 1
	}
	workers := min(runtime.GOMAXPROCS(0)*2, 8)
	var next atomic.Uint64
	next.Store(first)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range workers {
		w := newWorld(t)
		wg.Go(func() {
			for {
				seed := next.Add(1) - 1
				if seed >= first+uint64(n) || failures.Load() >= 5 {
					return
				}
				if what, err := play(w, seed); err != nil {
					failures.Add(1)
					t.Errorf("seed %d (replay: go test ./internal/handler -run '^%s$' -model.seed=%d): %v\n\t%v", seed, t.Name(), seed, err, what)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzCloseModel explores answer sequences beyond the seeded ones (make fuzz).
func FuzzCloseModel(f *testing.F) {
	addSeeds(f)
	w := newWorld(f)
	var count atomic.Uint64
	f.Fuzz(func(t *testing.T, choices []byte) {
		s := generate(&fuzzed{b: choices})
		if err := w.run(s, fmt.Sprintf("F%d", count.Add(1))); err != nil {
			t.Fatalf("%v\n\t%v", err, s)
		}
	})
}

// addSeeds gives a model's fuzzer sixteen spread-out choice sequences to start from.
func addSeeds(f *testing.F) {
	for seed := range uint64(16) {
		b := binary.LittleEndian.AppendUint64(nil, seed*0x9e3779b97f4a7c15)
		f.Add(append(b, b...))
	}
}
