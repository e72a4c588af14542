package integration

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// SQS's longest retention: what a queue holds waits out any outage.
const maxRetentionSeconds = 1209600

func init() {
	points = append(points, point{
		name: "nothing on the expiry path is dropped: queues keep messages 14 days, the rule's target and async invocations end in a queue, redrive needs several receives",
		check: func(doc *yaml.Node) error {
			for _, q := range []string{"ExpiryQueue", "ExpiryDeadLetterQueue", "FailedClosesQueue", "ScheduleDeadLetterQueue"} {
				if v := value(node(doc, "Resources", q, "Properties", "MessageRetentionPeriod")); v != strconv.Itoa(maxRetentionSeconds) {
					return fmt.Errorf("%s keeps messages %q s, want %d", q, v, maxRetentionSeconds)
				}
			}
			target := node(doc, "Resources", "RechargeExpiredRule", "Properties", "Targets", "0")
			if !isIntrinsic(node(target, "DeadLetterConfig", "Arn"), "!GetAtt", "FailedClosesQueue.Arn") {
				return fmt.Errorf("the rule's target has no dead-letter queue: a delivery that fails is dropped")
			}
			if n, _ := strconv.Atoi(value(node(target, "RetryPolicy", "MaximumRetryAttempts"))); n < 1 {
				return fmt.Errorf("the rule's target does not retry")
			}
			cfg := node(doc, "Resources", "CloseRechargeFunction", "Properties", "EventInvokeConfig")
			if n, _ := strconv.Atoi(value(node(cfg, "MaximumRetryAttempts"))); n < 1 {
				return fmt.Errorf("async invocations are not retried: one transient failure sends an expiry to the on-failure queue")
			}
			if n, _ := strconv.Atoi(value(node(cfg, "MaximumEventAgeInSeconds"))); n < 3600 {
				return fmt.Errorf("async events expire after %d s, before their retries", n)
			}
			p := node(doc, "Parameters", "ExpiryMaxReceiveCount")
			for _, k := range []string{"MinValue", "Default"} {
				if n, _ := strconv.Atoi(value(node(p, k))); n < 3 {
					return fmt.Errorf("ExpiryMaxReceiveCount %s is %d: one passing failure sends an expiry to the dead-letter queue", k, n)
				}
			}
			return nil
		},
		undos: []undo{
			{"the expiry queue keeps a minute", func(doc *yaml.Node) {
				set(doc, "60", "Resources", "ExpiryQueue", "Properties", "MessageRetentionPeriod")
			}},
			{"the dead-letter queue keeps a minute", func(doc *yaml.Node) {
				set(doc, "60", "Resources", "ExpiryDeadLetterQueue", "Properties", "MessageRetentionPeriod")
			}},
			{"the on-failure queue's retention unset (4 days)", func(doc *yaml.Node) {
				remove(doc, "Resources", "FailedClosesQueue", "Properties", "MessageRetentionPeriod")
			}},
			{"the rule's target without a dead-letter queue", func(doc *yaml.Node) {
				remove(doc, "Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "DeadLetterConfig")
			}},
			{"async retries 0", func(doc *yaml.Node) {
				set(doc, "0", "Resources", "CloseRechargeFunction", "Properties", "EventInvokeConfig", "MaximumRetryAttempts")
			}},
			{"async events expire after a minute", func(doc *yaml.Node) {
				set(doc, "60", "Resources", "CloseRechargeFunction", "Properties", "EventInvokeConfig", "MaximumEventAgeInSeconds")
			}},
			{"one receive allowed", func(doc *yaml.Node) { set(doc, "1", "Parameters", "ExpiryMaxReceiveCount", "MinValue") }},
		},
	})
}
