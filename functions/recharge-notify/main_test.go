package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestBuildRefusesABadEnvironment(t *testing.T) {
	full := map[string]string{
		"WECHATPAY_SECRET_ID": "merchant", "RESULT_EVENT_BUS": "results",
		"SCHEDULE_GROUP": "expiries", "NOTIFICATION_TABLE": "marks", "AWS_REGION": "ap-east-1",
	}
	for _, missing := range []string{"WECHATPAY_SECRET_ID", "RESULT_EVENT_BUS", "SCHEDULE_GROUP", "NOTIFICATION_TABLE"} {
		t.Run(missing, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				if k != missing {
					env[k] = v
				}
			}
			_, err := build(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
			if err == nil || !strings.HasPrefix(err.Error(), missing+":") {
				t.Fatalf("build without %s: %v, want an error naming it", missing, err)
			}
		})
	}
}

// The signature covers the exact body bytes, so a base64 body must come back
// byte for byte, and WeChat Pay's headers must be found whatever their case.
func TestRequestIsRestoredAsWeChatPaySentIt(t *testing.T) {
	body := []byte("{\"id\":\"EV-1\",\"summary\":\"\xe5\x85\x85\xe5\x80\xbc\"}\n")
	req, ok := toRequest(events.APIGatewayV2HTTPRequest{
		Headers:         map[string]string{"wechatpay-timestamp": "1764583200", "wechatpay-serial": "PUB_KEY_ID_01"},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	})
	if !ok || !bytes.Equal(req.Body, body) {
		t.Fatalf("body = %q, %v; want %q", req.Body, ok, body)
	}
	if req.Header.Get("Wechatpay-Timestamp") != "1764583200" || req.Header.Get("Wechatpay-Serial") != "PUB_KEY_ID_01" {
		t.Fatalf("headers = %v", req.Header)
	}
	if req, _ := toRequest(events.APIGatewayV2HTTPRequest{Body: string(body)}); !bytes.Equal(req.Body, body) {
		t.Fatalf("plain body = %q", req.Body)
	}
	res, err := serve(nil)(context.Background(), events.APIGatewayV2HTTPRequest{Body: "%%%", IsBase64Encoded: true})
	if err != nil || res.StatusCode != 400 || !strings.Contains(res.Body, `"FAIL"`) {
		t.Fatalf("undecodable body: %+v, %v", res, err)
	}
}
