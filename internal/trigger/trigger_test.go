package trigger

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/fault"
)

func TestDecodeFixtures(t *testing.T) {
	want := map[string]Request{
		"direct.json":           {Kind: Direct, SubMchid: "1900000109", OutRechargeNo: "RCDEMO0001"},
		"scheduler.json":        {Kind: Direct, SubMchid: "1900000109", OutRechargeNo: "RCDEMO0002", ExpireTime: json.RawMessage(`"2026-12-01T10:00:00+08:00"`)},
		"eventbridge-rule.json": {Kind: EventBridge, SubMchid: "1900000109", OutRechargeNo: "RCDEMO0003", Source: "platform.recharges", Account: "123456789012"},
		"http-api.json": {Kind: HTTPAPI, SubMchid: "1900000109", OutRechargeNo: "RCDEMO0004", APIRequestID: "JKJaXmPLvHcESHA=",
			Caller: "arn:aws:iam::123456789012:user/platform-backend", Account: "123456789012"},
		"rest-api.json": {Kind: RESTAPI, SubMchid: "1900000109", OutRechargeNo: "RCDEMO0005", APIRequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
		"sqs.json": {Kind: SQS, Records: []Record{
			{MessageID: "5d0c3f7a-8e1b-4c2a-9f36-1a2b3c4d5e06", Body: `{"sub_mchid":"1900000109","out_recharge_no":"RCDEMO0006"}`,
				QueueARN: "arn:aws:sqs:ap-east-1:123456789012:close-recharge-expiry", ReceiptHandle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a6", ReceiveCount: 1, SentAt: time.UnixMilli(1796090400000)},
			{MessageID: "5d0c3f7a-8e1b-4c2a-9f36-1a2b3c4d5e07", Body: `{"version":"0","id":"7b8c9d0e-1f2a-3b4c-5d6e-7f8a9b0c1d2e","detail-type":"Recharge Expired",` +
				`"source":"platform.recharges","account":"123456789012","time":"2026-12-01T02:00:00Z","region":"ap-east-1","resources":[],` +
				`"detail":{"sub_mchid":"1900000109","out_recharge_no":"RCDEMO0007"}}`,
				QueueARN: "arn:aws:sqs:ap-east-1:123456789012:close-recharge-expiry", ReceiptHandle: "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq", ReceiveCount: 1, SentAt: time.UnixMilli(1796090400001)},
		}},
	}
	paths, _ := filepath.Glob("../../events/*.json")
	if len(paths) != len(want) {
		t.Fatalf("fixtures %v, want %d", paths, len(want))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if !reflect.DeepEqual(got, want[filepath.Base(p)]) {
			t.Errorf("%s: %+v, want %+v", p, got, want[filepath.Base(p)])
		}
	}
}

const (
	v2 = `{"version":"2.0","routeKey":"POST /recharges/{out_recharge_no}/close","requestContext":{"requestId":"r1"},` +
		`"pathParameters":{"out_recharge_no":"R1"}`
	v1 = `{"resource":"/recharges/{out_recharge_no}/close","httpMethod":"POST","requestContext":{"requestId":"r1"},` +
		`"pathParameters":{"out_recharge_no":"R1"}`
)

func TestDecodeAPIGateway(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"sub_mchid":"1900000109"}`))
	tests := []struct {
		name    string
		event   string
		wantSub string
		wantErr string // part of the message; "" = valid
	}{
		{"v2 query", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "1900000109", ""},
		{"v2 body", v2 + `,"body":"{\"sub_mchid\":\"1900000109\"}"}`, "1900000109", ""},
		{"v2 base64 body", v2 + `,"body":"` + b64 + `","isBase64Encoded":true}`, "1900000109", ""},
		{"v2 query and body agree", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"body":"{\"sub_mchid\":\"1900000109\"}"}`, "1900000109", ""},
		{"v1 query", v1 + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "1900000109", ""},
		{"v1 body", v1 + `,"body":"{\"sub_mchid\":\"1900000109\"}"}`, "1900000109", ""},
		{"query and body differ", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"body":"{\"sub_mchid\":\"1900000108\"}"}`, "", "differ"},
		{"v1 repeated query values differ", v1 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"multiValueQueryStringParameters":{"sub_mchid":["1900000109","1900000108"]}}`, "", "twice"},
		{"no sub_mchid", v2 + `}`, "", "sub_mchid is required"},
		{"no path parameter", strings.Replace(v2, `"out_recharge_no":"R1"`, `"x":"R1"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "", "out_recharge_no path parameter"},
		{"path traversal", strings.Replace(v2, `"R1"`, `"..%2FR1"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "", "out_recharge_no"},
		{"body not JSON", v2 + `,"body":"sub_mchid=1900000109"}`, "", "body must be a JSON object"},
		{"body number", v2 + `,"body":"{\"sub_mchid\":1900000109}"}`, "", "sub_mchid must be a JSON string"},
		{"bad base64", v2 + `,"body":"***","isBase64Encoded":true}`, "", "base64"},
		{"body too large", v2 + `,"body":"{\"pad\":\"` + strings.Repeat("x", MaxBodyBytes) + `\"}"}`, "", "larger than"},
		{"sub_mchid not digits", v2 + `,"queryStringParameters":{"sub_mchid":"19x"}}`, "", "sub_mchid must be"},
		// HTTP API joins repeated values with commas; REST API lists them. Both read them alike.
		{"v2 repeated query values agree", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109,1900000109"}}`, "1900000109", ""},
		{"v1 repeated query values agree", v1 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"multiValueQueryStringParameters":{"sub_mchid":["1900000109","1900000109"]}}`, "1900000109", ""},
		{"v2 repeated query values differ", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109,1900000108"}}`, "", "twice"},
		{"v1 repeated query values differ, last one first", v1 + `,"queryStringParameters":{"sub_mchid":"1900000108"},"multiValueQueryStringParameters":{"sub_mchid":["1900000109","1900000108"]}}`, "", "twice"},
		{"v2 empty repeat", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109,"}}`, "", "twice"},
		{"v1 percent-encoded path parameter", strings.Replace(v1, `"R1"`, `"R%31"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "1900000109", ""},
		{"v1 percent-encoded slash", strings.Replace(v1, `"R1"`, `"R%2F1"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "", "out_recharge_no must be"},
		{"v1 bad percent-encoding", strings.Replace(v1, `"R1"`, `"R%3"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "", "percent-encoding"},
		{"v1 double-encoded stays encoded once", strings.Replace(v1, `"R1"`, `"R%2531"`, 1) + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, "", "out_recharge_no must be"},
		{"case variant in the body", v2 + `,"body":"{\"sub_mchid\":\"1900000109\",\"SUB_MCHID\":\"1900000108\"}"}`, "", "given twice"},
		{"only a case variant in the body", v2 + `,"body":"{\"SUB_MCHID\":\"1900000109\"}"}`, "", "sub_mchid is required"},
		{"v2 oversized event", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"headers":{"x":"` + strings.Repeat("x", MaxEventBytes) + `"}}`, "", "larger than 256 KiB"},
		{"v1 oversized event", v1 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"headers":{"x":"` + strings.Repeat("x", MaxEventBytes) + `"}}`, "", "larger than 256 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.event))
			if !got.IsAPI() {
				t.Errorf("kind %s is not an API kind: an API caller must get an HTTP answer", got.Kind)
			}
			if tt.wantErr == "" {
				if err != nil || got.SubMchid != tt.wantSub || got.OutRechargeNo != "R1" || got.APIRequestID != "r1" {
					t.Fatalf("Decode = %+v, %v", got, err)
				}
				return
			}
			assertInvalid(t, err, tt.wantErr)
		})
	}
}

func TestDecodeEventBridgeAndDirect(t *testing.T) {
	tests := []struct {
		name     string
		event    string
		wantKind Kind
		wantErr  string
	}{
		{"direct", `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`, Direct, ""},
		{"direct with extra fields", `{"sub_mchid":"1900000109","out_recharge_no":"R1","expire_time":"x"}`, Direct, ""},
		{"envelope", `{"version":"0","detail-type":"Recharge Expired","source":"p","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`, EventBridge, ""},
		{"envelope with string detail", `{"detail-type":"Recharge Expired","detail":"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R1\"}"}`, EventBridge, ""},
		{"envelope without detail", `{"detail-type":"Recharge Expired"}`, EventBridge, "detail is required"},
		{"envelope detail array", `{"detail-type":"Recharge Expired","detail":[1]}`, EventBridge, "detail must be a JSON object"},
		{"envelope detail missing id", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109"}}`, EventBridge, "detail.out_recharge_no is required"},
		{"envelope detail-type not string", `{"detail-type":5,"detail":{}}`, EventBridge, "detail-type"},
		{"missing out_recharge_no", `{"sub_mchid":"1900000109"}`, Direct, "out_recharge_no is required"},
		{"missing sub_mchid", `{"out_recharge_no":"R1"}`, Direct, "sub_mchid is required"},
		{"number for sub_mchid", `{"sub_mchid":1900000109,"out_recharge_no":"R1"}`, Direct, "sub_mchid must be a JSON string"},
		{"null out_recharge_no", `{"sub_mchid":"1900000109","out_recharge_no":null}`, Direct, "out_recharge_no is required"},
		{"out_recharge_no too long", `{"sub_mchid":"1900000109","out_recharge_no":"` + strings.Repeat("A", 65) + `"}`, Direct, "out_recharge_no must be"},
		{"out_recharge_no with slash", `{"sub_mchid":"1900000109","out_recharge_no":"R1/close"}`, Direct, "out_recharge_no must be"},
		{"full-width digits", `{"sub_mchid":"１９００","out_recharge_no":"R1"}`, Direct, "sub_mchid must be"},
		{"array", `[{"sub_mchid":"1900000109","out_recharge_no":"R1"}]`, Direct, "JSON object"},
		{"string", `"R1"`, Direct, "JSON object"},
		{"empty", ``, Direct, "JSON object"},
		{"not JSON", `{sub_mchid}`, Direct, "not valid JSON"},
		{"invalid UTF-8", "{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R\xff\"}", Direct, "UTF-8"},
		{"upper-case names are not the fields", `{"SUB_MCHID":"1900000109","OUT_RECHARGE_NO":"R1"}`, Direct, "sub_mchid is required"},
		{"our own Recharge Closed", `{"detail-type":"Recharge Closed","source":"wechatpay.recharge","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1","recharge_state":"CLOSED"}}`, EventBridge, "outcome this function publishes"},
		{"our own Recharge Close Rejected", `{"detail-type":"Recharge Close Rejected","source":"other","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`, EventBridge, "outcome this function publishes"},
		{"our own Recharge Close Failed", `{"detail-type":"Recharge Close Failed","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1","error":{"code":"NO_AUTH"}}}`, EventBridge, "outcome this function publishes"},
		{"source of the wrong type", `{"detail-type":"Recharge Expired","source":5,"detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`, EventBridge, "source must be a JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.event))
			if got.Kind != tt.wantKind {
				t.Errorf("kind = %s, want %s", got.Kind, tt.wantKind)
			}
			if tt.wantErr == "" {
				if err != nil || got.SubMchid != "1900000109" || got.OutRechargeNo != "R1" {
					t.Fatalf("Decode = %+v, %v", got, err)
				}
				return
			}
			assertInvalid(t, err, tt.wantErr)
		})
	}
}

func assertInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want invalid input mentioning %q", err, want)
	}
}

