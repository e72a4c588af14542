package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/recharge"
)

// fixedCloser answers every close with the same result or error.
type fixedCloser struct {
	res   closer.Result
	err   error
	calls int
}

func (f *fixedCloser) Close(context.Context, string, string) (closer.Result, error) {
	f.calls++
	return f.res, f.err
}

func (f *fixedCloser) Settle(ctx context.Context, sub, no string) (closer.Result, error) {
	return f.Close(ctx, sub, no)
}

func (f *fixedCloser) Publish(_ context.Context, results []*closer.Result) []error {
	return make([]error, len(results))
}

const (
	directEvent = `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`
	httpEvent   = `{"version":"2.0","routeKey":"POST /recharges/{out_recharge_no}/close","requestContext":{"requestId":"api-1"},` +
		`"pathParameters":{"out_recharge_no":"R1"},"queryStringParameters":{"sub_mchid":"1900000109"}}`
	restEvent = `{"httpMethod":"POST","requestContext":{"requestId":"api-1"},"pathParameters":{"out_recharge_no":"R1"},` +
		`"body":"{\"sub_mchid\":\"1900000109\"}"}`
)

var (
	closed      = closer.Result{Outcome: closer.Closed, Recharge: &recharge.Recharge{OutRechargeNo: "R1", RechargeState: "CLOSED"}, Published: true}
	notClosable = closer.Result{Outcome: closer.NotClosable, Recharge: &recharge.Recharge{OutRechargeNo: "R1", RechargeState: "SUCCESS"}, Published: true}
	refused     = func(code string, published bool) closer.Result {
		return closer.Result{Outcome: closer.Refused, Published: published,
			Failure: &closer.Failure{SubMchid: "1900000109", OutRechargeNo: "R1", Error: closer.ErrorBody{Code: code, Message: "msg"}, Reason: reasons[code]}}
	}
	errLeaky = errors.New("upstream body {\"secret\":\"value\"} and a stack")
	// What the WeChat Pay client makes of these codes.
	reasons = map[string]fault.Reason{"ORDER_NOT_EXIST": fault.NotFound, "NO_AUTH": fault.Forbidden}
)

func TestAPIAnswers(t *testing.T) {
	tests := []struct {
		name       string
		res        closer.Result
		err        error
		wantStatus int
		wantCode   string // error body code; "" when the body is a recharge
		wantState  string
	}{
		{"closed", closed, nil, 200, "", "CLOSED"},
		{"not closable", notClosable, nil, 409, "", "SUCCESS"},
		{"order not exist", refused("ORDER_NOT_EXIST", true), nil, 404, "ORDER_NOT_EXIST", ""},
		{"no auth", refused("NO_AUTH", true), nil, 403, "NO_AUTH", ""},
		{"business refusal", refused("RULE_LIMIT", true), nil, 409, "RULE_LIMIT", ""},
		{"configuration", nil2(), &fault.Error{Kind: fault.Configuration, Code: "SIGN_ERROR", Message: "signature rejected", Cause: errLeaky}, 500, "CONFIGURATION_ERROR", ""},
		{"rate limited", nil2(), &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: "RATELIMIT_EXCEEDED", Status: 429, Message: "slow down"}, 503, "RATELIMIT_EXCEEDED", ""},
		{"unavailable", nil2(), &fault.Error{Kind: fault.Transient, Reason: fault.Unavailable, Code: "SERVICE_UNAVAILABLE", Status: 503, Message: "down"}, 503, "SERVICE_UNAVAILABLE", ""},
		{"timeout", nil2(), fault.Timeout(errLeaky, "late"), 504, "TIMEOUT", ""},
		{"system error", nil2(), &fault.Error{Kind: fault.Transient, Code: "SYSTEM_ERROR", Status: 500, Message: "oops"}, 502, "SYSTEM_ERROR", ""},
		{"unverified", nil2(), &fault.Error{Kind: fault.Transient, Code: fault.CodeUnverified, Status: 200, Message: "bad sig"}, 502, fault.CodeUnverified, ""},
		{"publish failed", nil2(), &fault.Error{Kind: fault.Transient, Code: fault.CodePublish, Message: "bus down"}, 502, fault.CodePublish, ""},
		{"plain error", nil2(), errLeaky, 502, fault.CodeNetwork, ""},
	}
	for _, tt := range tests {
		for _, event := range []string{httpEvent, restEvent} {
			t.Run(tt.name, func(t *testing.T) {
				var logs bytes.Buffer
				h := New(&fixedCloser{res: tt.res, err: tt.err}, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
				out, err := h.Invoke(context.Background(), []byte(event))
				if err != nil {
					t.Fatalf("API invocations never fail: %v", err)
				}
				var resp struct {
					StatusCode int               `json:"statusCode"`
					Headers    map[string]string `json:"headers"`
					Body       string            `json:"body"`
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				var body struct {
					Code, Message string
					State         string `json:"recharge_state"`
				}
				_ = json.Unmarshal([]byte(resp.Body), &body)
				if resp.StatusCode != tt.wantStatus || body.Code != tt.wantCode || body.State != tt.wantState ||
					!strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
					t.Errorf("answer %s, want %d %s %s", out, tt.wantStatus, tt.wantCode, tt.wantState)
				}
				if strings.Contains(resp.Body, "secret") || strings.Contains(resp.Body, "stack") {
					t.Errorf("error body leaks its cause: %s", resp.Body)
				}
				if !strings.Contains(logs.String(), `"api_request_id":"api-1"`) {
					t.Errorf("summary log lacks the API request id: %s", logs.String())
				}
			})
		}
	}
}

