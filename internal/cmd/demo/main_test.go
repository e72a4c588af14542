package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/awstest"
	"close-recharge/internal/emulator"
)

// make invoke's exit status follows from what the function answered.
func TestDescribeAndSucceeded(t *testing.T) {
	for _, tt := range []struct {
		name string
		resp emulator.Response
		want string
		ok   bool
	}{
		{"closed", emulator.Response{Body: []byte(`{"recharge_state":"CLOSED","out_recharge_no":"A1"}`)}, "CLOSED", true},
		{"paid", emulator.Response{Body: []byte(`{"recharge_state":"SUCCESS"}`)}, "SUCCESS", true},
		{"API closed", emulator.Response{Body: []byte(`{"statusCode":200,"body":"{\"recharge_state\":\"CLOSED\"}"}`)}, "HTTP 200 CLOSED", true},
		{"API paid", emulator.Response{Body: []byte(`{"statusCode":409,"body":"{\"recharge_state\":\"SUCCESS\"}"}`)}, "HTTP 409 SUCCESS", true},
		{"API refused", emulator.Response{Body: []byte(`{"statusCode":404,"body":"{\"code\":\"ORDER_NOT_EXIST\",\"message\":\"no\"}"}`)}, "HTTP 404 ORDER_NOT_EXIST", false},
		{"API invalid", emulator.Response{Body: []byte(`{"statusCode":400,"body":"{\"code\":\"INVALID_INPUT\",\"message\":\"x\"}"}`)}, "HTTP 400 INVALID_INPUT", false},
		{"refusal published", emulator.Response{Body: []byte(`{"sub_mchid":"1","out_recharge_no":"A","error":{"code":"NO_AUTH","message":"m"}}`)}, "refused NO_AUTH", false},
		{"function error", emulator.Response{ErrorType: "TRANSIENT", ErrorMessage: "m"}, "error TRANSIENT", false},
		{"batch kept one", emulator.Response{Body: []byte(`{"batchItemFailures":[{"itemIdentifier":"m1"}]}`)}, "batch: 1 kept", false},
		{"batch kept none", emulator.Response{Body: []byte(`{"batchItemFailures":[]}`)}, "batch: none kept", true},
	} {
		got, _ := describe(tt.resp)
		if got != tt.want || succeeded(got) != tt.ok {
			t.Errorf("%s: describe = %q (succeeded %v), want %q (%v)", tt.name, got, succeeded(got), tt.want, tt.ok)
		}
	}
}

// components builds the three bootstraps and finds the emulator, or skips —
// failing instead under CI, where they must be there.
func components(t *testing.T) (rie string, bootstraps map[string]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the emulator runs are left to the full suite (make test)")
	}
	rie = os.Getenv("RIE")
	if rie == "" {
		rie, _ = filepath.Abs("../../../bin/aws-lambda-rie")
	}
	if _, err := os.Stat(rie); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Runtime Interface Emulator: %v", err)
		}
		t.Skipf("the Runtime Interface Emulator is not installed (make bin/aws-lambda-rie): %v", err)
	}
	dir := t.TempDir()
	bootstraps = map[string]string{}
	for _, fn := range []string{"close-recharge", "recharge-notify", "recharge-expiry"} {
		bootstraps[fn] = filepath.Join(dir, fn)
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstraps[fn], "../../../functions/"+fn)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", fn, err, out)
		}
	}
	return rie, bootstraps
}

func demoArgs(rie string, bootstraps map[string]string) []string {
	return []string{"-rie", rie, "-bootstrap", bootstraps["close-recharge"], "-notify-bootstrap", bootstraps["recharge-notify"],
		"-expiry-bootstrap", bootstraps["recharge-expiry"], "-events", "../../../events", "-template", "../../../template.yaml"}
}

// make demo tells the whole life with moto, and only the fixtures without it.
func TestDemoWholeLife(t *testing.T) {
	rie, bootstraps := components(t)
	t.Run("with moto", func(t *testing.T) {
		t.Setenv("MOTO_ENDPOINT", awstest.MotoForTest(t))
		var out strings.Builder
		if err := run(context.Background(), demoArgs(rie, bootstraps), &out); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		for _, want := range []string{"10 invocations, 10 as expected, 0 not", "6 checks of the whole life, 6 as expected, 0 not",
			"Scheduler fires close-1900000109-RCLIFEEXPIRES1"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the story lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "Scheduler fires close-1900000109-RCLIFEPAID1") {
			t.Errorf("the paid recharge's schedule fired:\n%s", out.String())
		}
	})
	t.Run("without moto", func(t *testing.T) {
		t.Setenv("MOTO_ENDPOINT", "")
		t.Setenv("PATH", t.TempDir())
		var out strings.Builder
		if err := run(context.Background(), demoArgs(rie, bootstraps), &out); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "needs moto: pip install 'moto[server]'; skipped.") || strings.Contains(out.String(), "whole life:") {
			t.Errorf("without moto, the demo must say the whole life is skipped, and skip it:\n%s", out.String())
		}
	})
}