func TestHostileEvents(t *testing.T) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	tests := []struct {
		name    string
		event   string
		wantErr string
	}{
		{"duplicated out_recharge_no", `{"sub_mchid":"1900000109","out_recharge_no":"R1","out_recharge_no":"R2"}`, "out_recharge_no is given twice"},
		{"duplicated sub_mchid in detail", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","sub_mchid":"1900000108","out_recharge_no":"R1"}}`, "detail.sub_mchid is given twice"},
		{"duplicated detail", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"},"detail":{}}`, "detail is given twice"},
		{"duplicated sub_mchid in an API body", v2 + `,"body":"{\"sub_mchid\":\"1900000109\",\"sub_mchid\":\"1\"}"}`, "body.sub_mchid is given twice"},
		{"deeply nested", `{"sub_mchid":"1900000109","out_recharge_no":"R1","x":` + deep + `}`, "deeper than 32"},
		{"nested 33 deep", `{"sub_mchid":"1900000109","out_recharge_no":"R1","x":` + strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) + `}`, "deeper than 32"},
		{"oversized event", `{"sub_mchid":"1900000109","out_recharge_no":"R1","pad":"` + strings.Repeat("x", MaxEventBytes) + `"}`, "larger than 256 KiB"},
		{"object for out_recharge_no", `{"sub_mchid":"1900000109","out_recharge_no":{"$ne":null}}`, "out_recharge_no must be a JSON string"},
		{"boolean for sub_mchid", `{"sub_mchid":true,"out_recharge_no":"R1"}`, "sub_mchid must be a JSON string"},
		{"escaped slash", `{"sub_mchid":"1900000109","out_recharge_no":"R1\/..\/x"}`, "out_recharge_no must be"},
		{"NUL byte", `{"sub_mchid":"1900000109","out_recharge_no":"R1\u0000"}`, "out_recharge_no must be"},
		{"unicode escape of a digit", `{"sub_mchid":"\uff11900000109","out_recharge_no":"R1"}`, "sub_mchid must be"},
		{"case variant beside sub_mchid", `{"sub_mchid":"1900000109","SUB_MCHID":"1900000108","out_recharge_no":"R1"}`, "sub_mchid is given twice, also as \"SUB_MCHID\""},
		{"case variant before out_recharge_no", `{"Out_Recharge_No":"R2","sub_mchid":"1900000109","out_recharge_no":"R1"}`, "given twice"},
		{"Kelvin sign folds onto k", `{"sub_mchid":"1900000109","out_recharge_no":"R1","\u212a":"1","k":"2"}`, "given twice"},
		{"long s folds onto s", `{"\u017fub_mchid":"1900000108","sub_mchid":"1900000109","out_recharge_no":"R1"}`, "given twice"},
		{"case variant in detail", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","Sub_Mchid":"1900000108","out_recharge_no":"R1"}}`, "detail.sub_mchid is given twice"},
		{"case variant of detail", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"},"DETAIL":{}}`, "detail is given twice"},
		{"case variant in a string detail", `{"detail-type":"Recharge Expired","detail":"{\"sub_mchid\":\"1900000109\",\"SUB_MCHID\":\"1\",\"out_recharge_no\":\"R1\"}"}`, "detail.sub_mchid is given twice"},
		{"trailing data after the object", `{"sub_mchid":"1900000109","out_recharge_no":"R1"}{"x":1}`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.event))
			assertInvalid(t, err, tt.wantErr)
		})
	}
}