func nil2() closer.Result { return closer.Result{} }

func TestInvokeAnswers(t *testing.T) {
	tests := []struct {
		name      string
		res       closer.Result
		err       error
		wantType  string // errorType; "" = success
		wantState string
		wantCode  string
	}{
		{"closed", closed, nil, "", "CLOSED", ""},
		{"not closable is no error", notClosable, nil, "", "SUCCESS", ""},
		{"refused and published", refused("ORDER_NOT_EXIST", true), nil, "", "", "ORDER_NOT_EXIST"},
		{"refused, nothing published", refused("ORDER_NOT_EXIST", false), nil, "REFUSED", "", ""},
		{"invalid input", nil2(), fault.New(fault.InvalidInput, "sub_mchid is required"), "INVALID_INPUT", "", ""},
		{"configuration", nil2(), &fault.Error{Kind: fault.Configuration, Code: fault.CodeConfiguration, Message: "secret x not found", Cause: errLeaky}, "CONFIGURATION_ERROR", "", ""},
		{"transient", nil2(), &fault.Error{Kind: fault.Transient, Code: "SYSTEM_ERROR", Message: "oops", Cause: errLeaky}, "TRANSIENT", "", ""},
		{"plain error is transient", nil2(), errLeaky, "TRANSIENT", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(&fixedCloser{res: tt.res, err: tt.err}, slog.New(slog.DiscardHandler), nil)
			out, err := h.Invoke(context.Background(), []byte(directEvent))
			if tt.wantType != "" {
				var ire messages.InvokeResponse_Error
				if !errors.As(err, &ire) || ire.Type != tt.wantType {
					t.Fatalf("err = %#v, want errorType %s", err, tt.wantType)
				}
				if strings.Contains(ire.Message, "secret\"") || strings.Contains(ire.Message, "stack") {
					t.Errorf("error message leaks its cause: %s", ire.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				State string `json:"recharge_state"`
				Error struct{ Code string }
			}
			_ = json.Unmarshal(out, &v)
			if v.State != tt.wantState || v.Error.Code != tt.wantCode {
				t.Errorf("answer %s", out)
			}
		})
	}
}

func TestBadEventsNeverReachTheCloser(t *testing.T) {
	c := &fixedCloser{res: closed}
	h := New(c, slog.New(slog.DiscardHandler), nil)
	_, err := h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"../../x"}`))
	var ire messages.InvokeResponse_Error
	if !errors.As(err, &ire) || ire.Type != "INVALID_INPUT" || !strings.Contains(ire.Message, "out_recharge_no") {
		t.Fatalf("err = %v", err)
	}
	out, err := h.Invoke(context.Background(), []byte(strings.Replace(httpEvent, `"sub_mchid":"1900000109"`, `"sub_mchid":"x"`, 1)))
	if err != nil || !bytes.Contains(out, []byte(`"statusCode":400`)) || !bytes.Contains(out, []byte(`INVALID_INPUT`)) {
		t.Fatalf("API answer %s, %v", out, err)
	}
	if c.calls != 0 {
		t.Errorf("closer called %d times", c.calls)
	}
}

// An expiry request that reaches the close function — invoked directly, or a
// body sent to the close route — asks for a close at its deadline: closing it
// now would void a recharge hours early, so it is refused as invalid input.
func TestExpiryRequestsAreNotClosedNow(t *testing.T) {
	c := &fixedCloser{res: closed}
	h := New(c, slog.New(slog.DiscardHandler), nil)
	_, err := h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2099-12-01T18:00:00+08:00"}`))
	var ire messages.InvokeResponse_Error
	if !errors.As(err, &ire) || ire.Type != "INVALID_INPUT" || !strings.Contains(ire.Message, "has not come") {
		t.Fatalf("direct expiry request: err = %v", err)
	}
	event := strings.Replace(httpEvent, `"queryStringParameters":{"sub_mchid":"1900000109"}}`,
		`"body":"{\"sub_mchid\":\"1900000109\",\"expire_time\":\"2099-12-01T18:00:00+08:00\"}"}`, 1)
	if event == httpEvent {
		t.Fatal("the HTTP API fixture changed: no query string to replace")
	}
	out, err := h.Invoke(context.Background(), []byte(event))
	if err != nil || !bytes.Contains(out, []byte(`"statusCode":400`)) || !bytes.Contains(out, []byte(`has not come`)) {
		t.Fatalf("API answer %s, %v", out, err)
	}
	if c.calls != 0 {
		t.Errorf("closer called %d times", c.calls)
	}
}