// fakeFunction answers every invocation with one answer and keeps the event.
type fakeFunction struct {
	answer emulator.Response
	event  []byte
}

func (f *fakeFunction) Invoke(_ context.Context, payload []byte) (emulator.Response, error) {
	f.event = payload
	return f.answer, nil
}

// The notify URL answers as the function does, so WeChat Pay's retries
// follow the function's answers; the function gets the HTTP API event with
// the body's exact bytes.
func TestNotifyListener(t *testing.T) {
	body := `{"id":"EV-1","event_type":"RECHARGE.SUCCESS"}`
	for _, tt := range []struct {
		name       string
		fn         *fakeFunction
		wantStatus int
		wantBody   string
	}{
		{"acknowledged", &fakeFunction{answer: emulator.Response{Body: []byte(`{"statusCode":200,"body":"{\"code\":\"SUCCESS\"}"}`)}}, 200, `{"code":"SUCCESS"}`},
		{"refused", &fakeFunction{answer: emulator.Response{Body: []byte(`{"statusCode":401,"body":"{\"code\":\"FAIL\",\"message\":\"signature\"}"}`)}}, 401, `{"code":"FAIL","message":"signature"}`},
		{"failed half-way", &fakeFunction{answer: emulator.Response{Body: []byte(`{"statusCode":500,"body":"{\"code\":\"FAIL\",\"message\":\"publish\"}"}`)}}, 500, `{"code":"FAIL","message":"publish"}`},
		{"function error", &fakeFunction{answer: emulator.Response{Body: []byte(`{"errorType":"Runtime.Exit"}`), ErrorType: "Runtime.Exit"}}, 500, `{"message":"Internal Server Error"}`},
		{"function down", nil, 503, `{"message":"Service Unavailable"}`},
	} {
		l := &notifyListener{}
		if tt.fn != nil {
			l.attach(tt.fn)
		}
		req := httptest.NewRequest(http.MethodPost, "/wechatpay/notifications", strings.NewReader(body))
		req.Header.Set("Wechatpay-Signature", "c2ln")
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, req)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != tt.wantStatus || got != tt.wantBody {
			t.Errorf("%s: answered %d %s, want %d %s", tt.name, rec.Code, got, tt.wantStatus, tt.wantBody)
		}
		if tt.fn == nil {
			continue
		}
		var event events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(tt.fn.event, &event); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, _ := base64.StdEncoding.DecodeString(event.Body)
		if event.Version != "2.0" || event.RequestContext.HTTP.Method != http.MethodPost || !event.IsBase64Encoded || string(got) != body ||
			event.Headers["wechatpay-signature"] != "c2ln" {
			t.Errorf("%s: the function got %s", tt.name, tt.fn.event)
		}
	}
}

// The whole life's checks fail exactly where the story went wrong.
func TestLifeChecks(t *testing.T) {
	event := func(detailType, no, state, notificationID string) awstest.Event {
		d, _ := json.Marshal(map[string]string{"out_recharge_no": no, "recharge_state": state, "notification_id": notificationID})
		return awstest.Event{DetailType: detailType, Detail: d}
	}
	good := []awstest.Event{
		event("Recharge Succeeded", lifePaid, "SUCCESS", "N1"),
		event("Recharge Closed", lifeExpires, "CLOSED", ""),
		event("Recharge Closed", lifeExpires, "CLOSED", "N2"),
	}
	for _, tt := range []struct {
		name          string
		published     []awstest.Event
		paidRequests  int
		paidScheduled bool
		closes        int
		state         string
		wantFailed    []int // indexes of the checks that must fail
	}{
		{"as it should go", good, 0, false, 1, "CLOSED", nil},
		{"the paid one was asked about", good, 2, false, 1, "CLOSED", []int{0}},
		{"its success published twice", append(slices.Clone(good), good[0]), 0, false, 1, "CLOSED", []int{1}},
		{"its schedule left", good, 0, true, 1, "CLOSED", []int{2}},
		{"closed twice", good, 0, false, 2, "CLOSED", []int{3}},
		{"not closed", good, 0, false, 0, "RECHARGING", []int{3}},
		{"no notification", good[:2], 0, false, 1, "CLOSED", []int{4}},
		{"two states", append(slices.Clone(good[:2]), event("Recharge Closed", lifeExpires, "SUCCESS", "N2")), 0, false, 1, "CLOSED", []int{5}},
	} {
		var failed []int
		for i, c := range lifeChecks(tt.published, tt.paidRequests, tt.paidScheduled, tt.closes, tt.state) {
			if !c.ok {
				failed = append(failed, i)
			}
		}
		if !slices.Equal(failed, tt.wantFailed) {
			t.Errorf("%s: checks %v failed, want %v", tt.name, failed, tt.wantFailed)
		}
	}
}
