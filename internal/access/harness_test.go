package access

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const (
	account      = "111122223333"
	otherAccount = "444455556666"
	stackName    = "close-recharge"
	evaluatorDir = "testdata/iamsim"
)

// requireTools skips the test where the evaluator or samtranslator is missing, and fails it under CI,
// which must run every check.
func requireTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the access matrix is left to the full suite (make test)")
	}
	missing := func(what, install string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: %s", what, install)
		}
		t.Skipf("%s is not installed (%s)", what, install)
	}
	if _, err := os.Stat(filepath.Join(evaluatorDir, "node_modules", "@cloud-copilot", "iam-simulate")); err != nil {
		missing("the IAM evaluator", "npm ci --prefix internal/access/"+evaluatorDir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node", "apt-get install nodejs")
	}
	if err := exec.Command("python3", "-c", "import samtranslator, cfnlint").Run(); err != nil {
		missing("samtranslator (it ships with cfn-lint)", "pip install cfn-lint")
	}
}

// deployment is template.yaml as CloudFormation would create it for one account, region and stack.
type deployment struct {
	Region     string
	Partition  string
	Resources  map[string]map[string]any
	Attributes map[string]map[string]string
}

func partitionOf(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "aws-cn"
	}
	return "aws"
}

var expanded sync.Map // region -> deployment, expanded once per test binary; callers clone before changing it