func TestDecodeSQS(t *testing.T) {
	record := func(id, body string) string {
		b, _ := json.Marshal(body)
		return `{"messageId":"` + id + `","receiptHandle":"h-` + id + `","body":` + string(b) +
			`,"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q"}`
	}
	big := `{"sub_mchid":"1900000109","out_recharge_no":"R1","pad":"` + strings.Repeat("x", 200<<10) + `"}`
	tests := []struct {
		name    string
		event   string
		records int
		wantErr string
	}{
		{"two records", `{"Records":[` + record("m1", `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`) + "," + record("m2", "x") + `]}`, 2, ""},
		{"a batch larger than one event may be", `{"Records":[` + record("m1", big) + "," + record("m2", big) + `]}`, 2, ""},
		{"no records", `{"Records":[]}`, 0, "1 to 10000 Records"},
		{"another event source", `{"Records":[{"messageId":"m1","eventSource":"aws:s3"}]}`, 0, `comes from "aws:s3"`},
		{"no message id", `{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`, 0, "no messageId"},
		{"a message id twice is one record", `{"Records":[` + record("m1", "{}") + "," + record("m1", "{}") + "," + record("m2", "{}") + `]}`, 2, ""},
		{"Records not a list", `{"Records":{}}`, 0, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.event))
			if got.Kind != SQS {
				t.Errorf("kind = %s", got.Kind)
			}
			if tt.wantErr != "" {
				assertInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil || len(got.Records) != tt.records || got.Records[0].QueueARN != "arn:aws:sqs:us-east-1:123456789012:q" ||
				got.Records[0].ReceiptHandle != "h-m1" {
				t.Fatalf("Decode = %+v, %v", got, err)
			}
		})
	}
}