func TestSummaryLog(t *testing.T) {
	var logs bytes.Buffer
	h := New(&fixedCloser{res: closed}, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	if _, err := h.Invoke(context.Background(), []byte(directEvent)); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %s", logs.String())
	}
	for k, want := range map[string]any{"trigger": "direct", "sub_mchid": "1900000109", "out_recharge_no": "R1",
		"outcome": "closed", "recharge_state": "CLOSED", "published": true} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Error("no duration_ms")
	}
}

// deadlineCloser records the deadline its context carries.
type deadlineCloser struct {
	fixedCloser
	deadline time.Time
	has      bool
}

func (d *deadlineCloser) Close(ctx context.Context, _, _ string) (closer.Result, error) {
	d.deadline, d.has = ctx.Deadline()
	return closed, nil
}

// An API caller gets its answer within 29 s of the invocation's start, however
// long the function may run: HTTP API gives up at 30 s.
func TestAPIInvocationsAnswerWithin29Seconds(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		lambdaFor  time.Duration
		wantAtMost time.Duration // the closer's deadline, from the invocation's start
	}{
		{"HTTP API under a 60 s timeout", httpEvent, time.Minute, APIBudget},
		{"REST API under a 60 s timeout", restEvent, time.Minute, APIBudget},
		{"HTTP API under a shorter timeout keeps it", httpEvent, 10 * time.Second, 10 * time.Second},
		{"direct invokes keep the function's timeout", directEvent, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &deadlineCloser{}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), tt.lambdaFor)
			defer cancel()
			if _, err := New(c, slog.New(slog.DiscardHandler), nil).Invoke(ctx, []byte(tt.event)); err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			if !c.has {
				t.Fatal("the closer's context has no deadline")
			}
			if c.deadline.Before(start.Add(tt.wantAtMost)) || c.deadline.After(end.Add(tt.wantAtMost)) {
				t.Errorf("closer's deadline %v after the start, want %v", c.deadline.Sub(start), tt.wantAtMost)
			}
		})
	}
}

// An event too large to decode is still answered as its trigger expects: API
// Gateway gets HTTP 400, not an invocation error it would turn into a 500.
func TestOversizedAPIRequestsGet400(t *testing.T) {
	pad := `,"headers":{"x-pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	for _, event := range []string{strings.TrimSuffix(httpEvent, "}") + pad, strings.TrimSuffix(restEvent, "}") + pad} {
		c := &fixedCloser{res: closed}
		out, err := New(c, slog.New(slog.DiscardHandler), nil).Invoke(context.Background(), []byte(event))
		if err != nil || !bytes.Contains(out, []byte(`"statusCode":400`)) || !bytes.Contains(out, []byte(`INVALID_INPUT`)) || c.calls != 0 {
			t.Errorf("answer %.200s, %v; closer called %d times", out, err, c.calls)
		}
	}
}

func TestSummaryLogNamesWhoAsked(t *testing.T) {
	tests := []struct {
		event string
		want  map[string]any
	}{
		{`{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","account":"111122223333",` +
			`"detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`,
			map[string]any{"trigger": "eventbridge", "source": "platform.recharges", "account": "111122223333"}},
		{strings.Replace(httpEvent, `"requestContext":{"requestId":"api-1"}`,
			`"requestContext":{"requestId":"api-1","authorizer":{"iam":{"accountId":"111122223333","userArn":"arn:aws:iam::111122223333:role/backend"}}}`, 1),
			map[string]any{"trigger": "http-api", "caller": "arn:aws:iam::111122223333:role/backend", "account": "111122223333"}},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		if _, err := New(&fixedCloser{res: closed}, slog.New(slog.NewJSONHandler(&logs, nil)), nil).Invoke(context.Background(), []byte(tt.event)); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("not one JSON line: %s", logs.String())
		}
		for k, want := range tt.want {
			if line[k] != want {
				t.Errorf("%s = %v, want %v", k, line[k], want)
			}
		}
	}
}