// expand runs the SAM transform and resolves every intrinsic function (testdata/expand.py).
func expand(t *testing.T, region string, params map[string]string) deployment {
	t.Helper()
	if d, ok := expanded.Load(region); ok {
		return d.(deployment)
	}
	req, err := json.Marshal(map[string]any{
		"template": filepath.Join("..", "..", "template.yaml"), "account": account, "region": region,
		"stack": stackName, "parameters": params,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", filepath.Join("testdata", "expand.py"))
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("expand.py: %v\n%s", err, stderr.String())
	}
	d := deployment{Region: region, Partition: partitionOf(region)}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	expanded.Store(region, d)
	return d
}

func (d deployment) attr(logical, name string) string {
	v, ok := d.Attributes[logical][name]
	if !ok {
		panic("no attribute " + name + " of " + logical)
	}
	return v
}

func (d deployment) props(logical string) map[string]any {
	r, ok := d.Resources[logical]
	if !ok {
		panic("no resource " + logical)
	}
	return r["Properties"].(map[string]any)
}

func (d deployment) arn(service, rest string) string {
	return "arn:" + d.Partition + ":" + service + ":" + d.Region + ":" + account + ":" + rest
}

// clone is a deep copy through JSON, so that a test may undo a policy in one copy only.
func (d deployment) clone() deployment {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var c deployment
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return c
}

type namedPolicy struct {
	Name   string `json:"name"`
	Policy any    `json:"policy"`
}

// rolePolicies are a role's inline policies, as the evaluator takes identity policies.
func (d deployment) rolePolicies(role string) []namedPolicy {
	var out []namedPolicy
	for _, p := range d.props(role)["Policies"].([]any) {
		p := p.(map[string]any)
		out = append(out, namedPolicy{Name: p["PolicyName"].(string), Policy: p["PolicyDocument"]})
	}
	return out
}

// statement finds a statement of a policy document by Sid.
func statement(doc any, sid string) map[string]any {
	for _, s := range doc.(map[string]any)["Statement"].([]any) {
		if s := s.(map[string]any); s["Sid"] == sid {
			return s
		}
	}
	panic("no statement " + sid)
}

func removeStatement(doc any, sid string) {
	m := doc.(map[string]any)
	var kept []any
	for _, s := range m["Statement"].([]any) {
		if s.(map[string]any)["Sid"] != sid {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(m["Statement"].([]any)) {
		panic("no statement " + sid)
	}
	m["Statement"] = kept
}

// row is one access path: who asks for what on which resource, in which request context, under
// which policies, and what AWS must decide.
type row struct {
	name      string
	principal string // an IAM role ARN or a service principal
	action    string
	resource  string
	context   map[string]string
	noTLS     bool
	identity  []namedPolicy
	resPolicy any // the resource's policy: queue, topic, secret, key, or role trust policy
	want      string
}

type simulation struct {
	Request struct {
		Principal string `json:"principal"`
		Action    string `json:"action"`
		Resource  struct {
			Resource  string `json:"resource"`
			AccountID string `json:"accountId"`
		} `json:"resource"`
		ContextVariables map[string]string `json:"contextVariables"`
	} `json:"request"`
	IdentityPolicies []namedPolicy `json:"identityPolicies"`
	ResourcePolicy   any           `json:"resourcePolicy,omitempty"`
}

type verdict struct {
	Decision           string          `json:"decision"`
	IgnoredContextKeys []string        `json:"ignoredContextKeys"`
	Errors             json.RawMessage `json:"errors"`
}

// The evaluator validates context keys against each action's documented keys and drops, as
// ignoredContextKeys, a variable key written with a colon (kms:EncryptionContext:SecretARN): a
// condition on it would then never match. Such a key is evaluated under a variable key it does
// accept, with the same operator and value in the policy and the request.
var colonVariableKey = regexp.MustCompile(`(?i)^kms:EncryptionContext:`)

func slashForm(key string) string {
	if colonVariableKey.MatchString(key) {
		return "aws:PrincipalTag/" + key
	}
	return key
}

// rewriteConditionKeys renames colon-form variable keys in every Condition block of a policy.
func rewriteConditionKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == "Condition" {
				conds := map[string]any{}
				for op, block := range x.(map[string]any) {
					keys := map[string]any{}
					for key, val := range block.(map[string]any) {
						keys[slashForm(key)] = val
					}
					conds[op] = keys
				}
				out[k] = conds
				continue
			}
			out[k] = rewriteConditionKeys(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = rewriteConditionKeys(x)
		}
		return out
	}
	return v
}

// contextOf is the request context AWS sets for the row: the principal's keys (the evaluator does
// not derive them from the principal), TLS, and the row's own keys.
func (r row) contextOf(rewrite bool) map[string]string {
	ctx := map[string]string{"aws:SecureTransport": "true"}
	if r.noTLS {
		ctx["aws:SecureTransport"] = "false"
	}
	if strings.HasPrefix(r.principal, "arn:") {
		ctx["aws:PrincipalArn"] = r.principal
		ctx["aws:PrincipalAccount"] = strings.Split(r.principal, ":")[4]
		ctx["aws:PrincipalType"] = "AssumedRole"
	} else {
		ctx["aws:PrincipalServiceName"] = r.principal
		ctx["aws:PrincipalIsAWSService"] = "true"
	}
	for k, v := range r.context {
		if rewrite {
			k = slashForm(k)
		}
		ctx[k] = v
	}
	return ctx
}

// evaluate decides every row in one run of the evaluator. rewrite=false sends colon-form keys as
// written, to show what the evaluator does with them.
func evaluate(t *testing.T, rows []row, rewrite bool) []verdict {
	t.Helper()
	sims := make([]simulation, len(rows))
	for i, r := range rows {
		s := &sims[i]
		s.Request.Principal = r.principal
		s.Request.Action = r.action
		s.Request.Resource.Resource = r.resource
		s.Request.Resource.AccountID = strings.Split(r.resource, ":")[4]
		if s.Request.Resource.AccountID == "" { // IAM and other global ARNs carry no region, but an account
			s.Request.Resource.AccountID = account
		}
		s.Request.ContextVariables = r.contextOf(rewrite)
		s.IdentityPolicies = []namedPolicy{}
		for _, p := range r.identity {
			if rewrite {
				p.Policy = rewriteConditionKeys(p.Policy)
			}
			s.IdentityPolicies = append(s.IdentityPolicies, p)
		}
		s.ResourcePolicy = r.resPolicy
		if rewrite && r.resPolicy != nil {
			s.ResourcePolicy = rewriteConditionKeys(r.resPolicy)
		}
	}
	in, err := json.Marshal(sims)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "evaluate.js")
	cmd.Dir = evaluatorDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluate.js: %v\n%s", err, stderr.String())
	}
	var vs []verdict
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(rows) {
		t.Fatalf("evaluate.js answered %d simulations of %d", len(vs), len(rows))
	}
	for i, v := range vs {
		if len(v.Errors) > 0 {
			t.Fatalf("the evaluator could not run %q: %s", rows[i].name, v.Errors)
		}
	}
	return vs
}
