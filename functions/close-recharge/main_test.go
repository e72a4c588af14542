package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
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
