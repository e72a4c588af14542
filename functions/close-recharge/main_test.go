package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"close-recharge/internal/fault"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/version"
)

// The wiring, in process: build reads the environment through getenv and puts
// the real pieces together; one invocation closes a recharge at the simulator.
// The built bootstrap under the emulator is internal/integration's.
func TestBuildWiresTheFunction(t *testing.T) {
	keys := simulator.SharedKeys()
	sim := simulator.New(keys)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: "1900000109", OutRechargeNo: "WIRE1"}); err != nil {
		t.Fatal(err)
	}
	secret, _ := json.Marshal(keys.Secret(false))
	path := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WECHATPAY_SECRET_FILE": path, "WECHATPAY_BASE_URL": srv.URL, "METRICS_NAMESPACE": "Wiring"}
	var stdout bytes.Buffer
	h, err := build(context.Background(), func(k string) string { return env[k] }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"WIRE1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r recharge.Recharge
	if err := json.Unmarshal(out, &r); err != nil || r.RechargeState != recharge.StateClosed {
		t.Fatalf("answer %s, %v", out, err)
	}
	// The instance said once which release it runs.
	if n := strings.Count(stdout.String(), `"msg":"cold start","version":"`+version.Version+`","contract_version":"`+outcome.ContractVersion+`"`); n != 1 {
		t.Errorf("%d cold start lines naming the version, want 1:\n%s", n, stdout.String())
	}
	// The summary line and the metrics document went to stdout, with the namespace given.
	if !strings.Contains(stdout.String(), `"msg":"close recharge"`) || !strings.Contains(stdout.String(), `"Namespace":"Wiring"`) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

func TestBuildRefusesABadEnvironment(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"WECHATPAY_SECRET_ID":    {},
		"WECHATPAY_BASE_URL":     {"WECHATPAY_SECRET_FILE": "/x", "WECHATPAY_BASE_URL": "http://api.mch.weixin.qq.com"},
		"WECHATPAY_SECRET_STALE": {"WECHATPAY_SECRET_FILE": "/x", "WECHATPAY_SECRET_STALE": "soon"},
	} {
		_, err := build(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("err = %v, want one naming %s", err, name)
		}
	}
}

// A deployment without AWS credentials can never read its secret: that is a
// configuration error naming them, not a network fault to retry.
func TestNoAWSCredentialsIsAConfigurationError(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
	// Nothing listens there: were a request sent, it would fail as a network fault.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	env := map[string]string{"WECHATPAY_SECRET_ID": "wechatpay/merchant", "WECHATPAY_SECRET_TTL": "0"}
	h, err := build(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"CREDS1"}`))
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) || ie.Type != string(fault.Configuration) || !strings.Contains(ie.Message, "no AWS credentials") {
		t.Fatalf("err = %#v, want a configuration error naming the missing AWS credentials", err)
	}
}

// putEvents is EventBridge as far as PutEvents goes: it takes every entry and
// keeps it.
type putEvents struct {
	mu      sync.Mutex
	entries []struct{ DetailType, Detail string }
}

func (p *putEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct{ DetailType, Detail string }
	}
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "not PutEvents", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.entries = append(p.entries, in.Entries...)
	p.mu.Unlock()
	out := `{"FailedEntryCount":0,"Entries":[`
	for i := range in.Entries {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf(`{"EventId":"e%d"}`, i)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fmt.Fprint(w, out+"]}")
}

// As main wires it, the publisher names the platform merchant (the secret's
// mchid) in a failure result, which WeChat Pay never wrote, and the event
// contract's version in every detail.
func TestBuildPublishesTheMerchantAndTheContract(t *testing.T) {
	keys := simulator.SharedKeys()
	sim := httptest.NewServer(simulator.New(keys))
	t.Cleanup(sim.Close)
	bus := &putEvents{}
	events := httptest.NewServer(bus)
	t.Cleanup(events.Close)
	secret, _ := json.Marshal(keys.Secret(false))
	path := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", events.URL)
	env := map[string]string{"WECHATPAY_SECRET_FILE": path, "WECHATPAY_BASE_URL": sim.URL, "RESULT_EVENT_BUS": "outcomes",
		"RESULT_EVENT_SOURCE": "wechatpay.recharge"}
	h, err := build(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// Never applied: WeChat Pay refuses it with ORDER_NOT_EXIST, a failure result is published.
	if _, err := h.Invoke(context.Background(), []byte(`{"sub_mchid":"1900000109","out_recharge_no":"NEVERAPPLIED"}`)); err != nil {
		t.Fatalf("a published refusal: %v", err)
	}
	if len(bus.entries) != 1 || bus.entries[0].DetailType != outcome.Failed {
		t.Fatalf("entries %+v, want one %s", bus.entries, outcome.Failed)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(bus.entries[0].Detail), &d); err != nil {
		t.Fatal(err)
	}
	if d["sp_mchid"] != keys.MchID || d["contract_version"] != outcome.ContractVersion {
		t.Errorf("detail %s: want sp_mchid %s and contract_version %s", bus.entries[0].Detail, keys.MchID, outcome.ContractVersion)
	}
}
