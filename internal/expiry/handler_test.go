package expiry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"close-recharge/internal/fault"
	"close-recharge/internal/trigger"
)

func httpAPI(method, no, query, body string, b64 bool) string {
	e := map[string]any{
		"version": "2.0", "routeKey": method + " /recharges/{out_recharge_no}/expiry", "rawPath": "/recharges/" + no + "/expiry",
		"requestContext": map[string]any{"requestId": "req-1", "http": map[string]any{"method": method},
			"authorizer": map[string]any{"iam": map[string]any{"userArn": "arn:aws:iam::123456789012:user/platform"}}},
		"pathParameters": map[string]string{"out_recharge_no": no}, "body": body, "isBase64Encoded": b64,
	}
	if query != "" {
		e["queryStringParameters"] = map[string]string{"sub_mchid": query}
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func restAPI(method, no, query, body string) string {
	b, _ := json.Marshal(map[string]any{
		"resource": "/recharges/{out_recharge_no}/expiry", "httpMethod": method, "body": body,
		"requestContext":        map[string]any{"requestId": "req-2", "httpMethod": method, "identity": map[string]any{}},
		"pathParameters":        map[string]string{"out_recharge_no": no},
		"queryStringParameters": map[string]string{"sub_mchid": query},
	})
	return string(b)
}

func TestDecode(t *testing.T) {
	const at = "2026-12-01T18:00:00+08:00"
	want := Request{SubMchid: "1900000109", OutRechargeNo: "RC1", ExpireTime: at}
	ok := []struct {
		name   string
		event  string
		kind   trigger.Kind
		cancel bool
	}{
		{"HTTP API PUT", httpAPI("PUT", "RC1", "1900000109", `{"expire_time":"`+at+`"}`, false), trigger.HTTPAPI, false},
		{"HTTP API PUT, base64 body", httpAPI("PUT", "RC1", "1900000109", base64.StdEncoding.EncodeToString([]byte(`{"expire_time":"`+at+`"}`)), true), trigger.HTTPAPI, false},
		{"HTTP API DELETE", httpAPI("DELETE", "RC1", "1900000109", "", false), trigger.HTTPAPI, true},
		{"REST API PUT, percent-encoded path", restAPI("PUT", "%52C1", "1900000109", `{"expire_time":"`+at+`"}`), trigger.RESTAPI, false},
		{"REST API DELETE", restAPI("DELETE", "RC1", "1900000109", ""), trigger.RESTAPI, true},
		{"envelope", `{"version":"0","detail-type":"Recharge Expiry Requested","source":"platform.recharges","account":"123456789012",` +
			`"detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"` + at + `"}}`, trigger.EventBridge, false},
		{"envelope, string detail", `{"detail-type":"Recharge Expiry Requested",` +
			`"detail":"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"RC1\",\"expire_time\":\"` + at + `\"}"}`, trigger.EventBridge, false},
		{"direct", `{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"` + at + `"}`, trigger.Direct, false},
	}
	for _, tt := range ok {
		c, err := decode([]byte(tt.event))
		if err != nil || c.kind != tt.kind || c.cancel != tt.cancel || c.req.SubMchid != want.SubMchid || c.req.OutRechargeNo != want.OutRechargeNo ||
			(!tt.cancel && c.req.ExpireTime != at) {
			t.Errorf("%s: decode = %+v, %v", tt.name, c, err)
		}
	}
	bad := []struct {
		name, event string
		kind        trigger.Kind
		want        string
	}{
		{"PUT without body", httpAPI("PUT", "RC1", "1900000109", "", false), trigger.HTTPAPI, "body is required"},
		{"PUT without expire_time", httpAPI("PUT", "RC1", "1900000109", `{"expire":"x"}`, false), trigger.HTTPAPI, "body.expire_time is required"},
		{"PUT, case variant", httpAPI("PUT", "RC1", "1900000109", `{"EXPIRE_TIME":"`+at+`"}`, false), trigger.HTTPAPI, "body.expire_time is required"},
		{"PUT, expire_time twice", httpAPI("PUT", "RC1", "1900000109", `{"expire_time":"`+at+`","expire_time":"x"}`, false), trigger.HTTPAPI, "given twice"},
		{"PUT, number", httpAPI("PUT", "RC1", "1900000109", `{"expire_time":1}`, false), trigger.HTTPAPI, "expire_time must be a JSON string"},
		{"PUT, bad id", httpAPI("PUT", "RC-1", "1900000109", `{"expire_time":"`+at+`"}`, false), trigger.HTTPAPI, "out_recharge_no must be"},
		{"PUT, no sub_mchid", httpAPI("PUT", "RC1", "", `{"expire_time":"`+at+`"}`, false), trigger.HTTPAPI, "sub_mchid is required"},
		{"POST", httpAPI("POST", "RC1", "1900000109", "", false), trigger.HTTPAPI, "PUT sets an expiry"},
		{"another detail-type", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1"}}`, trigger.EventBridge, "detail-type must be"},
		{"envelope without expire_time", `{"detail-type":"Recharge Expiry Requested","detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1"}}`, trigger.EventBridge, "detail.expire_time is required"},
		{"envelope, bad id", `{"detail-type":"Recharge Expiry Requested","detail":{"sub_mchid":"19x","out_recharge_no":"RC1","expire_time":"` + at + `"}}`, trigger.EventBridge, "detail.sub_mchid must be"},
		{"envelope, detail twice", `{"detail-type":"Recharge Expiry Requested","detail":{},"DETAIL":{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"` + at + `"}}`, trigger.Direct, "event.detail is given twice"},
		{"envelope, case variant in detail", `{"detail-type":"Recharge Expiry Requested","detail":{"sub_mchid":"1900000109","Sub_Mchid":"1","out_recharge_no":"RC1","expire_time":"` + at + `"}}`, trigger.EventBridge, "given twice"},
		{"direct without expire_time", `{"sub_mchid":"1900000109","out_recharge_no":"RC1"}`, trigger.Direct, "expire_time is required"},
		{"an SQS batch", `{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"{}"}]}`, trigger.SQS, "not an sqs event"},
		{"not an object", `[]`, trigger.Direct, "event must be a JSON object"},
	}
	for _, tt := range bad {
		c, err := decode([]byte(tt.event))
		if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), tt.want) || c.kind != tt.kind {
			t.Errorf("%s: %s %v, want %s invalid input with %q", tt.name, c.kind, err, tt.kind, tt.want)
		}
	}
}

// The route's answers, through the service against moto: 200 with the state,
// 400 INVALID_INPUT naming the field; a non-API request that is invalid fails
// the invocation, so that Lambda retries and keeps it.
func TestInvoke(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	h := NewHandler(f.svc, slog.New(slog.NewJSONHandler(&logs, nil)))
	invoke := func(event string) (int, map[string]string) {
		t.Helper()
		out, err := h.Invoke(context.Background(), []byte(event))
		if err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		var resp events.APIGatewayV2HTTPResponse
		var body map[string]string
		if err := json.Unmarshal(out, &resp); err != nil || json.Unmarshal([]byte(resp.Body), &body) != nil {
			t.Fatalf("answer %s", out)
		}
		return resp.StatusCode, body
	}
	status, body := invoke(httpAPI("PUT", "RC8", "1900000109", `{"expire_time":"2026-12-01T18:00:00+08:00"}`, false))
	if status != 200 || body["state"] != Scheduled || body["schedule_name"] != "close-1900000109-RC8" ||
		body["expire_time"] != "2026-12-01T18:00:00+08:00" || body["sub_mchid"] != "1900000109" || body["out_recharge_no"] != "RC8" {
		t.Errorf("PUT: %d %v", status, body)
	}
	status, body = invoke(httpAPI("DELETE", "RC8", "1900000109", "", false))
	if status != 200 || body["state"] != Cancelled || body["schedule_name"] != "close-1900000109-RC8" {
		t.Errorf("DELETE: %d %v", status, body)
	}
	status, body = invoke(httpAPI("PUT", "RC8", "1900000109", `{"expire_time":"2026-12-09T18:00:00+08:00"}`, false))
	if status != 400 || body["code"] != "INVALID_INPUT" || !strings.Contains(body["message"], "expire_time must be at most 7 days") {
		t.Errorf("PUT 8 days ahead: %d %v", status, body)
	}
	if !strings.Contains(logs.String(), `"caller":"arn:aws:iam::123456789012:user/platform"`) {
		t.Errorf("log:\n%s", logs.String())
	}

	out, err := h.Invoke(context.Background(), []byte(`{"detail-type":"Recharge Expiry Requested","detail":{"sub_mchid":"1900000109","out_recharge_no":"RC9","expire_time":"2026-12-01T10:00:00"}}`))
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) || ie.Type != string(fault.InvalidInput) || !strings.Contains(ie.Message, "no UTC offset") {
		t.Errorf("envelope without offset: %s, %v", out, err)
	}
	out, err = h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"RC9","expire_time":"2026-12-01T10:00:00Z"}`))
	var res Result
	if err != nil || json.Unmarshal(out, &res) != nil || res.State != Scheduled {
		t.Errorf("direct: %s, %v", out, err)
	}
}

// Each trigger's own time of the request is read: the one a retry keeps.
func TestDecodeRequestTime(t *testing.T) {
	const body = `{"expire_time":"2026-12-01T18:00:00+08:00"}`
	at := time.Date(2026, 12, 1, 1, 2, 3, 0, time.UTC)
	withContext := func(event string, field string) string {
		var e map[string]any
		_ = json.Unmarshal([]byte(event), &e)
		e["requestContext"].(map[string]any)[field] = at.Add(456 * time.Millisecond).UnixMilli()
		b, _ := json.Marshal(e)
		return string(b)
	}
	for _, tt := range []struct {
		name, event string
		want        time.Time
	}{
		{"envelope", `{"version":"0","id":"e1","detail-type":"Recharge Expiry Requested","source":"platform.recharges","time":"2026-12-01T01:02:03Z",` +
			`"detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T18:00:00+08:00"}}`, at},
		{"HTTP API PUT", withContext(httpAPI("PUT", "RC1", "1900000109", body, false), "timeEpoch"), at.Add(456 * time.Millisecond)},
		{"HTTP API DELETE", withContext(httpAPI("DELETE", "RC1", "1900000109", "", false), "timeEpoch"), at.Add(456 * time.Millisecond)},
		{"REST API PUT", withContext(restAPI("PUT", "RC1", "1900000109", body), "requestTimeEpoch"), at.Add(456 * time.Millisecond)},
		{"REST API DELETE", withContext(restAPI("DELETE", "RC1", "1900000109", ""), "requestTimeEpoch"), at.Add(456 * time.Millisecond)},
		{"direct", `{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T18:00:00+08:00","requested_at":"2026-12-01T09:02:03+08:00"}`, at},
		{"direct, no time", `{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T18:00:00+08:00"}`, time.Time{}},
	} {
		c, err := decode([]byte(tt.event))
		if err != nil || !c.req.RequestedAt.Equal(tt.want) {
			t.Errorf("%s: requested at %v, %v; want %v", tt.name, c.req.RequestedAt, err, tt.want)
		}
	}
	for _, event := range []string{
		`{"detail-type":"Recharge Expiry Requested","time":"yesterday","detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T18:00:00Z"}}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T18:00:00Z","requested_at":1764550923}`,
	} {
		if _, err := decode([]byte(event)); fault.KindOf(err) != fault.InvalidInput {
			t.Errorf("%s: %v, want invalid input", event, err)
		}
	}
}

