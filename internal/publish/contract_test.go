package publish_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"close-recharge/internal/closer"
	"close-recharge/internal/handler"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// goldenDir holds one published event per detail type and failure kind, as
// a consumer receives it from EventBridge: the event contract by example.
const goldenDir = "../../events/published"

// contractSource is the template's default ResultEventSource.
const contractSource = "wechatpay.recharge"

// quick retries, so that a close still failing gives up in milliseconds.
var quick = wechatpay.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
	RateLimitDelay: time.Millisecond, AttemptTimeout: 5 * time.Second, Reserve: 10 * time.Millisecond, MinAttempt: time.Millisecond}

// lastReceive is the queue's maxReceiveCount in these runs.
const lastReceive = 3

// published runs the function's handler, wired as main wires it (the
// merchant secret's cache, the WeChat Pay client, the EventBridge publisher)
// against the simulator, with a recording EventBridge, and returns the one
// event each golden file's case publishes.
func published(t *testing.T) map[string]publishedEvent {
	t.Helper()
	keys := simulator.SharedKeys()
	sim := simulator.New(keys)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	secret, _ := json.Marshal(keys.Secret(false))
	path := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	cache := secretstore.NewCache(&secretstore.File{Path: path}, time.Hour)
	pool := wechatpay.NewPool(wechatpay.WithBaseURL(srv.URL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()), wechatpay.WithRetryPolicy(quick))
	bus := &entriesOf{}
	pub := &publish.EventBridge{API: bus, Bus: "recharge-outcomes", Source: contractSource, Keys: cache}
	h := handler.New(closer.New(cache, pool, pub), slog.New(slog.DiscardHandler), nil, handler.WithMaxReceiveCount(lastReceive))

	const sub = "1900000109"
	if err := sim.Seed(
		simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "CONTRACTCLOSED"},
		simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "CONTRACTPAID", State: "SUCCESS"},
		simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "CONTRACTGAVEUP"},
	); err != nil {
		t.Fatal(err)
	}
	sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, Status: 500, Code: "SYSTEM_ERROR", OutRechargeNo: "CONTRACTGAVEUP", Times: 100})
	direct := func(no string) []byte { return []byte(fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, sub, no)) }
	lastTry := fmt.Sprintf(`{"Records":[{"messageId":"m1","receiptHandle":"h1","body":%q,`+
		`"attributes":{"ApproximateReceiveCount":"%d","SentTimestamp":"1796090400000"},"eventSource":"aws:sqs",`+
		`"eventSourceARN":"arn:aws:sqs:ap-east-1:123456789012:close-recharge-expiry","awsRegion":"ap-east-1"}]}`,
		direct("CONTRACTGAVEUP"), lastReceive)
	runs := []struct {
		golden  string
		payload []byte
	}{
		{"recharge-closed.json", direct("CONTRACTCLOSED")},
		{"recharge-close-rejected.json", direct("CONTRACTPAID")},
		{"recharge-close-failed.json", direct("CONTRACTNEVERAPPLIED")},
		{"recharge-close-failed-gave-up.json", []byte(lastTry)},
	}
	out := map[string]publishedEvent{}
	for _, r := range runs {
		before := len(bus.got)
		// A refusal is an invocation error only when nothing was published;
		// what matters here is what reached the bus.
		_, _ = h.Invoke(context.Background(), r.payload)
		if n := len(bus.got) - before; n != 1 {
			t.Fatalf("%s: %d events published, want 1", r.golden, n)
		}
		e := bus.got[before]
		out[r.golden] = publishedEvent{DetailType: aws.ToString(e.DetailType), Source: aws.ToString(e.Source), Detail: json.RawMessage(aws.ToString(e.Detail))}
		// A recharge is published as WeChat Pay answered it, every field, plus
		// the publisher's own.
		if dt := aws.ToString(e.DetailType); dt == outcome.Closed || dt == outcome.Rejected {
			var d struct {
				No string `json:"out_recharge_no"`
			}
			_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &d)
			if err := sim.Matches(sub, d.No, []byte(aws.ToString(e.Detail))); err != nil {
				t.Errorf("%s: the published recharge is not WeChat Pay's answer: %v", r.golden, err)
			}
		}
	}
	return out
}

type publishedEvent struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// notPublishedHere are golden events of detail types another function
// publishes (through this package, so with the same stamped fields): their
// producer's tests hold them to their golden files.
var notPublishedHere = map[string]string{
	"recharge-succeeded.json": "published by the notification function",
}

