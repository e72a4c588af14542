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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"close-recharge/internal/awstest"
	"close-recharge/internal/merchant"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
)

// make sam-env against the real simulator and moto: every fixture's recharge
// is applied, the simulator's secret is in moto, and env.json points the
// function at both through host.docker.internal on the same ports.
func TestPreparesSamLocalInvoke(t *testing.T) {
	endpoint := awstest.MotoForTest(t)
	stateDir := t.TempDir()
	keys, err := simulator.LoadOrCreateKeys(stateDir, "1900000100")
	if err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(keys)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	out := filepath.Join(t.TempDir(), "env.json")
	name := awstest.UniqueName("close-recharge/local")
	var stdout bytes.Buffer
	// Twice: a second run finds the secret, the bus and the recharges there already.
	for range 2 {
		if err := run(context.Background(), []string{"-sim", srv.URL, "-state-dir", stateDir, "-moto", endpoint,
			"-events", "../../../events", "-out", out, "-name", name}, &stdout); err != nil {
			t.Fatal(err)
		}
	}
	for _, no := range []string{"RCDEMO0001", "RCDEMO0002", "RCDEMO0003", "RCDEMO0004", "RCDEMO0005", "RCDEMO0006", "RCDEMO0007"} {
		if r, ok := sim.Recharge("1900000109", no); !ok || r.RechargeState != recharge.StateRecharging {
			t.Errorf("%s at the simulator: %+v, %v", no, r, ok)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	fn := env["CloseRechargeFunction"]
	simPort := srv.URL[strings.LastIndex(srv.URL, ":"):]
	motoPort := endpoint[strings.LastIndex(endpoint, ":"):]
	if fn["WECHATPAY_BASE_URL"] != "http://host.docker.internal"+simPort || fn["AWS_ENDPOINT_URL"] != "http://host.docker.internal"+motoPort ||
		fn["WECHATPAY_SECRET_FILE"] != "" || fn["RESULT_EVENT_BUS"] == "" {
		t.Errorf("env.json: %s", b)
	}
	got, err := secretsmanager.NewFromConfig(awstest.Config(endpoint)).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String(fn["WECHATPAY_SECRET_ID"])})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := merchant.Parse([]byte(aws.ToString(got.SecretString))); err != nil || k.MchID != "1900000100" {
		t.Fatalf("the secret in moto: %v", err)
	}
	if strings.Contains(stdout.String(), "PRIVATE KEY") {
		t.Error("the private key was printed")
	}
}