// A platform's PUT, then the late retry of an event it sent before: the event
// is superseded, and so is an API call made before the PUT; the route answers
// 200 with what stands.
func TestInvokeSuperseded(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	h := NewHandler(f.svc, slog.New(slog.NewJSONHandler(&logs, nil)))
	put := func(epoch time.Time, expire string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var e map[string]any
		_ = json.Unmarshal([]byte(httpAPI("PUT", "RC10", "1900000109", `{"expire_time":"`+expire+`"}`, false)), &e)
		e["requestContext"].(map[string]any)["timeEpoch"] = epoch.UnixMilli()
		event, _ := json.Marshal(e)
		out, err := h.Invoke(context.Background(), event)
		var resp events.APIGatewayV2HTTPResponse
		if err != nil || json.Unmarshal(out, &resp) != nil {
			t.Fatalf("PUT: %s, %v", out, err)
		}
		return resp
	}
	if resp := put(f.now.Add(-time.Minute), "2026-12-01T20:00:00+08:00"); resp.StatusCode != 200 || !strings.Contains(resp.Body, `"state":"scheduled"`) {
		t.Fatalf("PUT: %d %s", resp.StatusCode, resp.Body)
	}
	out, err := h.Invoke(context.Background(), []byte(`{"version":"0","detail-type":"Recharge Expiry Requested","time":"2026-12-01T01:50:00Z",`+
		`"detail":{"sub_mchid":"1900000109","out_recharge_no":"RC10","expire_time":"2026-12-01T18:00:00+08:00"}}`))
	var res Result
	if err != nil || json.Unmarshal(out, &res) != nil || res.State != Superseded || res.Standing != Scheduled || res.ExpireTime != "2026-12-01T12:00:00Z" {
		t.Errorf("late event: %s, %v", out, err)
	}
	resp := put(f.now.Add(-2*time.Minute), "2026-12-01T18:00:00+08:00")
	var body map[string]string
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &body) != nil || body["state"] != Superseded ||
		body["standing"] != Scheduled || body["expire_time"] != "2026-12-01T12:00:00Z" {
		t.Errorf("late PUT: %d %s", resp.StatusCode, resp.Body)
	}
	if !strings.Contains(logs.String(), `"state":"superseded","schedule_name":"close-1900000109-RC10","standing":"scheduled"`) ||
		!strings.Contains(logs.String(), `"requested_at":"2026-12-01T01:50:00Z"`) {
		t.Errorf("log:\n%s", logs.String())
	}
}
