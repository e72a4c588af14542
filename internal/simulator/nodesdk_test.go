package simulator_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"close-recharge/internal/simulator"
)

// TestNodeSDKTalksToTheSimulator runs the Node SDK (wechatpay-axios-plugin)
// unchanged against the simulator: its signed requests must be accepted, forged
// ones refused, and every 2xx answer must pass its own verification.
func TestNodeSDKTalksToTheSimulator(t *testing.T) {
	dir := nodeSDK(t)
	k := testKeys(t)
	other, err := simulator.GenerateKeys(k.MchID)
	if err != nil {
		t.Fatal(err)
	}
	forged := k.Secret(false)
	forged.MerchantPrivateKey = simulator.PrivateKeyPEM(other.MerchantKey)

	tests := []struct {
		name       string
		secret     any
		fault      *simulator.Fault
		wantStatus int
		wantCode   string
		wantError  bool
	}{
		{name: "signed close is accepted and its answer verified", secret: k.Secret(false), wantStatus: 200},
		{name: "forged close is refused", secret: forged, wantStatus: 401, wantCode: "SIGN_ERROR", wantError: true},
		{name: "answer signed by another key is rejected by the SDK", secret: k.Secret(false),
			fault: &simulator.Fault{Kind: simulator.FaultBadSignature}, wantStatus: 200, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := simulator.New(k)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			if err := sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: "NODE1"}); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			secretPath := filepath.Join(t.TempDir(), "secret.json")
			b, _ := json.Marshal(tt.secret)
			if err := os.WriteFile(secretPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("node", filepath.Join(dir, "close.js"), secretPath, srv.URL+"/", sub, "NODE1").Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var res struct {
				Status int
				Error  string
				Code   string
				Data   struct {
					RechargeState string `json:"recharge_state"`
					OutRechargeNo string `json:"out_recharge_no"`
				}
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("node printed %q", out)
			}
			if res.Status != tt.wantStatus || res.Code != tt.wantCode || (res.Error != "") != tt.wantError {
				t.Fatalf("node result %s", out)
			}
			if !tt.wantError && (res.Data.RechargeState != "CLOSED" || res.Data.OutRechargeNo != "NODE1") {
				t.Fatalf("node got %s", out)
			}
			if sim.Calls("close") != 1 {
				t.Errorf("simulator saw %d closes", sim.Calls("close"))
			}
		})
	}
}

// nodeSDK is the Node SDK's directory; without it installed the test skips,
// and fails under CI. -short leaves it to the full suite.
func nodeSDK(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the Node SDK is left to the full suite (make test)")
	}
	dir := filepath.Join("testdata", "nodesdk")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "wechatpay-axios-plugin")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Node SDK is not installed: run npm ci --prefix %s", dir)
		}
		t.Skipf("the Node SDK is not installed (npm ci --prefix %s)", dir)
	}
	return dir
}
