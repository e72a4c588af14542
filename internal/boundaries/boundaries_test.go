// Package boundaries holds the tests that keep the packages' layering what
// the README's layout map says it is: the domain and the WeChat Pay client
// know no AWS, the decoding and the handler know no WeChat Pay client, and
// the bootstrap links no test tool.
package boundaries

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "close-recharge/"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestBoundaries(t *testing.T) {
	const awsSDK = "github.com/aws/aws-sdk-go-v2"
	tests := []struct {
		pkg       string
		forbidden []string // import path prefixes that must not be linked
	}{
		{"internal/recharge", []string{awsSDK, "github.com/wechatpay-apiv3", module}},
		{"internal/merchant", []string{awsSDK, module + "internal/secretstore"}},
		{"internal/wechatpay", []string{awsSDK, module + "internal/secretstore", module + "internal/publish"}},
		{"internal/trigger", []string{awsSDK, module + "internal/wechatpay", "github.com/wechatpay-apiv3"}},
		{"internal/closer", []string{awsSDK, module + "internal/wechatpay", module + "internal/publish", module + "internal/secretstore"}},
		{"internal/handler", []string{awsSDK, module + "internal/wechatpay", "github.com/wechatpay-apiv3", module + "internal/publish", module + "internal/secretstore"}},
		{"functions/close-recharge", []string{module + "internal/simulator", module + "internal/emulator", module + "internal/awstest",
			module + "internal/bench", "testing", "net/http/httptest"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			for _, d := range deps(t, tt.pkg) {
				for _, f := range tt.forbidden {
					if (d == f || strings.HasPrefix(d, f+"/") || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) && d != module+tt.pkg &&
						!(f == module && allowedDomainDeps[d]) {
						t.Errorf("%s links %s", tt.pkg, d)
					}
				}
			}
		})
	}
}

// The domain package may lean on the failure type alone.
var allowedDomainDeps = map[string]bool{module + "internal/fault": true}

// The check can fail: packages that should link these do.
func TestBoundariesSeeWhatIsLinked(t *testing.T) {
	for pkg, want := range map[string]string{
		"internal/secretstore":     "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
		"functions/close-recharge": module + "internal/wechatpay",
		"internal/wechatpay":       "github.com/wechatpay-apiv3/wechatpay-go/core",
	} {
		found := false
		for _, d := range deps(t, pkg) {
			found = found || d == want
		}
		if !found {
			t.Errorf("go list sees no %s in %s", want, pkg)
		}
	}
}
