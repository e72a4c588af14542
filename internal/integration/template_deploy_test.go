package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The alias every trigger invokes, and the alarms that roll a deploy back:
// they must watch the version being deployed, not the function as a whole.
const (
	liveAlias       = "live"
	canaryType      = "Canary10Percent5Minutes"
	closeFunction   = "CloseRechargeFunction"
	newVersionAlarm = "NewVersionErrorsAlarm"
)

var rollbackAlarms = []string{newVersionAlarm, "ConfigurationErrorsAlarm"}

func init() {
	fn := []string{"Resources", closeFunction, "Properties"}
	points = append(points,
		point{
			name: "each deploy publishes a version behind the alias live",
			check: func(doc *yaml.Node) error {
				if v := value(node(doc, at(fn, "AutoPublishAlias")...)); v != liveAlias {
					return fmt.Errorf("AutoPublishAlias is %q, want %q: without it a deploy replaces the code every trigger runs at once", v, liveAlias)
				}
				return nil
			},
			undos: []undo{
				{"no alias", func(doc *yaml.Node) { remove(doc, at(fn, "AutoPublishAlias")...) }},
				{"another alias", func(doc *yaml.Node) { set(doc, "prod", at(fn, "AutoPublishAlias")...) }},
			},
		},
		point{
			name: "a deploy is a canary, 10 % for 5 minutes by default, rolled back by the alarms that watch the new version",
			check: func(doc *yaml.Node) error {
				pref := node(doc, at(fn, "DeploymentPreference")...)
				if pref == nil {
					return errors.New("no DeploymentPreference: a deploy shifts every invocation at once and nothing rolls it back")
				}
				if !isIntrinsic(node(pref, "Type"), "!Ref", "DeploymentType") {
					return fmt.Errorf("DeploymentPreference Type is %s, want !Ref DeploymentType", render(node(pref, "Type")))
				}
				param := node(doc, "Parameters", "DeploymentType")
				if d := value(node(param, "Default")); d != canaryType {
					return fmt.Errorf("DeploymentType defaults to %q, want %s", d, canaryType)
				}
				var allowed []string
				for _, v := range children(node(param, "AllowedValues")) {
					allowed = append(allowed, v.Value)
				}
				if !slices.Contains(allowed, canaryType) || !slices.Contains(allowed, "AllAtOnce") {
					return fmt.Errorf("DeploymentType allows %v: want %s, and AllAtOnce for development stacks", allowed, canaryType)
				}
				if v := value(node(pref, "Enabled")); v == "false" {
					return errors.New("DeploymentPreference is disabled")
				}
				var alarms []string
				for _, a := range children(node(pref, "Alarms")) {
					if a.Tag != "!Ref" {
						return fmt.Errorf("rollback alarm %s is not one of the stack's own", render(a))
					}
					alarms = append(alarms, a.Value)
				}
				for _, want := range rollbackAlarms {
					if !slices.Contains(alarms, want) {
						return fmt.Errorf("the deploy's rollback alarms %v leave out %s", alarms, want)
					}
				}
				return watchesNewVersion(doc)
			},
			undos: []undo{
				{"no deployment preference", func(doc *yaml.Node) { remove(doc, at(fn, "DeploymentPreference")...) }},
				{"no rollback alarms", func(doc *yaml.Node) { remove(doc, at(fn, "DeploymentPreference", "Alarms")...) }},
				{"the new version's alarm left out", func(doc *yaml.Node) { remove(doc, at(fn, "DeploymentPreference", "Alarms", "0")...) }},
				{"all at once, whatever the parameter", func(doc *yaml.Node) { set(doc, "AllAtOnce", at(fn, "DeploymentPreference", "Type")...) }},
				{"all at once by default", func(doc *yaml.Node) { set(doc, "AllAtOnce", "Parameters", "DeploymentType", "Default") }},
				{"disabled", func(doc *yaml.Node) { set(doc, "false", at(fn, "DeploymentPreference", "Enabled")...) }},
				{"the new version's alarm over every version", func(doc *yaml.Node) {
					remove(doc, "Resources", newVersionAlarm, "Properties", "Dimensions", "2")
				}},
				{"the new version's alarm on another alias", func(doc *yaml.Node) {
					set(doc, "!Sub ${CloseRechargeFunction}:prod", "Resources", newVersionAlarm, "Properties", "Dimensions", "0", "Value")
				}},
				{"the new version's alarm on throttles", func(doc *yaml.Node) {
					set(doc, "Throttles", "Resources", newVersionAlarm, "Properties", "MetricName")
				}},
			},
		},
		point{
			name: "a parameter change publishes a version: the version's description names every parameter its configuration reads",
			check: func(doc *yaml.Node) error {
				desc := node(doc, at(fn, "VersionDescription")...)
				if desc == nil {
					return errors.New("no VersionDescription: a deploy that only changes parameters leaves live on the old configuration")
				}
				named := parametersIn(doc, desc)
				read := parametersIn(doc, node(doc, at(fn, "Environment")...))
				for p := range parametersIn(doc, node(doc, at(fn, "Timeout")...)) {
					read[p] = true
				}
				if len(read) == 0 {
					return errors.New("the function's configuration reads no parameter: nothing to check")
				}
				var missing []string
				for p := range read {
					if !named[p] {
						missing = append(missing, p)
					}
				}
				if len(missing) > 0 {
					slices.Sort(missing)
					return fmt.Errorf("VersionDescription leaves out %v: a deploy changing only them publishes no version", missing)
				}
				return nil
			},
			undos: []undo{
				{"no version description", func(doc *yaml.Node) { remove(doc, at(fn, "VersionDescription")...) }},
				{"the pacing rate left out", func(doc *yaml.Node) {
					d := node(doc, at(fn, "VersionDescription", "0")...)
					d.Value = strings.Replace(d.Value, " rps=${WeChatPayMaxRps}", "", 1)
				}},
				{"the secret left out", func(doc *yaml.Node) { remove(doc, at(fn, "VersionDescription", "1", "SecretName")...) }},
				{"the timeout left out", func(doc *yaml.Node) {
					d := node(doc, at(fn, "VersionDescription", "0")...)
					d.Value = strings.Replace(d.Value, "timeout=${FunctionTimeout} ", "", 1)
				}},
			},
		},
		point{
			name: "every trigger invokes the alias: the function's own events and async configuration, and nothing names the bare function",
			check: func(doc *yaml.Node) error {
				if value(node(doc, at(fn, "AutoPublishAlias")...)) == "" {
					return errors.New("no AutoPublishAlias: SAM binds the function's events to the bare function")
				}
				if node(doc, at(fn, "EventInvokeConfig")...) == nil {
					return errors.New("the async invoke configuration is not the function's own, which SAM qualifies with the alias")
				}
				for name, r := range resources(doc) {
					if name == closeFunction {
						continue
					}
					if bare := barePaths(r, value(node(r, "Type")) == "AWS::CloudWatch::Alarm"); len(bare) > 0 {
						return fmt.Errorf("%s invokes or names the bare function, not its alias: %s", name, strings.Join(bare, "; "))
					}
				}
				return nil
			},
			undos: []undo{
				{"no alias", func(doc *yaml.Node) { remove(doc, at(fn, "AutoPublishAlias")...) }},
				{"the async configuration a resource of its own", func(doc *yaml.Node) {
					remove(doc, at(fn, "EventInvokeConfig")...)
					set(doc, "{Type: AWS::Lambda::EventInvokeConfig, Properties: {FunctionName: !Ref CloseRechargeFunction, Qualifier: $LATEST, MaximumRetryAttempts: 2}}",
						"Resources", "AsyncConfig")
				}},
				{"a queue mapping of its own on the function", func(doc *yaml.Node) {
					set(doc, "{Type: AWS::Lambda::EventSourceMapping, Properties: {FunctionName: !GetAtt CloseRechargeFunction.Arn, EventSourceArn: !GetAtt ExpiryQueue.Arn}}",
						"Resources", "ExtraMapping")
				}},
				{"a permission on the function", func(doc *yaml.Node) {
					set(doc, "{Type: AWS::Lambda::Permission, Properties: {FunctionName: !Ref CloseRechargeFunction, Action: lambda:InvokeFunction, Principal: events.amazonaws.com}}",
						"Resources", "ExtraPermission")
				}},
				{"the rule targets the function", func(doc *yaml.Node) {
					set(doc, "!GetAtt CloseRechargeFunction.Arn", "Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "Arn")
				}},
				{"a target ARN built by hand", func(doc *yaml.Node) {
					set(doc, "!Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${CloseRechargeFunction}",
						"Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "Arn")
				}},
			},
		},
	)
}

// parametersIn lists the template's parameters that n refers to: by !Ref,
// or by name in a !Sub string.
func parametersIn(doc, n *yaml.Node) map[string]bool {
	params := map[string]bool{}
	for _, p := range children(node(doc, "Parameters")) {
		if p.Kind == yaml.ScalarNode {
			params[p.Value] = true
		}
	}
	out := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode {
			if n.Tag == "!Ref" && params[n.Value] {
				out[n.Value] = true
			}
			for p := range params {
				if strings.Contains(n.Value, "${"+p+"}") {
					out[p] = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// watchesNewVersion checks that the new version's alarm counts the errors of
// the version behind the alias only: Lambda's Errors by alias and executed
// version. By function name alone it would add the old version's.
func watchesNewVersion(doc *yaml.Node) error {
	a := node(doc, "Resources", newVersionAlarm, "Properties")
	if a == nil {
		return fmt.Errorf("no %s", newVersionAlarm)
	}
	if value(node(a, "Namespace")) != "AWS/Lambda" || value(node(a, "MetricName")) != "Errors" {
		return fmt.Errorf("%s watches %s %s, want AWS/Lambda Errors", newVersionAlarm, value(node(a, "Namespace")), value(node(a, "MetricName")))
	}
	dims := map[string]string{}
	for _, d := range children(node(a, "Dimensions")) {
		dims[value(node(d, "Name"))] = render(node(d, "Value"))
	}
	want := map[string]string{
		"Resource":        "!Sub ${CloseRechargeFunction}:" + liveAlias,
		"FunctionName":    "!Ref CloseRechargeFunction",
		"ExecutedVersion": "!GetAtt CloseRechargeFunction.Version.Version",
	}
	if fmt.Sprint(dims) != fmt.Sprint(want) {
		return fmt.Errorf("%s's dimensions are %v, want %v", newVersionAlarm, dims, want)
	}
	if !isAlarmTopic(node(a, "AlarmActions", "0")) {
		return fmt.Errorf("%s notifies nobody", newVersionAlarm)
	}
	return nil
}

// barePaths lists the places under n that name the close function itself
// rather than its alias: its ARN, or its name where an ARN is built from it.
// An alarm may name the function (FunctionName dimension): that is not an
// invocation.
func barePaths(n *yaml.Node, alarm bool) []string {
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		switch {
		case n.Tag == "!GetAtt" && (n.Value == closeFunction+".Arn" || n.Kind == yaml.SequenceNode && value(node(n, "0")) == closeFunction):
			out = append(out, render(n))
		case n.Tag == "!Ref" && n.Value == closeFunction && !alarm:
			out = append(out, render(n))
		case n.Tag == "!Sub" && n.Kind == yaml.ScalarNode && bareInSub(n.Value):
			out = append(out, render(n))
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// bareInSub reports whether a !Sub string names the function other than as
// "<function>:<alias>".
func bareInSub(s string) bool {
	for _, ref := range []string{"${" + closeFunction + "}", "${" + closeFunction + ".Arn}"} {
		for rest := s; strings.Contains(rest, ref); {
			rest = rest[strings.Index(rest, ref)+len(ref):]
			if !strings.HasPrefix(rest, ":"+liveAlias) {
				return true
			}
		}
	}
	return false
}

// SAM binds a function's events to its alias when it publishes one: checked
// on the template as SAM expands it, since that is what CloudFormation
// deploys. The API's integration, the queue's mapping, the API's permission
// and the async invoke configuration all name the alias.
func TestTriggersInvokeTheAliasOnceExpanded(t *testing.T) {
	if err := exec.Command("python3", "-c", "import samtranslator, cfnlint").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("samtranslator is not installed (pip install cfn-lint)")
		}
		t.Skip("samtranslator is not installed (pip install cfn-lint)")
	}
	tmpl, err := filepath.Abs("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", expandScript, tmpl)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("expand: %v\n%s", err, stderr.String())
	}
	var expanded struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(out, &expanded); err != nil {
		t.Fatal(err)
	}
	// Every function of the stack is deployed behind its alias: whatever
	// invokes one names that function's alias.
	functions := []string{closeFunction, "RechargeNotifyFunction", "RechargeExpiryFunction"}
	aliasOf := func(fn string) string { return fn + "Alias" + liveAlias }
	for _, fn := range functions {
		if expanded.Resources[aliasOf(fn)].Type != "AWS::Lambda::Alias" {
			t.Fatalf("no alias %s in the expanded template", aliasOf(fn))
		}
	}
	// names says which function a reference is to, and whether through its alias.
	names := func(v any) (fn string, viaAlias bool) {
		ref := fmt.Sprint(v)
		for _, f := range functions {
			switch ref {
			case fmt.Sprint(map[string]any{"Ref": aliasOf(f)}):
				return f, true
			case fmt.Sprint(map[string]any{"Ref": f}), fmt.Sprint(map[string]any{"Fn::GetAtt": []any{f, "Arn"}}):
				return f, false
			}
		}
		return ref, false
	}
	seen := map[string]bool{}
	for name, r := range expanded.Resources {
		props, _ := json.Marshal(r.Properties)
		switch r.Type {
		case "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission":
			if fn, ok := names(r.Properties["FunctionName"]); !ok {
				t.Errorf("%s (%s) names %s, want its alias", name, r.Type, fn)
			}
			seen[r.Type] = true
		case "AWS::Lambda::EventInvokeConfig":
			if r.Properties["Qualifier"] != liveAlias {
				t.Errorf("%s qualifies %v, want %s", name, r.Properties["Qualifier"], liveAlias)
			}
			seen[r.Type] = true
		case "AWS::ApiGatewayV2::Api":
			for _, fn := range functions {
				if strings.Contains(string(props), "/functions/${"+fn+".Arn}/invocations") {
					t.Errorf("%s integrates %s itself, not its alias: %s", name, fn, props)
				}
			}
			if !strings.Contains(string(props), "Alias"+liveAlias+"}/invocations") {
				t.Errorf("%s integrates no alias: %s", name, props)
			}
			seen[r.Type] = true
		case "AWS::Events::Rule", "AWS::Scheduler::Schedule":
			if strings.Contains(string(props), closeFunction) {
				t.Errorf("%s targets the function; expiries go through the queue: %s", name, props)
			}
			if strings.Contains(string(props), "RechargeExpiryFunction") && !strings.Contains(string(props), aliasOf("RechargeExpiryFunction")) {
				t.Errorf("%s targets the expiry function itself, not its alias: %s", name, props)
			}
		}
	}
	for _, kind := range []string{"AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig", "AWS::ApiGatewayV2::Api"} {
		if !seen[kind] {
			t.Errorf("no %s in the expanded template to check", kind)
		}
	}
}

// expandScript runs the SAM transform over the template named by its
// argument and prints the result as JSON. SAM wants an S3 location for code
// it does not build; the value plays no part here.
const expandScript = `
import copy, json, os, sys
from cfnlint.decode import cfn_yaml
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
t = json.loads(json.dumps(cfn_yaml.load(sys.argv[1])))
for r in t["Resources"].values():
    if r.get("Type") == "AWS::Serverless::Function":
        r["Properties"]["CodeUri"] = "s3://example-bucket/function.zip"
params = {"AWS::Region": "us-east-1", "AWS::AccountId": "111122223333", "AWS::StackName": "close-recharge", "AWS::Partition": "aws"}
out = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(sam_template=copy.deepcopy(t), parameter_values=params)
json.dump(json.loads(json.dumps(out)), sys.stdout)
`