// The event contract: every field of every golden event is published, at
// the same place, with the same JSON type, by the code that publishes it
// today. A field renamed, removed, moved or retyped fails; a field added
// passes (consumers must ignore fields they do not know).
func TestPublishedEventsKeepTheContract(t *testing.T) {
	got := published(t)
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events in %s: %v", goldenDir, err)
	}
	var names []string
	for _, f := range files {
		name := filepath.Base(f)
		names = append(names, name)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var golden publishedEvent
		if err := json.Unmarshal(raw, &golden); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var goldenDetail map[string]any
		if err := json.Unmarshal(golden.Detail, &goldenDetail); err != nil {
			t.Fatalf("%s: detail: %v", name, err)
		}
		if goldenDetail[publish.FieldContractVersion] != outcome.ContractVersion || goldenDetail[publish.FieldSpMchid] == nil {
			t.Errorf("%s: the golden detail must carry contract_version %q and sp_mchid", name, outcome.ContractVersion)
		}
		if golden.Source != contractSource {
			t.Errorf("%s: source %q, want the default %q", name, golden.Source, contractSource)
		}
		if _, elsewhere := notPublishedHere[name]; elsewhere {
			continue
		}
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: no case here publishes it", name)
			continue
		}
		if e.DetailType != golden.DetailType || e.Source != golden.Source {
			t.Errorf("%s: published as %q from %q, the contract says %q from %q", name, e.DetailType, e.Source, golden.DetailType, golden.Source)
		}
		var detail any
		if err := json.Unmarshal(e.Detail, &detail); err != nil {
			t.Fatalf("%s: published detail: %v", name, err)
		}
		for _, problem := range conforms("", goldenDetail, detail) {
			t.Errorf("%s: %s\npublished: %s", name, problem, e.Detail)
		}
	}
	for name := range got {
		if !slices.Contains(names, name) {
			t.Errorf("%s: published but has no golden event", name)
		}
	}
}

// conforms lists where got breaks the contract that golden shows: a field of
// golden missing from got, or of another JSON type. Fields got has beyond
// golden are additions, which the contract allows.
func conforms(path string, golden, got any) []string {
	if kind(golden) != kind(got) {
		if got == nil {
			return []string{fmt.Sprintf("%s is missing (a %s in the contract)", strings.TrimPrefix(path, "."), kind(golden))}
		}
		return []string{fmt.Sprintf("%s is a %s, the contract says a %s", strings.TrimPrefix(path, "."), kind(got), kind(golden))}
	}
	var problems []string
	switch g := golden.(type) {
	case map[string]any:
		obj := got.(map[string]any)
		for k, v := range g {
			problems = append(problems, conforms(path+"."+k, v, obj[k])...)
		}
	case []any:
		for i, v := range got.([]any) {
			if len(g) > 0 {
				problems = append(problems, conforms(fmt.Sprintf("%s[%d]", path, i), g[0], v)...)
			}
		}
	}
	return problems
}

// kind is a decoded JSON value's type, as the contract names it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// The contract check judges: a renamed, removed or retyped field fails it, and
// an added one does not.
func TestConformsJudges(t *testing.T) {
	golden := map[string]any{"out_recharge_no": "R1", "recharge_amount": map[string]any{"amount": 1.0}, "error": map[string]any{"code": "X"}}
	for _, tt := range []struct {
		name string
		got  string
		want bool
	}{
		{"same", `{"out_recharge_no":"R2","recharge_amount":{"amount":5},"error":{"code":"Y"}}`, true},
		{"field added", `{"out_recharge_no":"R2","recharge_amount":{"amount":5,"currency":"CNY"},"error":{"code":"Y"},"x":1}`, true},
		{"field renamed", `{"out_recharge_number":"R2","recharge_amount":{"amount":5},"error":{"code":"Y"}}`, false},
		{"nested removed", `{"out_recharge_no":"R2","recharge_amount":{},"error":{"code":"Y"}}`, false},
		{"type changed", `{"out_recharge_no":"R2","recharge_amount":{"amount":"5"},"error":{"code":"Y"}}`, false},
		{"null", `{"out_recharge_no":null,"recharge_amount":{"amount":5},"error":{"code":"Y"}}`, false},
	} {
		var got any
		_ = json.Unmarshal([]byte(tt.got), &got)
		if ok := len(conforms("", golden, got)) == 0; ok != tt.want {
			t.Errorf("%s: conforms = %v, want %v", tt.name, ok, tt.want)
		}
	}
}
