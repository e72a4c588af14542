package main

import (
	"testing"

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
