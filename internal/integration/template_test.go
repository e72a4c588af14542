package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// node finds a mapping value by a path of keys.
func node(n *yaml.Node, path ...string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for _, key := range path {
		if n != nil && n.Kind == yaml.SequenceNode {
			i, err := strconv.Atoi(key)
			if err != nil || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
			continue
		}
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// walk visits every mapping in the tree.
func walk(n *yaml.Node, visit func(*yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		visit(n)
	}
	for _, c := range n.Content {
		walk(c, visit)
	}
}

func loadTemplate(t *testing.T) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func TestTemplateSecurity(t *testing.T) {
	doc := loadTemplate(t)
	fn := node(doc, "Resources", "CloseRechargeFunction", "Properties")

	t.Run("the API route is IAM-authorized", func(t *testing.T) {
		if a := node(fn, "Events", "CloseApi", "Properties", "Auth", "Authorizer"); a == nil || a.Value != "AWS_IAM" {
			t.Error("CloseApi route is not AWS_IAM-authorized")
		}
		if a := node(doc, "Resources", "CloseRechargeApi", "Properties", "Auth", "DefaultAuthorizer"); a == nil || a.Value != "AWS_IAM" {
			t.Error("the HTTP API's default authorizer is not AWS_IAM")
		}
	})

	t.Run("no wildcard resources for secrets or events", func(t *testing.T) {
		// In a key policy, Resource "*" is the key the policy is attached to, and nothing else.
		keyStatements := map[*yaml.Node]bool{}
		walk(doc, func(m *yaml.Node) {
			if st := node(m, "KeyPolicy", "Statement"); st != nil {
				for _, s := range st.Content {
					keyStatements[s] = true
				}
			}
		})
		statements := 0
		walk(doc, func(m *yaml.Node) {
			action, resource := node(m, "Action"), node(m, "Resource")
			if action == nil || resource == nil || keyStatements[m] {
				return
			}
			if e := node(m, "Effect"); e != nil && e.Value == "Deny" {
				return // a deny on "*" takes away, it grants nothing
			}
			statements++
			actions := []string{action.Value}
			for _, a := range action.Content {
				actions = append(actions, a.Value)
			}
			for _, a := range actions {
				if a == "*" || strings.HasPrefix(a, "secretsmanager:") || strings.HasPrefix(a, "events:") || strings.HasPrefix(a, "kms:") {
					if strings.Contains(resource.Value, "*") || resource.Kind == yaml.SequenceNode && anyWildcard(resource) {
						t.Errorf("%s on a wildcard resource (line %d)", a, resource.Line)
					}
				}
			}
		})
		if statements < 3 {
			t.Errorf("found %d policy statements; the walk missed the policies", statements)
		}
	})

	t.Run("the on-failure queue is encrypted", func(t *testing.T) {
		q := node(doc, "Resources", "FailedClosesQueue", "Properties")
		sse, kms := node(q, "SqsManagedSseEnabled"), node(q, "KmsMasterKeyId")
		if (sse == nil || sse.Value != "true") && kms == nil {
			t.Error("FailedClosesQueue is not encrypted")
		}
		dest := node(fn, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")
		if dest == nil || !strings.Contains(dest.Value, "FailedClosesQueue") {
			t.Error("the on-failure destination is not FailedClosesQueue")
		}
		if r := node(fn, "EventInvokeConfig", "MaximumRetryAttempts"); r == nil || r.Value == "" {
			t.Error("async retries are not bounded")
		}
	})

	t.Run("reserved concurrency is set", func(t *testing.T) {
		if rc := node(fn, "ReservedConcurrentExecutions"); rc == nil {
			t.Error("ReservedConcurrentExecutions is not set")
		}
	})

	t.Run("alarms watch failures and the on-failure queue", func(t *testing.T) {
		watched := map[string]bool{}
		for _, name := range []string{"TransientFailuresAlarm", "ConfigurationErrorsAlarm", "FailedClosesQueueAlarm"} {
			a := node(doc, "Resources", name, "Properties")
			if a == nil {
				t.Errorf("%s is missing", name)
				continue
			}
			metric := node(a, "MetricName").Value
			if dims := node(a, "Dimensions"); dims != nil && len(dims.Content) > 0 {
				metric += "/" + node(dims.Content[0], "Value").Value
			}
			watched[metric] = true
			if node(a, "AlarmActions") == nil {
				t.Errorf("%s notifies nobody even with AlarmTopicArn set", name)
			}
		}
		for _, m := range []string{"Invocations/transient", "Invocations/configuration_error", "ApproximateNumberOfMessagesVisible/FailedClosesQueue.QueueName"} {
			if !watched[m] {
				t.Errorf("no alarm on %s (watched %v)", m, watched)
			}
		}
	})

	t.Run("the runtime is what the Makefile builds", func(t *testing.T) {
		g := node(doc, "Globals", "Function")
		if node(g, "Runtime").Value != "provided.al2023" || node(g, "Handler").Value != "bootstrap" ||
			node(node(g, "Architectures").Content[0]).Value != "arm64" {
			t.Error("Globals.Function is not provided.al2023 / bootstrap / arm64")
		}
		if m := node(doc, "Resources", "CloseRechargeFunction", "Metadata", "BuildMethod"); m == nil || m.Value != "makefile" {
			t.Error("BuildMethod is not makefile")
		}
	})
}

func anyWildcard(seq *yaml.Node) bool {
	for _, c := range seq.Content {
		if strings.Contains(c.Value, "*") {
			return true
		}
	}
	return false
}