// SQS says how many times it handed a record out; the function's receive
// budget and its last-receive outcome follow from it.
func TestDecodeSQSReceiveCount(t *testing.T) {
	for attrs, want := range map[string]int{
		`"attributes":{"ApproximateReceiveCount":"7"},`:  7,
		`"attributes":{"ApproximateReceiveCount":"x"},`:  0,
		`"attributes":{"ApproximateReceiveCount":"-2"},`: 0,
		``: 0,
	} {
		got, err := Decode([]byte(`{"Records":[{"messageId":"m1",` + attrs + `"body":"{}","eventSource":"aws:sqs"}]}`))
		if err != nil || len(got.Records) != 1 || got.Records[0].ReceiveCount != want {
			t.Errorf("%s: Decode = %+v, %v; want ReceiveCount %d", attrs, got.Records, err, want)
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantKind Kind
		wantErr  string
	}{
		{"direct", `{"sub_mchid":"1900000109","out_recharge_no":"R1"}`, Direct, ""},
		{"a rule's envelope", `{"detail-type":"Recharge Expired","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`, EventBridge, ""},
		{"an API request", v2 + `,"queryStringParameters":{"sub_mchid":"1900000109"}}`, Direct, "not an API Gateway request"},
		{"a nested batch", `{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"{}"}]}`, Direct, "not an SQS event"},
		{"our own outcome", `{"detail-type":"Recharge Closed","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`, EventBridge, "outcome this function publishes"},
		{"a bad identifier", `{"sub_mchid":"1900000109","out_recharge_no":"../x"}`, Direct, "out_recharge_no must be"},
		{"too large", `{"sub_mchid":"1900000109","out_recharge_no":"R1","pad":"` + strings.Repeat("x", MaxEventBytes) + `"}`, Direct, "larger than 256 KiB"},
		{"not JSON", `close R1`, Direct, "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRecord(tt.body)
			if got.Kind != tt.wantKind {
				t.Errorf("kind = %s, want %s", got.Kind, tt.wantKind)
			}
			if tt.wantErr != "" {
				assertInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil || got.SubMchid != "1900000109" || got.OutRechargeNo != "R1" {
				t.Fatalf("DecodeRecord = %+v, %v", got, err)
			}
		})
	}
}

// An expiry request asks for a close at its deadline: taken as a close
// request, by a rule or on the queue, it would close the recharge early.
func TestExpiryRequestIsNotACloseRequest(t *testing.T) {
	for name, event := range map[string]string{
		"object detail": `{"version":"0","detail-type":"Recharge Expiry Requested","source":"platform.recharges",` +
			`"detail":{"sub_mchid":"1900000109","out_recharge_no":"R1","expire_time":"2026-12-01T10:00:00+08:00"}}`,
		"string detail": `{"detail-type":"Recharge Expiry Requested",` +
			`"detail":"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R1\",\"expire_time\":\"2026-12-01T10:00:00+08:00\"}"}`,
	} {
		got, err := Decode([]byte(event))
		if got.Kind != EventBridge {
			t.Errorf("%s: kind = %s", name, got.Kind)
		}
		assertInvalid(t, err, "expiry function")
		if _, err := DecodeRecord(event); err == nil {
			t.Errorf("%s: taken as a close request from the queue", name)
		}
	}
}

// The expiry function's request shape is the close request plus expire_time:
// on the queue (a producer using the expiry queue's URL for its requests) it
// would close the recharge now, before its deadline.
func TestQueuedExpiryRequestIsNotACloseNow(t *testing.T) {
	soon := time.Now().Add(2 * time.Hour).Format(time.RFC3339)
	for _, body := range []string{
		`{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"` + soon + `"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2099-12-01T18:00:00+08:00"}`,
		`{"version":"0","detail-type":"Recharge Expired","source":"platform.recharges","detail":{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2099-12-01T18:00:00+08:00"}}`,
	} {
		_, err := DecodeRecord(body)
		assertInvalid(t, err, "has not come")
	}
	for _, due := range []string{
		`{"sub_mchid":"1900000109","out_recharge_no":"RC1"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"RC1","expire_time":"2026-12-01T10:00:00+08:00"}`,
	} {
		if _, err := DecodeRecord(due); err != nil {
			t.Errorf("%s: %v, want a close request that is due", due, err)
		}
	}
}
