package emulator

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTemplateEnvTakesTheLiteralVariables(t *testing.T) {
	env, err := TemplateEnv("../../template.yaml", "CloseRechargeFunction")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "GOMAXPROCS=1") {
		t.Errorf("env = %q, want GOMAXPROCS=1 from the template", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "WECHATPAY_SECRET_ID=") || strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") || strings.Contains(kv, "Ref") {
			t.Errorf("env has %q, a variable the deployment's parameters give", kv)
		}
	}
}

func TestTemplateEnvCases(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env, err := TemplateEnv(write("t.yaml", `Resources:
  CloseRechargeFunction:
    Properties:
      Environment:
        Variables:
          B: !Ref Param
          A: "x"
          C: 2
          D: !Sub "${AWS::Region}"
          E: ""
`), "CloseRechargeFunction")
	if err != nil || !slices.Equal(env, []string{"A=x", "C=2"}) {
		t.Errorf("TemplateEnv = %q, %v; want [A=x C=2]", env, err)
	}
	if _, err := TemplateEnv(write("none.yaml", "Resources: {}\n"), "CloseRechargeFunction"); err == nil || !strings.Contains(err.Error(), "no environment variables") {
		t.Errorf("a template without the function's variables: %v", err)
	}
	if _, err := TemplateEnv(filepath.Join(dir, "missing.yaml"), "CloseRechargeFunction"); err == nil {
		t.Error("a missing template gave no error")
	}
}
