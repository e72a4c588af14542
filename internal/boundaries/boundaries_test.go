// Package boundaries holds the tests that keep the packages' layering what
// docs/architecture.md's layout map says it is: the domain and the WeChat Pay client
// know no AWS, the decoding and the handler know no WeChat Pay client, and
// the bootstrap links no test tool.
package boundaries

import (
	"os/exec"
	"slices"
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
					if forbidden(tt.pkg, f, d) {
						t.Errorf("%s links %s", tt.pkg, d)
					}
				}
			}
		})
	}
}

// The domain package may lean on the failure type alone.
var allowedDomainDeps = map[string]bool{module + "internal/fault": true}

// forbidden reports whether pkg's dependency dep falls under the forbidden
// import path prefix: the prefix itself or a package below it at a path
// boundary, or, for a prefix ending in "/", anything it starts. pkg itself is
// never forbidden, nor, under the module root, the domain's allowed deps.
func forbidden(pkg, prefix, dep string) bool {
	if dep == module+pkg || prefix == module && allowedDomainDeps[dep] {
		return false
	}
	return dep == prefix || strings.HasPrefix(dep, prefix+"/") || strings.HasSuffix(prefix, "/") && strings.HasPrefix(dep, prefix)
}

func TestForbidden(t *testing.T) {
	const sdk = "github.com/aws/aws-sdk-go-v2"
	tests := []struct {
		name             string
		pkg, prefix, dep string
		want             bool
	}{
		{"the prefix itself", "internal/handler", sdk, sdk, true},
		{"a package below the prefix", "internal/handler", sdk, sdk + "/service/sqs", true},
		{"a package two levels below", "internal/handler", sdk, sdk + "/service/sqs/types", true},
		{"a longer name is not below the prefix", "internal/handler", sdk, sdk + "x", false},
		{"nor a package below the longer name", "internal/handler", sdk, sdk + "x/service/sqs", false},
		{"a shorter name is not the prefix", "internal/handler", sdk, "github.com/aws/aws-sdk-go", false},
		{"an unrelated package", "internal/handler", sdk, "github.com/aws/aws-lambda-go/events", false},
		{"a trailing-slash prefix takes what it starts", "internal/handler", "github.com/aws/", "github.com/aws/smithy-go", true},
		{"but not a sibling path", "internal/handler", "github.com/aws/", "github.com/awslabs/x", false},
		{"a trailing-slash prefix is not its bare path", "internal/handler", "github.com/aws/", "github.com/aws", false},
		{"the module root forbids the module's packages", "internal/recharge", module, module + "internal/wechatpay", true},
		{"but not the domain's allowed deps", "internal/recharge", module, module + "internal/fault", false},
		{"nor the package itself", "internal/recharge", module, module + "internal/recharge", false},
		{"the allowance is for the module root alone", "internal/recharge", module + "internal/fault", module + "internal/fault", true},
		{"a package prefix takes its subpackages", "internal/handler", module + "internal/wechatpay", module + "internal/wechatpay/sign", true},
		{"not a package with a longer name", "internal/handler", module + "internal/wechatpay", module + "internal/wechatpayx", false},
		{"a standard library prefix", "functions/close-recharge", "testing", "testing/iotest", true},
		{"not a longer standard library name", "functions/close-recharge", "testing", "testingx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := forbidden(tt.pkg, tt.prefix, tt.dep); got != tt.want {
				t.Errorf("forbidden(%q, %q, %q) = %v, want %v", tt.pkg, tt.prefix, tt.dep, got, tt.want)
			}
		})
	}
}

// What go list prints for a package that links the SDK goes through the
// matcher as TestBoundaries feeds it, and comes out flagged.
func TestForbiddenFlagsWhatGoListSees(t *testing.T) {
	const pkg, sdk = "internal/secretstore", "github.com/aws/aws-sdk-go-v2"
	var flagged []string
	self := false
	for _, d := range deps(t, pkg) {
		if forbidden(pkg, sdk, d) {
			flagged = append(flagged, d)
		}
		// go list -deps names the package itself, which the module root must not flag.
		if d == module+pkg {
			self = true
			if forbidden(pkg, module, d) {
				t.Errorf("%s is flagged for linking itself", pkg)
			}
		}
	}
	if !self {
		t.Errorf("go list -deps does not name %s itself", pkg)
	}
	if want := sdk + "/service/secretsmanager"; !slices.Contains(flagged, want) {
		t.Errorf("%s is not flagged under %s (flagged %q)", want, sdk, flagged)
	}
	for _, d := range flagged {
		if !strings.HasPrefix(d, sdk) {
			t.Errorf("%s flagged under %s", d, sdk)
		}
	}
}

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
