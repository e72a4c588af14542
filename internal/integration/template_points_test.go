package integration

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"close-recharge/internal/metrics"
)

// The stack as a payments security engineer would ship it. moto evaluates no
// IAM and CloudFormation runs nowhere here, so each point is read off the
// template against the rule AWS documents, values compared, and each check is
// shown to fail when any one clause of its point is undone: a check that looks
// at one clause, or at a key but not its value, lets the others rot unseen.
type point struct {
	name  string
	check func(doc *yaml.Node) error
	undos []undo
}

// undo edits the template so that one clause of a point no longer holds.
type undo struct {
	what string
	edit func(doc *yaml.Node)
}

const (
	// A payments audit trail is kept at least a year.
	minLogRetentionDays = 365
	// The rest of the expiry path gives up within an hour (the rule's and the
	// schedules' retries stop at an event age of 3600 s): a recharge still open
	// an hour past its deadline is late enough to wake someone.
	maxQueueAgeSeconds = 3600
)

var (
	schedulerStatements = []string{"Resources", "SchedulerInvokeRole", "Properties", "Policies", "0", "PolicyDocument", "Statement"}
	functionStatements  = []string{"Resources", "CloseRechargeFunctionRole", "Properties", "Policies", "0", "PolicyDocument", "Statement"}
	// The second branch of the !If that grants kms:Decrypt only with a customer managed key.
	kmsStatement = append(slices.Clone(functionStatements), "5", "1")
)

var points = []point{
	{
		name: "the expiry queue's visibility timeout is six times the function timeout plus the longest batching window, whatever they are",
		check: func(doc *yaml.Node) error {
			v := node(doc, "Resources", "ExpiryQueue", "Properties", "VisibilityTimeout")
			if v == nil || v.Tag != "!FindInMap" || value(node(v, "0")) != "QueueVisibility" || !isIntrinsic(node(v, "1"), "!Ref", "FunctionTimeout") ||
				value(node(v, "2")) != "Seconds" {
				return errors.New("VisibilityTimeout is not looked up from FunctionTimeout")
			}
			window, err := strconv.Atoi(value(node(doc, "Parameters", "ExpiryBatchingWindow", "MaxValue")))
			if err != nil {
				return errors.New("ExpiryBatchingWindow has no MaxValue: the visibility timeout cannot cover every window")
			}
			for _, t := range node(doc, "Parameters", "FunctionTimeout", "AllowedValues").Content {
				secs, _ := strconv.Atoi(value(node(doc, "Mappings", "QueueVisibility", t.Value, "Seconds")))
				timeout, _ := strconv.Atoi(t.Value)
				if secs < 6*timeout+window || secs > 43200 {
					return fmt.Errorf("FunctionTimeout %d gives a visibility timeout of %d s, want 6× plus a %d s batching window (and SQS's 12 h at most)",
						timeout, secs, window)
				}
			}
			return nil
		},
		undos: []undo{
			{"30 s timeout mapped to 30 s", func(doc *yaml.Node) { set(doc, "30", "Mappings", "QueueVisibility", "30", "Seconds") }},
			{"30 s timeout mapped to six times, no window", func(doc *yaml.Node) { set(doc, "180", "Mappings", "QueueVisibility", "30", "Seconds") }},
			{"batching window allowed up to Lambda's 300 s", func(doc *yaml.Node) { set(doc, "300", "Parameters", "ExpiryBatchingWindow", "MaxValue") }},
			{"batching window unbounded", func(doc *yaml.Node) { remove(doc, "Parameters", "ExpiryBatchingWindow", "MaxValue") }},
			{"900 s timeout mapped past SQS's 12 h", func(doc *yaml.Node) { set(doc, "50000", "Mappings", "QueueVisibility", "900", "Seconds") }},
			{"a timeout with no mapping", func(doc *yaml.Node) { remove(doc, "Mappings", "QueueVisibility", "60") }},
			{"a fixed visibility timeout", func(doc *yaml.Node) { set(doc, "180", "Resources", "ExpiryQueue", "Properties", "VisibilityTimeout") }},
		},
	},
	{
		name: "a batch size above ten is refused at the parameters unless the batching window is at least a second",
		check: func(doc *yaml.Node) error {
			r := node(doc, "Rules", "BatchesAboveTenNeedAWindow")
			cond := node(r, "RuleCondition")
			if cond == nil || cond.Tag != "!Not" || node(cond, "0").Tag != "!Contains" || !isIntrinsic(node(cond, "0", "1"), "!Ref", "ExpiryBatchSize") {
				return errors.New("no rule that applies to batch sizes outside a list")
			}
			var sizes []string
			for _, n := range node(cond, "0", "0").Content {
				sizes = append(sizes, n.Value)
			}
			if want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}; !slices.Equal(sizes, want) {
				return fmt.Errorf("the rule spares batch sizes %v, want 1 to 10", sizes)
			}
			a := node(r, "Assertions", "0", "Assert")
			if len(node(r, "Assertions").Content) != 1 || a == nil || a.Tag != "!Not" || node(a, "0").Tag != "!Equals" ||
				!isIntrinsic(node(a, "0", "0"), "!Ref", "ExpiryBatchingWindow") || value(node(a, "0", "1")) != "0" {
				return errors.New("the rule does not assert a batching window other than 0")
			}
			if minimum := value(node(doc, "Parameters", "ExpiryBatchingWindow", "MinValue")); minimum != "0" {
				return fmt.Errorf("ExpiryBatchingWindow's MinValue is %q, want 0 (so that not 0 means at least 1)", minimum)
			}
			return nil
		},
		undos: []undo{
			{"no rule", func(doc *yaml.Node) { remove(doc, "Rules", "BatchesAboveTenNeedAWindow") }},
			{"sizes up to 20 spared", func(doc *yaml.Node) {
				l := node(doc, "Rules", "BatchesAboveTenNeedAWindow", "RuleCondition", "0", "0")
				l.Content = append(l.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "20"})
			}},
			{"the assertion checks the batch size instead", func(doc *yaml.Node) {
				node(doc, "Rules", "BatchesAboveTenNeedAWindow", "Assertions", "0", "Assert", "0", "0").Value = "ExpiryBatchSize"
			}},
			{"negative windows allowed", func(doc *yaml.Node) { set(doc, "-1", "Parameters", "ExpiryBatchingWindow", "MinValue") }},
		},
	},
	{
		name: "the expiry queue hands what fails maxReceiveCount times to a kept, encrypted, TLS-only dead-letter queue",
		check: func(doc *yaml.Node) error {
			r := node(doc, "Resources", "ExpiryQueue", "Properties", "RedrivePolicy")
			if !isIntrinsic(node(r, "deadLetterTargetArn"), "!GetAtt", "ExpiryDeadLetterQueue.Arn") || !isIntrinsic(node(r, "maxReceiveCount"), "!Ref", "ExpiryMaxReceiveCount") {
				return errors.New("no redrive to ExpiryDeadLetterQueue by ExpiryMaxReceiveCount")
			}
			if err := keptQueue(doc, "ExpiryQueue"); err != nil {
				return err
			}
			return keptQueue(doc, "ExpiryDeadLetterQueue")
		},
		undos: []undo{
			{"no redrive", func(doc *yaml.Node) { remove(doc, "Resources", "ExpiryQueue", "Properties", "RedrivePolicy") }},
			{"redrive to the on-failure queue", func(doc *yaml.Node) {
				set(doc, "!GetAtt FailedClosesQueue.Arn", "Resources", "ExpiryQueue", "Properties", "RedrivePolicy", "deadLetterTargetArn")
			}},
			{"the dead-letter queue deleted with the stack", func(doc *yaml.Node) { set(doc, "Delete", "Resources", "ExpiryDeadLetterQueue", "DeletionPolicy") }},
			{"the dead-letter queue unencrypted", func(doc *yaml.Node) {
				set(doc, "false", "Resources", "ExpiryDeadLetterQueue", "Properties", "SqsManagedSseEnabled")
			}},
			{"the dead-letter queue's TLS deny narrowed to one action", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "ExpiryDeadLetterQueue"), "sqs:ListQueueTags", "Action")
			}},
		},
	},
	{
		name: "the function reads the queue in batches, bounded, with partial batch responses",
		check: func(doc *yaml.Node) error {
			e := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue")
			p := node(e, "Properties")
			switch {
			case value(node(e, "Type")) != "SQS" || !isIntrinsic(node(p, "Queue"), "!GetAtt", "ExpiryQueue.Arn"):
				return errors.New("no SQS event on the expiry queue")
			case !isIntrinsic(node(p, "BatchSize"), "!Ref", "ExpiryBatchSize"),
				!isIntrinsic(node(p, "MaximumBatchingWindowInSeconds"), "!Ref", "ExpiryBatchingWindow"),
				!isQueueShare(node(p, "ScalingConfig", "MaximumConcurrency")):
				return errors.New("batch size, batching window or maximum concurrency is not its parameter")
			case value(node(p, "FunctionResponseTypes", "0")) != "ReportBatchItemFailures":
				return errors.New("no ReportBatchItemFailures: one failed record would return the whole batch")
			}
			return nil
		},
		undos: []undo{
			{"no partial batch responses", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "FunctionResponseTypes")
			}},
			{"the event reads the on-failure queue", func(doc *yaml.Node) {
				set(doc, "!GetAtt FailedClosesQueue.Arn", "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "Queue")
			}},
			{"no maximum concurrency", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "ScalingConfig")
			}},
			{"a fixed batch size", func(doc *yaml.Node) {
				set(doc, "10000", "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "BatchSize")
			}},
		},
	},
	{
		name: "the rule and the schedules put expiries on the queue; nothing else invokes the function for them",
		check: func(doc *yaml.Node) error {
			targets := node(doc, "Resources", "RechargeExpiredRule", "Properties", "Targets")
			if targets == nil || len(targets.Content) != 1 || !isIntrinsic(node(targets, "0", "Arn"), "!GetAtt", "ExpiryQueue.Arn") {
				return errors.New("the Recharge Expired rule does not target the expiry queue alone")
			}
			st := node(doc, "Resources", "ExpiryQueuePolicy", "Properties", "PolicyDocument", "Statement", "0")
			if value(node(st, "Effect")) != "Allow" || value(node(st, "Principal", "Service")) != "events.amazonaws.com" ||
				!slices.Equal(actions(st), []string{"sqs:SendMessage"}) || !isIntrinsic(node(st, "Resource"), "!GetAtt", "ExpiryQueue.Arn") ||
				!isIntrinsic(node(st, "Condition", "ArnEquals", "aws:SourceArn"), "!GetAtt", "RechargeExpiredRule.Arn") {
				return errors.New("the queue does not let the rule, and only the rule, send to it")
			}
			// Least privilege: the Scheduler role sends expiries to the queue, and undeliverable ones to
			// its dead-letter queue, and can do nothing else.
			role := node(doc, "Resources", "SchedulerInvokeRole", "Properties")
			if node(role, "ManagedPolicyArns") != nil {
				return errors.New("the Scheduler role has managed policies")
			}
			got, err := allows(node(role, "Policies"))
			if err != nil {
				return err
			}
			if want := []string{"sqs:SendMessage on !GetAtt ExpiryQueue.Arn", "sqs:SendMessage on !GetAtt ScheduleDeadLetterQueue.Arn"}; !slices.Equal(got, want) {
				return fmt.Errorf("the Scheduler role allows %q, want %q", got, want)
			}
			for name, r := range resources(doc) {
				if value(node(r, "Type")) == "AWS::Lambda::Permission" {
					return fmt.Errorf("%s lets another service invoke the function", name)
				}
			}
			for i := 0; i+1 < len(node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events").Content); i += 2 {
				ev := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events").Content[i+1]
				if tp := value(node(ev, "Type")); tp != "SQS" && tp != "HttpApi" {
					return fmt.Errorf("the function has a %s event beside the queue and the API", tp)
				}
			}
			return nil
		},
		undos: []undo{
			{"the rule targets the function", func(doc *yaml.Node) {
				set(doc, "!GetAtt CloseRechargeFunction.Arn", "Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "Arn")
			}},
			{"the queue lets any service principal send", func(doc *yaml.Node) {
				set(doc, `"*"`, "Resources", "ExpiryQueuePolicy", "Properties", "PolicyDocument", "Statement", "0", "Principal")
			}},
			{"the queue lets the rule do anything", func(doc *yaml.Node) {
				set(doc, "sqs:*", "Resources", "ExpiryQueuePolicy", "Properties", "PolicyDocument", "Statement", "0", "Action")
			}},
			{"lambda:InvokeFunction beside sqs:SendMessage", func(doc *yaml.Node) {
				set(doc, "[sqs:SendMessage, lambda:InvokeFunction]", at(schedulerStatements, "0", "Action")...)
			}},
			{"a statement invoking the function", func(doc *yaml.Node) {
				set(doc, "{Effect: Allow, Action: lambda:InvokeFunction, Resource: !GetAtt CloseRechargeFunction.Arn}", at(schedulerStatements, "2")...)
			}},
			{"sqs:* on the queue", func(doc *yaml.Node) { set(doc, "sqs:*", at(schedulerStatements, "0", "Action")...) }},
			{"sqs:SendMessage on every queue", func(doc *yaml.Node) { set(doc, `"*"`, at(schedulerStatements, "0", "Resource")...) }},
			{"a managed policy on the Scheduler role", func(doc *yaml.Node) {
				set(doc, "[arn:aws:iam::aws:policy/service-role/AWSLambdaRole]", "Resources", "SchedulerInvokeRole", "Properties", "ManagedPolicyArns")
			}},
			{"a schedule event on the function", func(doc *yaml.Node) {
				set(doc, "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute)}}", "Resources", "CloseRechargeFunction", "Properties", "Events", "Sweep")
			}},
			{"a Lambda permission for EventBridge", func(doc *yaml.Node) {
				set(doc, "{Type: AWS::Lambda::Permission, Properties: {Action: lambda:InvokeFunction, FunctionName: !Ref CloseRechargeFunction, Principal: events.amazonaws.com}}",
					"Resources", "RulePermission")
			}},
		},
	},
	{
		name: "the function's role grants what it uses and nothing else: consuming the queue, bringing records back early",
		check: func(doc *yaml.Node) error {
			role := node(doc, "Resources", "CloseRechargeFunctionRole", "Properties")
			if node(role, "ManagedPolicyArns") != nil {
				return errors.New("the function's role has managed policies")
			}
			got, err := allows(node(role, "Policies"))
			if err != nil {
				return err
			}
			want := []string{
				"events:PutEvents on !If [CreateResultBus, !GetAtt ResultEventBus.Arn, !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${ResultEventBusName}]",
				"kms:Decrypt on !Ref MerchantSecretKmsKeyArn",
				"logs:CreateLogStream on !GetAtt CloseRechargeLogGroup.Arn",
				"logs:PutLogEvents on !GetAtt CloseRechargeLogGroup.Arn",
				"secretsmanager:GetSecretValue on !Ref MerchantSecretArn",
				"sqs:ChangeMessageVisibility on !GetAtt ExpiryQueue.Arn",
				"sqs:DeleteMessage on !GetAtt ExpiryQueue.Arn",
				"sqs:GetQueueAttributes on !GetAtt ExpiryQueue.Arn",
				"sqs:ReceiveMessage on !GetAtt ExpiryQueue.Arn",
				"sqs:SendMessage on !GetAtt ExpiryQueue.Arn", // copies of records that got no turn to call WeChat Pay
				"sqs:SendMessage on !GetAtt FailedClosesQueue.Arn",
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("the function's role allows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			return nil
		},
		undos: []undo{
			{"no sqs:ChangeMessageVisibility", func(doc *yaml.Node) {
				set(doc, "[sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes]", at(functionStatements, "4", "Action")...)
			}},
			{"sqs:* on the expiry queue", func(doc *yaml.Node) { set(doc, "sqs:*", at(functionStatements, "4", "Action")...) }},
			{"sqs:PurgeQueue beside the four", func(doc *yaml.Node) {
				set(doc, "[sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes, sqs:ChangeMessageVisibility, sqs:PurgeQueue]",
					at(functionStatements, "4", "Action")...)
			}},
			{"consuming every queue", func(doc *yaml.Node) { set(doc, `"*"`, at(functionStatements, "4", "Resource")...) }},
			{"NotAction instead of Action", func(doc *yaml.Node) {
				st := node(doc, at(functionStatements, "3")...)
				remove(st, "Action")
				set(st, "sqs:DeleteQueue", "NotAction")
			}},
			{"a managed policy on the role", func(doc *yaml.Node) {
				set(doc, "[arn:aws:iam::aws:policy/AmazonSQSFullAccess]", "Resources", "CloseRechargeFunctionRole", "Properties", "ManagedPolicyArns")
			}},
		},
	},
	{
		name: "each instance paces at WeChatPayMaxRps over reserved concurrency, which leaves room above the queue's",
		check: func(doc *yaml.Node) error {
			env := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Environment", "Variables")
			if !isIntrinsic(node(env, "WECHATPAY_MAX_RPS"), "!Ref", "WeChatPayMaxRps") || !isIntrinsic(node(env, "WECHATPAY_MAX_INSTANCES"), "!Ref", "ReservedConcurrency") {
				return errors.New("WECHATPAY_MAX_RPS / WECHATPAY_MAX_INSTANCES are not WeChatPayMaxRps / ReservedConcurrency")
			}
			if !isIntrinsic(node(doc, "Resources", "CloseRechargeFunction", "Properties", "ReservedConcurrentExecutions"), "!Ref", "ReservedConcurrency") {
				return errors.New("reserved concurrency is not ReservedConcurrency")
			}
			// Pacing is on unless the operator turns it off: the queue path
			// counts on it, and a burst sent unpaced spends its receives on 429s.
			if rps, err := strconv.ParseFloat(value(node(doc, "Parameters", "WeChatPayMaxRps", "Default")), 64); err != nil || rps <= 0 {
				return fmt.Errorf("WeChatPayMaxRps defaults to %q: pacing off unless the operator sets it", value(node(doc, "Parameters", "WeChatPayMaxRps", "Default")))
			}
			// CloudFormation cannot compare two parameters: every reserved
			// concurrency a deployment may choose looks up the queue's share,
			// which must leave room for API calls and be one Lambda accepts.
			if !isQueueShare(node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "ScalingConfig", "MaximumConcurrency")) {
				return errors.New("the queue's maximum concurrency is not looked up from ReservedConcurrency")
			}
			allowed := node(doc, "Parameters", "ReservedConcurrency", "AllowedValues")
			if allowed == nil || node(doc, "Parameters", "ReservedConcurrency", "MaxValue") != nil || node(doc, "Parameters", "ReservedConcurrency", "MinValue") != nil {
				return errors.New("ReservedConcurrency is not limited to values the mapping knows")
			}
			for _, r := range allowed.Content {
				reserved, _ := strconv.Atoi(r.Value)
				queue, err := strconv.Atoi(value(node(doc, "Mappings", "ExpiryConcurrency", r.Value, "Queue")))
				if err != nil || queue < 2 || queue > 1000 || reserved-queue < max(2, reserved/10) {
					return fmt.Errorf("ReservedConcurrency %d gives the queue %q instances: want 2 to 1000, leaving at least max(2, a tenth) for API calls", reserved, value(node(doc, "Mappings", "ExpiryConcurrency", r.Value, "Queue")))
				}
			}
			return nil
		},
		undos: []undo{
			{"the queue given every instance at the default", func(doc *yaml.Node) { set(doc, "10", "Mappings", "ExpiryConcurrency", "10", "Queue") }},
			{"the queue given one instance, below Lambda's minimum", func(doc *yaml.Node) { set(doc, "1", "Mappings", "ExpiryConcurrency", "4", "Queue") }},
			{"a reserved concurrency with no share", func(doc *yaml.Node) { remove(doc, "Mappings", "ExpiryConcurrency", "1000") }},
			{"any reserved concurrency allowed", func(doc *yaml.Node) { remove(doc, "Parameters", "ReservedConcurrency", "AllowedValues") }},
			{"the queue's concurrency a parameter of its own", func(doc *yaml.Node) {
				set(doc, "8", "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties", "ScalingConfig", "MaximumConcurrency")
			}},
			{"instances counted by the mapping's concurrency", func(doc *yaml.Node) {
				set(doc, "!Ref ExpiryMaxConcurrency", "Resources", "CloseRechargeFunction", "Properties", "Environment", "Variables", "WECHATPAY_MAX_INSTANCES")
			}},
			{"no reserved concurrency", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeFunction", "Properties", "ReservedConcurrentExecutions")
			}},
			{"pacing off by default", func(doc *yaml.Node) { set(doc, "0", "Parameters", "WeChatPayMaxRps", "Default") }},
		},
	},
	{
		name: "alarms watch the expiry queue's oldest message within the hour and anything in either dead-letter queue",
		check: func(doc *yaml.Node) error {
			age := queueAlarm(doc, "ApproximateAgeOfOldestMessage", "ExpiryQueue")
			if age == nil {
				return errors.New("no alarm on the expiry queue's ApproximateAgeOfOldestMessage")
			}
			if err := threshold(doc, age, 1, maxQueueAgeSeconds); err != nil {
				return fmt.Errorf("expiry queue age: %w", err)
			}
			for _, q := range []string{"ExpiryDeadLetterQueue", "ScheduleDeadLetterQueue"} {
				a := queueAlarm(doc, "ApproximateNumberOfMessagesVisible", q)
				if a == nil {
					return fmt.Errorf("no alarm on %s's ApproximateNumberOfMessagesVisible", q)
				}
				if err := threshold(doc, a, 1, 1); err != nil {
					return fmt.Errorf("%s depth: %w", q, err)
				}
			}
			return nil
		},
		undos: []undo{
			{"no age alarm", func(doc *yaml.Node) { remove(doc, "Resources", "ExpiryQueueAgeAlarm") }},
			{"an age threshold of 999999999 s", func(doc *yaml.Node) {
				set(doc, "999999999", "Resources", "ExpiryQueueAgeAlarm", "Properties", "Threshold")
			}},
			{"an age threshold parameter without MaxValue", func(doc *yaml.Node) { remove(doc, "Parameters", "ExpiryQueueAgeThreshold", "MaxValue") }},
			{"an age threshold defaulting to a day", func(doc *yaml.Node) { set(doc, "86400", "Parameters", "ExpiryQueueAgeThreshold", "Default") }},
			{"the age alarm on the average age", func(doc *yaml.Node) {
				set(doc, "Average", "Resources", "ExpiryQueueAgeAlarm", "Properties", "Statistic")
			}},
			{"the age alarm fires when the queue is young", func(doc *yaml.Node) {
				set(doc, "LessThanThreshold", "Resources", "ExpiryQueueAgeAlarm", "Properties", "ComparisonOperator")
			}},
			{"the age alarm watches the dead-letter queue", func(doc *yaml.Node) {
				set(doc, "!GetAtt ExpiryDeadLetterQueue.QueueName", "Resources", "ExpiryQueueAgeAlarm", "Properties", "Dimensions", "0", "Value")
			}},
			{"a dead-letter queue alarm from 100 messages", func(doc *yaml.Node) {
				set(doc, "100", "Resources", "ExpiryDeadLettersAlarm", "Properties", "Threshold")
			}},
			{"no schedule dead-letter queue alarm", func(doc *yaml.Node) { remove(doc, "Resources", "ScheduleDeadLetterQueueAlarm") }},
		},
	},
	{
		name: "an alarm watches the age each queued record reports, which SQS's own age metric leaves out past three receives",
		check: func(doc *yaml.Node) error {
			a := node(doc, "Resources", "ExpiryRecordAgeAlarm", "Properties")
			switch {
			case a == nil:
				return errors.New("no ExpiryRecordAgeAlarm")
			case !isIntrinsic(node(a, "Namespace"), "!Ref", "MetricsNamespace") || value(node(a, "MetricName")) != "RecordAge":
				return errors.New("ExpiryRecordAgeAlarm does not watch the function's RecordAge metric")
			case len(node(a, "Dimensions").Content) != 1 || value(node(a, "Dimensions", "0", "Name")) != "Path" ||
				value(node(a, "Dimensions", "0", "Value")) != metrics.QueuePath:
				return fmt.Errorf("ExpiryRecordAgeAlarm's dimensions are not Path=%s, under which the function publishes it", metrics.QueuePath)
			case value(node(a, "Statistic")) != "Maximum":
				return errors.New("ExpiryRecordAgeAlarm does not watch the oldest record (Statistic Maximum)")
			case !isIntrinsic(node(a, "Threshold"), "!Ref", "ExpiryQueueAgeThreshold"):
				return errors.New("ExpiryRecordAgeAlarm's threshold is not ExpiryQueueAgeThreshold")
			}
			if !isAlarmTopic(node(a, "AlarmActions", "0")) {
				return errors.New("ExpiryRecordAgeAlarm notifies nobody")
			}
			return threshold(doc, a, 1, maxQueueAgeSeconds)
		},
		undos: []undo{
			{"no record age alarm", func(doc *yaml.Node) { remove(doc, "Resources", "ExpiryRecordAgeAlarm") }},
			{"on another dimension value", func(doc *yaml.Node) {
				set(doc, "sqs", "Resources", "ExpiryRecordAgeAlarm", "Properties", "Dimensions", "0", "Value")
			}},
			{"on the average age", func(doc *yaml.Node) {
				set(doc, "Average", "Resources", "ExpiryRecordAgeAlarm", "Properties", "Statistic")
			}},
			{"on the receive count", func(doc *yaml.Node) {
				set(doc, "ReceiveCount", "Resources", "ExpiryRecordAgeAlarm", "Properties", "MetricName")
			}},
			{"a threshold of a day", func(doc *yaml.Node) {
				set(doc, "86400", "Resources", "ExpiryRecordAgeAlarm", "Properties", "Threshold")
			}},
			{"firing when records are young", func(doc *yaml.Node) {
				set(doc, "LessThanThreshold", "Resources", "ExpiryRecordAgeAlarm", "Properties", "ComparisonOperator")
			}},
			{"no alarm action", func(doc *yaml.Node) { remove(doc, "Resources", "ExpiryRecordAgeAlarm", "Properties", "AlarmActions") }},
		},
	},
	{
		// Scheduler's confused-deputy guide: aws:SourceArn is the schedule group's ARN; a condition on
		// schedule ARNs or a name prefix never matches, and no schedule can assume the role.
		name: "Scheduler may assume its role: SourceAccount and the schedule group's ARN",
		check: func(doc *yaml.Node) error {
			sts := node(doc, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement")
			if sts == nil || len(sts.Content) != 1 {
				return errors.New("the trust policy is not one statement")
			}
			st := sts.Content[0]
			if value(node(st, "Effect")) != "Allow" || !slices.Equal(actions(st), []string{"sts:AssumeRole"}) {
				return errors.New("the trust policy does not allow sts:AssumeRole alone")
			}
			if p := node(st, "Principal"); p == nil || len(p.Content) != 2 || value(node(p, "Service")) != "scheduler.amazonaws.com" {
				return errors.New("the trust policy's principal is not scheduler.amazonaws.com alone")
			}
			cond := node(st, "Condition")
			if cond == nil || len(cond.Content) != 2 || cond.Content[0].Value != "StringEquals" {
				return errors.New("the trust condition is not StringEquals alone")
			}
			if !isIntrinsic(node(cond, "StringEquals", "aws:SourceArn"), "!GetAtt", "ExpiryScheduleGroup.Arn") {
				return errors.New("aws:SourceArn is not the schedule group's ARN")
			}
			if !isIntrinsic(node(cond, "StringEquals", "aws:SourceAccount"), "!Ref", "AWS::AccountId") {
				return errors.New("aws:SourceAccount is not the stack's account")
			}
			return nil
		},
		undos: []undo{
			{"aws:SourceArn on schedule ARNs", func(doc *yaml.Node) {
				cond := node(doc, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0", "Condition")
				remove(cond, "StringEquals", "aws:SourceArn")
				set(cond, "{aws:SourceArn: !Sub 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ExpiryScheduleGroup}/*'}", "ArnLike")
			}},
			{"no aws:SourceAccount", func(doc *yaml.Node) {
				remove(doc, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0", "Condition", "StringEquals", "aws:SourceAccount")
			}},
			{"aws:SourceAccount any account", func(doc *yaml.Node) {
				set(doc, `"*"`, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0", "Condition", "StringEquals", "aws:SourceAccount")
			}},
			{"Lambda may assume it too", func(doc *yaml.Node) {
				set(doc, "[scheduler.amazonaws.com, lambda.amazonaws.com]", "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0", "Principal", "Service")
			}},
			{"a second, unconditioned trust statement", func(doc *yaml.Node) {
				set(doc, "{Effect: Allow, Principal: {Service: scheduler.amazonaws.com}, Action: sts:AssumeRole}",
					"Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "1")
			}},
		},
	},
	{
		name: "schedules have a dead-letter queue the Scheduler role may write, kept and TLS-only",
		check: func(doc *yaml.Node) error {
			if err := keptQueue(doc, "ScheduleDeadLetterQueue"); err != nil {
				return err
			}
			if !grants(node(doc, "Resources", "SchedulerInvokeRole"), "sqs:SendMessage", "ScheduleDeadLetterQueue.Arn") {
				return errors.New("SchedulerInvokeRole may not sqs:SendMessage to ScheduleDeadLetterQueue")
			}
			if !isIntrinsic(node(doc, "Outputs", "ScheduleDeadLetterQueueArn", "Value"), "!GetAtt", "ScheduleDeadLetterQueue.Arn") {
				return errors.New("the queue's ARN is not an Output for make schedule")
			}
			return nil
		},
		undos: []undo{
			{"the role may not write it", func(doc *yaml.Node) { remove(doc, at(schedulerStatements, "1")...) }},
			{"the role may only receive from it", func(doc *yaml.Node) { set(doc, "sqs:ReceiveMessage", at(schedulerStatements, "1", "Action")...) }},
			{"the queue replaced with the stack", func(doc *yaml.Node) {
				set(doc, "Delete", "Resources", "ScheduleDeadLetterQueue", "UpdateReplacePolicy")
			}},
			{"the TLS deny narrowed to one action", func(doc *yaml.Node) { set(tlsDenyOf(doc, "ScheduleDeadLetterQueue"), "sqs:ListQueueTags", "Action") }},
			{"no Output", func(doc *yaml.Node) { remove(doc, "Outputs", "ScheduleDeadLetterQueueArn") }},
		},
	},
	{
		name: "alarms watch the schedule group: dropped, target errors, sent to dead letters, from the first",
		check: func(doc *yaml.Node) error {
			for _, m := range []string{"InvocationDroppedCount", "TargetErrorCount", "InvocationsSentToDeadLetterCount"} {
				a := alarmOn(doc, "AWS/Scheduler", m)
				if a == nil {
					return fmt.Errorf("no alarm on AWS/Scheduler %s", m)
				}
				d := node(a, "Dimensions", "0")
				if value(node(d, "Name")) != "ScheduleGroup" || !isIntrinsic(node(d, "Value"), "!Ref", "ExpiryScheduleGroup") {
					return fmt.Errorf("the %s alarm does not watch the stack's schedule group", m)
				}
				if err := threshold(doc, a, 1, 1); err != nil {
					return fmt.Errorf("%s: %w", m, err)
				}
			}
			return nil
		},
		undos: []undo{
			{"no dropped alarm", func(doc *yaml.Node) { remove(doc, "Resources", "ScheduleDroppedAlarm") }},
			{"target errors from 100", func(doc *yaml.Node) {
				set(doc, "100", "Resources", "ScheduleTargetErrorsAlarm", "Properties", "Threshold")
			}},
			{"dead letters on another group", func(doc *yaml.Node) {
				set(doc, "default", "Resources", "ScheduleDeadLettersAlarm", "Properties", "Dimensions", "0", "Value")
			}},
		},
	},
	{
		name: "only this account's named producers can close through the rule",
		check: func(doc *yaml.Node) error {
			pattern := node(doc, "Resources", "RechargeExpiredRule", "Properties", "EventPattern")
			if a := node(pattern, "account"); a == nil || len(a.Content) != 1 || !isIntrinsic(a.Content[0], "!Ref", "AWS::AccountId") {
				return errors.New("the rule's pattern does not pin account to the stack's")
			}
			if !isIntrinsic(node(pattern, "source"), "!Ref", "ExpiryEventSources") {
				return errors.New("the rule's pattern does not pin source to the ExpiryEventSources parameter")
			}
			if p := node(doc, "Parameters", "ExpiryEventSources", "Type"); p == nil || p.Value != "CommaDelimitedList" {
				return errors.New("ExpiryEventSources is not a list parameter")
			}
			if dt := node(pattern, "detail-type"); dt == nil || len(dt.Content) != 1 || value(dt.Content[0]) != "Recharge Expired" {
				return errors.New(`the rule's pattern does not pin detail-type to "Recharge Expired"`)
			}
			return nil
		},
		undos: []undo{
			{"no account", func(doc *yaml.Node) {
				remove(doc, "Resources", "RechargeExpiredRule", "Properties", "EventPattern", "account")
			}},
			{"a second account", func(doc *yaml.Node) {
				set(doc, "[!Ref AWS::AccountId, '111122223333']", "Resources", "RechargeExpiredRule", "Properties", "EventPattern", "account")
			}},
			{"any source with a prefix", func(doc *yaml.Node) {
				set(doc, "[{prefix: platform}]", "Resources", "RechargeExpiredRule", "Properties", "EventPattern", "source")
			}},
			{"any detail-type", func(doc *yaml.Node) {
				remove(doc, "Resources", "RechargeExpiredRule", "Properties", "EventPattern", "detail-type")
			}},
		},
	},
	{
		name: "the API's access log names the caller, its account, source IP, request id and status, kept a year",
		check: func(doc *yaml.Node) error {
			s := node(doc, "Resources", "CloseRechargeApi", "Properties", "AccessLogSettings")
			if !isIntrinsic(node(s, "DestinationArn"), "!GetAtt", "CloseApiAccessLogGroup.Arn") {
				return errors.New("the HTTP API has no access log to CloseApiAccessLogGroup")
			}
			format := value(node(s, "Format"))
			for _, v := range []string{"$context.identity.userArn", "$context.identity.accountId", "$context.identity.sourceIp", "$context.requestId", "$context.status"} {
				if !strings.Contains(format, `"`+v+`"`) {
					return fmt.Errorf("the access log format lacks %s", v)
				}
			}
			return keptLogs(doc, "CloseApiAccessLogGroup")
		},
		undos: []undo{
			{"no access log", func(doc *yaml.Node) { remove(doc, "Resources", "CloseRechargeApi", "Properties", "AccessLogSettings") }},
			{"no caller in the format", func(doc *yaml.Node) {
				f := node(doc, "Resources", "CloseRechargeApi", "Properties", "AccessLogSettings", "Format")
				f.Value = strings.ReplaceAll(f.Value, "$context.identity.userArn", "")
			}},
			{"the log group kept a day", func(doc *yaml.Node) {
				set(doc, "1", "Resources", "CloseApiAccessLogGroup", "Properties", "RetentionInDays")
			}},
			{"the log group deleted with the stack", func(doc *yaml.Node) { set(doc, "Delete", "Resources", "CloseApiAccessLogGroup", "DeletionPolicy") }},
		},
	},
	{
		name: "only the functions' roles may read the secret",
		check: func(doc *yaml.Node) error {
			if value(node(doc, "Resources", "MerchantSecretResourcePolicy", "Condition")) != "RestrictSecret" ||
				render(node(doc, "Conditions", "RestrictSecret")) != "!Equals [!Ref RestrictSecretReads, true]" || value(node(doc, "Parameters", "RestrictSecretReads", "Default")) != "true" {
				return errors.New("the secret's resource policy is not there by default")
			}
			p := node(doc, "Resources", "MerchantSecretResourcePolicy", "Properties")
			if !isIntrinsic(node(p, "SecretId"), "!Ref", "MerchantSecretArn") {
				return errors.New("no resource policy on the merchant secret")
			}
			st := node(p, "ResourcePolicy", "Statement", "0")
			if value(node(st, "Effect")) != "Deny" || value(node(st, "Principal")) != "*" || value(node(st, "Resource")) != "*" ||
				!slices.ContainsFunc(actions(st), func(a string) bool { return matches(a, "secretsmanager:GetSecretValue") }) {
				return errors.New("the secret's policy does not deny GetSecretValue to every principal")
			}
			cond := node(st, "Condition")
			if cond == nil || len(cond.Content) != 2 || len(children(node(cond, "ArnNotEquals"))) != 2 ||
				render(node(cond, "ArnNotEquals", "aws:PrincipalArn")) != "[!GetAtt CloseRechargeFunctionRole.Arn, !GetAtt RechargeNotifyFunctionRole.Arn]" {
				return errors.New("the deny does not except the two functions' roles alone")
			}
			if r := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Role"); !isIntrinsic(r, "!GetAtt", "CloseRechargeFunctionRole.Arn") {
				return errors.New("the function does not run as CloseRechargeFunctionRole")
			}
			return nil
		},
		undos: []undo{
			{"no resource policy", func(doc *yaml.Node) { remove(doc, "Resources", "MerchantSecretResourcePolicy") }},
			{"off by default", func(doc *yaml.Node) { set(doc, `"false"`, "Parameters", "RestrictSecretReads", "Default") }},
			{"the policy allows", func(doc *yaml.Node) {
				set(doc, "Allow", "Resources", "MerchantSecretResourcePolicy", "Properties", "ResourcePolicy", "Statement", "0", "Effect")
			}},
			{"the deny covers DescribeSecret only", func(doc *yaml.Node) {
				set(doc, "secretsmanager:DescribeSecret", "Resources", "MerchantSecretResourcePolicy", "Properties", "ResourcePolicy", "Statement", "0", "Action")
			}},
			{"the deny excepts any role of the account", func(doc *yaml.Node) {
				set(doc, "{ArnNotLike: {aws:PrincipalArn: !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'}}",
					"Resources", "MerchantSecretResourcePolicy", "Properties", "ResourcePolicy", "Statement", "0", "Condition")
			}},
			{"the function runs as another role", func(doc *yaml.Node) {
				set(doc, "!Ref FunctionRoleArn", "Resources", "CloseRechargeFunction", "Properties", "Role")
			}},
		},
	},
	{
		name: "kms:Decrypt only through Secrets Manager and only for the merchant secret",
		check: func(doc *yaml.Node) error {
			var decrypts []*yaml.Node
			for _, st := range statements(node(doc, "Resources", "CloseRechargeFunctionRole", "Properties", "Policies")) {
				if value(node(st, "Effect")) == "Allow" && slices.ContainsFunc(actions(st), func(a string) bool { return matches(a, "kms:Decrypt") }) {
					decrypts = append(decrypts, st)
				}
			}
			if len(decrypts) != 1 {
				return fmt.Errorf("%d statements allow kms:Decrypt, want the one bound to Secrets Manager and the secret", len(decrypts))
			}
			st := decrypts[0]
			if a := actions(st); !slices.Equal(a, []string{"kms:Decrypt"}) {
				return fmt.Errorf("the statement allows %v, not kms:Decrypt alone", a)
			}
			if !isIntrinsic(node(st, "Resource"), "!Ref", "MerchantSecretKmsKeyArn") {
				return errors.New("kms:Decrypt is not on the secret's key alone")
			}
			cond := node(st, "Condition")
			if cond == nil || len(cond.Content) != 2 || cond.Content[0].Value != "StringEquals" {
				return errors.New("kms:Decrypt's condition is not StringEquals alone")
			}
			// KMS sees the calling service as secretsmanager.<region>.amazonaws.com.
			if v := node(cond, "StringEquals", "kms:ViaService"); !isIntrinsic(v, "!Sub", "secretsmanager.${AWS::Region}.amazonaws.com") {
				return fmt.Errorf("kms:ViaService is %q, want !Sub secretsmanager.${AWS::Region}.amazonaws.com", render(v))
			}
			if v := node(cond, "StringEquals", "kms:EncryptionContext:SecretARN"); !isIntrinsic(v, "!Ref", "MerchantSecretArn") {
				return fmt.Errorf("kms:EncryptionContext:SecretARN is %q, want the merchant secret's ARN", render(v))
			}
			return nil
		},
		undos: []undo{
			{`kms:ViaService "*"`, func(doc *yaml.Node) {
				set(doc, `"*"`, at(kmsStatement, "Condition", "StringEquals", "kms:ViaService")...)
			}},
			{"kms:ViaService another service", func(doc *yaml.Node) {
				set(doc, "!Sub s3.${AWS::Region}.amazonaws.com", at(kmsStatement, "Condition", "StringEquals", "kms:ViaService")...)
			}},
			{"no kms:ViaService", func(doc *yaml.Node) { remove(doc, at(kmsStatement, "Condition", "StringEquals", "kms:ViaService")...) }},
			{"no encryption context", func(doc *yaml.Node) {
				remove(doc, at(kmsStatement, "Condition", "StringEquals", "kms:EncryptionContext:SecretARN")...)
			}},
			{"the conditions under StringLike with a wildcard", func(doc *yaml.Node) {
				set(doc, "{StringLike: {kms:ViaService: 'secretsmanager.*.amazonaws.com', kms:EncryptionContext:SecretARN: '*'}}", at(kmsStatement, "Condition")...)
			}},
			{"kms:* instead of kms:Decrypt", func(doc *yaml.Node) { set(doc, "kms:*", at(kmsStatement, "Action")...) }},
			{"kms:GenerateDataKey beside kms:Decrypt", func(doc *yaml.Node) { set(doc, "[kms:Decrypt, kms:GenerateDataKey]", at(kmsStatement, "Action")...) }},
			{"a second, unconditioned statement", func(doc *yaml.Node) {
				set(doc, "{Effect: Allow, Action: 'kms:Decr*', Resource: !Ref MerchantSecretKmsKeyArn}", at(functionStatements, "6")...)
			}},
		},
	},
	{
		name: "parameters that grant access refuse wildcards",
		check: func(doc *yaml.Node) error {
			cases := []struct {
				param string
				good  []string
				bad   []string
			}{
				{"MerchantSecretArn",
					[]string{"arn:aws:secretsmanager:ap-east-1:123456789012:secret:wechatpay/merchant-AbC123"},
					[]string{"*", "arn:aws:secretsmanager:ap-east-1:123456789012:secret:*", "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wechatpay/*-AbC123",
						"arn:aws:secretsmanager:*:123456789012:secret:wechatpay/merchant-AbC123", "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wechatpay/merchant"}},
				{"MerchantSecretKmsKeyArn",
					[]string{"", "arn:aws:kms:ap-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
					[]string{"*", "arn:aws:kms:ap-east-1:123456789012:key/*", "arn:aws:kms:ap-east-1:123456789012:alias/x", "arn:aws:kms:*:123456789012:key/1"}},
			}
			for _, c := range cases {
				p := node(doc, "Parameters", c.param, "AllowedPattern")
				if p == nil {
					return fmt.Errorf("%s has no AllowedPattern", c.param)
				}
				re, err := regexp.Compile(p.Value)
				if err != nil {
					return fmt.Errorf("%s: %v", c.param, err)
				}
				for _, v := range c.good {
					if !re.MatchString(v) {
						return fmt.Errorf("%s refuses %q", c.param, v)
					}
				}
				for _, v := range c.bad {
					if re.MatchString(v) {
						return fmt.Errorf("%s accepts %q", c.param, v)
					}
				}
			}
			return nil
		},
		undos: []undo{
			{"any secret name", func(doc *yaml.Node) {
				set(doc, `"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$"`, "Parameters", "MerchantSecretArn", "AllowedPattern")
			}},
			{"no secret pattern", func(doc *yaml.Node) { remove(doc, "Parameters", "MerchantSecretArn", "AllowedPattern") }},
			{"key aliases", func(doc *yaml.Node) {
				set(doc, `"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9-]+$"`, "Parameters", "MerchantSecretKmsKeyArn", "AllowedPattern")
			}},
		},
	},
	{
		name: "every alarm notifies a topic, and the stack refuses to deploy without someone to notify",
		check: func(doc *yaml.Node) error {
			alarms := 0
			for name, r := range resources(doc) {
				if value(node(r, "Type")) != "AWS::CloudWatch::Alarm" {
					continue
				}
				alarms++
				actions := node(r, "Properties", "AlarmActions")
				if actions == nil || actions.Kind != yaml.SequenceNode || len(actions.Content) != 1 {
					return fmt.Errorf("%s: AlarmActions is not one topic", name)
				}
				if !isAlarmTopic(actions.Content[0]) {
					return fmt.Errorf("%s does not notify the alarm topic in every case", name)
				}
			}
			if alarms < 13 {
				return fmt.Errorf("%d alarms", alarms)
			}
			assert := node(doc, "Rules", "AlarmsNotifySomeone", "Assertions", "0", "Assert")
			if assert == nil || assert.Tag != "!Or" || len(assert.Content) != 2 ||
				render(assert.Content[0]) != `!Not [!Equals [!Ref AlarmEmail, ]]` || render(assert.Content[1]) != `!Not [!Equals [!Ref AlarmTopicArn, ]]` {
				return errors.New("no rule requires AlarmEmail or AlarmTopicArn")
			}
			sub := node(doc, "Resources", "AlarmEmailSubscription", "Properties")
			if value(node(sub, "Protocol")) != "email" || !isIntrinsic(node(sub, "Endpoint"), "!Ref", "AlarmEmail") || !isAlarmTopic(node(sub, "TopicArn")) {
				return errors.New("AlarmEmail is not subscribed to the alarm topic")
			}
			return nil
		},
		undos: []undo{
			{"an alarm notifies only with a given topic", func(doc *yaml.Node) {
				set(doc, "[!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]]", "Resources", "TransientFailuresAlarm", "Properties", "AlarmActions")
			}},
			{"an alarm without actions", func(doc *yaml.Node) { remove(doc, "Resources", "FunctionErrorsAlarm", "Properties", "AlarmActions") }},
			{"no rule", func(doc *yaml.Node) { remove(doc, "Rules", "AlarmsNotifySomeone") }},
			{"the rule asks for AlarmEmail alone", func(doc *yaml.Node) {
				set(doc, `!Not [!Equals [!Ref AlarmEmail, ""]]`, "Rules", "AlarmsNotifySomeone", "Assertions", "0", "Assert", "1")
			}},
			{"the subscription to a fixed address", func(doc *yaml.Node) {
				set(doc, "ops@example.com", "Resources", "AlarmEmailSubscription", "Properties", "Endpoint")
			}},
			{"the subscription to another topic", func(doc *yaml.Node) {
				set(doc, "!Ref AlarmTopicArn", "Resources", "AlarmEmailSubscription", "Properties", "TopicArn")
			}},
		},
	},
	{
		// The function's metrics carry the Outcome dimension; an alarm on one
		// metric across outcomes sums each outcome's series with metric math.
		name: "WeChat Pay's rate-limit answers raise an alarm, whatever the outcome they ended in",
		check: func(doc *yaml.Node) error {
			p := node(doc, "Resources", "RateLimitedAlarm", "Properties")
			if p == nil {
				return errors.New("no RateLimitedAlarm")
			}
			ids, summed := map[string]string{}, ""
			for _, m := range children(node(p, "Metrics")) {
				id := value(node(m, "Id"))
				if e := node(m, "Expression"); e != nil {
					if value(node(m, "ReturnData")) != "true" {
						return errors.New("the expression is not what the alarm watches")
					}
					summed = e.Value
					continue
				}
				metric := node(m, "MetricStat", "Metric")
				if value(node(m, "ReturnData")) != "false" || value(node(metric, "MetricName")) != "RateLimited" ||
					!isIntrinsic(node(metric, "Namespace"), "!Ref", "MetricsNamespace") || value(node(metric, "Dimensions", "0", "Name")) != "Outcome" ||
					value(node(m, "MetricStat", "Stat")) != "Sum" {
					return fmt.Errorf("%s is not the function's RateLimited sum for one outcome", id)
				}
				ids[id] = value(node(metric, "Dimensions", "0", "Value"))
			}
			// Every outcome that follows a request to WeChat Pay (invalid input sends none).
			var outcomes []string
			for id, o := range ids {
				if !strings.Contains(summed, id) {
					return fmt.Errorf("%s is not in %s", id, summed)
				}
				outcomes = append(outcomes, o)
			}
			slices.Sort(outcomes)
			if want := []string{"closed", "configuration_error", "not_closable", "refused", "transient"}; !slices.Equal(outcomes, want) {
				return fmt.Errorf("the alarm sums RateLimited for %v, want %v", outcomes, want)
			}
			if !strings.HasPrefix(summed, "SUM(") {
				return fmt.Errorf("expression %s", summed)
			}
			return nil
		},
		undos: []undo{
			{"an outcome dropped", func(doc *yaml.Node) { remove(doc, "Resources", "RateLimitedAlarm", "Properties", "Metrics", "4") }},
			{"the maximum, not the sum, of outcomes", func(doc *yaml.Node) {
				set(doc, "MAX([closed, notclosable, refused, transient, configuration])", "Resources", "RateLimitedAlarm", "Properties", "Metrics", "0", "Expression")
			}},
			{"an outcome's average", func(doc *yaml.Node) {
				set(doc, "Average", "Resources", "RateLimitedAlarm", "Properties", "Metrics", "1", "MetricStat", "Stat")
			}},
		},
	},
	{
		name: "alarms see what writes no metric: Lambda errors and throttles, the rule's failed deliveries",
		check: func(doc *yaml.Node) error {
			// The whole function's: an alarm on one version (the deploy's) sees
			// nothing once the next deploy has moved the alias.
			for _, m := range [][2]string{{"AWS/Lambda", "Errors"}, {"AWS/Lambda", "Throttles"}} {
				found := false
				for _, a := range alarmsOn(doc, m[0], m[1]) {
					found = found || len(children(node(a, "Dimensions"))) == 1 && value(node(a, "Dimensions", "0", "Name")) == "FunctionName" &&
						isIntrinsic(node(a, "Dimensions", "0", "Value"), "!Ref", "CloseRechargeFunction")
				}
				if !found {
					return fmt.Errorf("no alarm on the function's %s %s", m[0], m[1])
				}
			}
			if err := threshold(doc, alarmOn(doc, "AWS/Lambda", "Throttles"), 1, 1); err != nil {
				return fmt.Errorf("throttles: %w", err)
			}
			a := alarmOn(doc, "AWS/Events", "FailedInvocations")
			if a == nil {
				return errors.New("no alarm on the rule's FailedInvocations")
			}
			if err := threshold(doc, a, 1, 1); err != nil {
				return fmt.Errorf("failed invocations: %w", err)
			}
			// EventBridge names the rule alone for the default bus, the bus and the rule for another.
			dims := node(a, "Dimensions")
			rule := node(doc, "Resources", "RechargeExpiredRule", "Properties", "Name")
			if dims.Tag != "!If" || dims.Content[0].Value != "ExpiryOnDefaultBus" || rule == nil ||
				value(node(dims.Content[1], "0", "Value")) != rule.Value || value(node(dims.Content[2], "0", "Name")) != "EventBusName" ||
				value(node(dims.Content[2], "1", "Value")) != rule.Value {
				return errors.New("the rule alarm's dimensions do not name the rule as EventBridge does")
			}
			return nil
		},
		undos: []undo{
			{"no throttles alarm", func(doc *yaml.Node) { remove(doc, "Resources", "FunctionThrottlesAlarm") }},
			{"throttles from 50", func(doc *yaml.Node) { set(doc, "50", "Resources", "FunctionThrottlesAlarm", "Properties", "Threshold") }},
			{"errors of another function", func(doc *yaml.Node) {
				set(doc, "other-function", "Resources", "FunctionErrorsAlarm", "Properties", "Dimensions", "0", "Value")
			}},
			{"the rule alarm names the bus alone", func(doc *yaml.Node) {
				remove(doc, "Resources", "RuleFailedInvocationsAlarm", "Properties", "Dimensions", "2", "1")
			}},
			{"the rule alarm fires below its threshold", func(doc *yaml.Node) {
				set(doc, "LessThanThreshold", "Resources", "RuleFailedInvocationsAlarm", "Properties", "ComparisonOperator")
			}},
		},
	},
	{
		name: "API bursts are throttled, so that expiry closes keep their concurrency",
		check: func(doc *yaml.Node) error {
			s := node(doc, "Resources", "CloseRechargeApi", "Properties", "DefaultRouteSettings")
			if !isIntrinsic(node(s, "ThrottlingRateLimit"), "!Ref", "ApiThrottlingRateLimit") ||
				!isIntrinsic(node(s, "ThrottlingBurstLimit"), "!Ref", "ApiThrottlingBurstLimit") {
				return errors.New("the HTTP API's DefaultRouteSettings do not throttle by the parameters")
			}
			return nil
		},
		undos: []undo{
			{"no route settings", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeApi", "Properties", "DefaultRouteSettings")
			}},
			{"a fixed rate", func(doc *yaml.Node) {
				set(doc, "10000", "Resources", "CloseRechargeApi", "Properties", "DefaultRouteSettings", "ThrottlingRateLimit")
			}},
			{"no burst limit", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeApi", "Properties", "DefaultRouteSettings", "ThrottlingBurstLimit")
			}},
		},
	},
	{
		name:  "queues holding failed closes are kept, encrypted and TLS-only",
		check: func(doc *yaml.Node) error { return keptQueue(doc, "FailedClosesQueue") },
		undos: []undo{
			{"deleted with the stack", func(doc *yaml.Node) { remove(doc, "Resources", "FailedClosesQueue", "DeletionPolicy") }},
			{"unencrypted", func(doc *yaml.Node) {
				remove(doc, "Resources", "FailedClosesQueue", "Properties", "SqsManagedSseEnabled")
			}},
			{"no TLS deny", func(doc *yaml.Node) {
				remove(doc, "Resources", "FailedClosesQueuePolicy", "Properties", "PolicyDocument", "Statement", "1")
			}},
		},
	},
	{
		name: "every queue denies every SQS action without TLS, to everyone",
		check: func(doc *yaml.Node) error {
			queues := 0
			for name, r := range resources(doc) {
				if value(node(r, "Type")) != "AWS::SQS::Queue" {
					continue
				}
				queues++
				if err := keptQueue(doc, name); err != nil {
					return err
				}
			}
			if queues < 4 {
				return fmt.Errorf("%d queues", queues)
			}
			return nil
		},
		undos: append([]undo{
			{"the TLS deny's condition inverted", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "FailedClosesQueue"), `"true"`, "Condition", "Bool", "aws:SecureTransport")
			}},
			{"the TLS deny narrowed by a second condition", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "ExpiryQueue"), "{aws:PrincipalAccount: '111122223333'}", "Condition", "StringEquals")
			}},
			{"the TLS deny to one account", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "ExpiryQueue"), "{AWS: !Ref AWS::AccountId}", "Principal")
			}},
			{"the TLS deny on another queue", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "ExpiryQueue"), "!GetAtt FailedClosesQueue.Arn", "Resource")
			}},
			{"the TLS deny as NotAction", func(doc *yaml.Node) {
				st := tlsDenyOf(doc, "ExpiryQueue")
				remove(st, "Action")
				set(st, "sqs:SendMessage", "NotAction")
			}},
			{"the TLS deny in a list of some actions", func(doc *yaml.Node) {
				set(tlsDenyOf(doc, "ExpiryQueue"), "[sqs:SendMessage, sqs:ReceiveMessage]", "Action")
			}},
		}, narrowTLS("ExpiryQueue", "ExpiryDeadLetterQueue", "FailedClosesQueue", "ScheduleDeadLetterQueue")...),
	},
	{
		name: "outcomes go to a bus the stack creates unless one is named",
		check: func(doc *yaml.Node) error {
			if d := node(doc, "Parameters", "ResultEventBusName", "Default"); d == nil || d.Value != "" {
				return errors.New("ResultEventBusName defaults to a bus the stack does not own")
			}
			if c := node(doc, "Resources", "ResultEventBus", "Condition"); c == nil || c.Value != "CreateResultBus" {
				return errors.New("the stack creates no result bus")
			}
			env := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Environment", "Variables", "RESULT_EVENT_BUS")
			if render(env) != "!If [CreateResultBus, !Ref ResultEventBus, !Ref ResultEventBusName]" {
				return errors.New("RESULT_EVENT_BUS is not the stack's bus by default")
			}
			return nil
		},
		undos: []undo{
			{"the default bus by default", func(doc *yaml.Node) { set(doc, "default", "Parameters", "ResultEventBusName", "Default") }},
			{"no bus created", func(doc *yaml.Node) { set(doc, "HasAlarmEmail", "Resources", "ResultEventBus", "Condition") }},
			{"the function told the named bus always", func(doc *yaml.Node) {
				set(doc, "!Ref ResultEventBusName", "Resources", "CloseRechargeFunction", "Properties", "Environment", "Variables", "RESULT_EVENT_BUS")
			}},
		},
	},
	{
		name: "the function's logs are kept at least a year",
		check: func(doc *yaml.Node) error {
			if !isIntrinsic(node(doc, "Resources", "CloseRechargeFunction", "Properties", "LoggingConfig", "LogGroup"), "!Ref", "CloseRechargeLogGroup") {
				return errors.New("the function does not log to CloseRechargeLogGroup")
			}
			return keptLogs(doc, "CloseRechargeLogGroup")
		},
		undos: []undo{
			{"LogRetentionDays defaults to 90", func(doc *yaml.Node) { set(doc, "90", "Parameters", "LogRetentionDays", "Default") }},
			{"LogRetentionDays allows 30", func(doc *yaml.Node) { set(doc, "30", "Parameters", "LogRetentionDays", "AllowedValues", "0") }},
			{"LogRetentionDays without allowed values", func(doc *yaml.Node) { remove(doc, "Parameters", "LogRetentionDays", "AllowedValues") }},
			{"the log group kept a day", func(doc *yaml.Node) {
				set(doc, "1", "Resources", "CloseRechargeLogGroup", "Properties", "RetentionInDays")
			}},
			{"the log group's retention unset", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeLogGroup", "Properties", "RetentionInDays")
			}},
			{"the log group replaced with the stack", func(doc *yaml.Node) { remove(doc, "Resources", "CloseRechargeLogGroup", "UpdateReplacePolicy") }},
			{"the function logs to Lambda's default group", func(doc *yaml.Node) {
				remove(doc, "Resources", "CloseRechargeFunction", "Properties", "LoggingConfig", "LogGroup")
			}},
		},
	},
}

func TestTemplatePoints(t *testing.T) {
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			if err := p.check(loadTemplate(t)); err != nil {
				t.Fatal(err)
			}
			if len(p.undos) == 0 {
				t.Fatal("no undo: nothing shows the check can fail")
			}
			for _, u := range p.undos {
				undone := loadTemplate(t)
				u.edit(undone)
				if p.check(undone) == nil {
					t.Errorf("the check still passes with %s: it cannot see that clause", u.what)
				}
			}
		})
	}
}

// The helpers below are judged themselves: a helper that says yes too easily
// makes every point that leans on it pass with its clause undone.
func TestTemplatePointsHelpers(t *testing.T) {
	t.Run("IAM action patterns", func(t *testing.T) {
		for _, c := range []struct {
			pattern, action string
			want            bool
		}{
			{"*", "sqs:SendMessage", true},
			{"sqs:*", "sqs:SendMessage", true},
			{"SQS:sendmessage", "sqs:SendMessage", true},
			{"sqs:Send*", "sqs:SendMessage", true},
			{"sqs:SendMessag?", "sqs:SendMessage", true},
			{"sqs:SendMessage", "sqs:SendMessageBatch", false},
			{"sqs:ListQueueTags", "sqs:SendMessage", false},
			{"sqsx:*", "sqs:SendMessage", false},
			{"sqs.*", "sqs:SendMessage", false},
		} {
			if got := matches(c.pattern, c.action); got != c.want {
				t.Errorf("matches(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
			}
		}
	})
	t.Run("Action as a string or a list", func(t *testing.T) {
		if got := actions(parse("{Action: sqs:SendMessage}")); !slices.Equal(got, []string{"sqs:SendMessage"}) {
			t.Errorf("string: %v", got)
		}
		if got := actions(parse("{Action: [sqs:SendMessage, lambda:InvokeFunction]}")); !slices.Equal(got, []string{"sqs:SendMessage", "lambda:InvokeFunction"}) {
			t.Errorf("list: %v", got)
		}
	})
	t.Run("allows lists every action on every resource, and refuses NotAction", func(t *testing.T) {
		got, err := allows(parse(`[{Effect: Deny, Action: "*", Resource: "*"},
			{Effect: Allow, Action: [a:X, a:Y], Resource: [!GetAtt Q.Arn, "*"]}]`))
		want := []string{"a:X on !GetAtt Q.Arn", "a:X on *", "a:Y on !GetAtt Q.Arn", "a:Y on *"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("allows = %q, %v; want %q", got, err, want)
		}
		if _, err := allows(parse("[{Effect: Allow, NotAction: a:X, Resource: '*'}]")); err == nil {
			t.Error("NotAction passed")
		}
	})
}

// statements lists the policy statements under n, wherever an !If puts them.
func statements(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	if n != nil {
		walk(n, func(m *yaml.Node) {
			if node(m, "Effect") != nil {
				out = append(out, m)
			}
		})
	}
	return out
}

// actions lists a statement's Action, which IAM takes as one string or a list.
func actions(st *yaml.Node) []string {
	a := node(st, "Action")
	if a == nil {
		return nil
	}
	if a.Kind != yaml.SequenceNode {
		return []string{a.Value}
	}
	out := make([]string, 0, len(a.Content))
	for _, c := range a.Content {
		out = append(out, c.Value)
	}
	return out
}

// matches reports whether an IAM action pattern covers action: IAM compares
// actions case-insensitively, with * and ? as wildcards.
func matches(pattern, action string) bool {
	re := "(?i)^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(action)
}

// allows lists "action on resource" for every action each Allow statement under
// n grants, sorted, as written (wildcards stay wildcards, so that a least-privilege
// comparison sees them). NotAction and NotResource grant what they do not name: refused.
func allows(n *yaml.Node) ([]string, error) {
	var out []string
	for _, st := range statements(n) {
		if node(st, "NotAction") != nil || node(st, "NotResource") != nil {
			return nil, fmt.Errorf("a statement uses NotAction or NotResource (line %d)", st.Line)
		}
		if value(node(st, "Effect")) != "Allow" {
			continue
		}
		res := []*yaml.Node{node(st, "Resource")}
		if r := res[0]; r != nil && r.Kind == yaml.SequenceNode && r.Tag == "!!seq" {
			res = r.Content
		}
		for _, a := range actions(st) {
			for _, r := range res {
				out = append(out, a+" on "+render(r))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// grants reports whether some Allow statement under n covers action on !GetAtt target.
func grants(n *yaml.Node, action, target string) bool {
	for _, st := range statements(n) {
		if value(node(st, "Effect")) == "Allow" && isIntrinsic(node(st, "Resource"), "!GetAtt", target) &&
			slices.ContainsFunc(actions(st), func(a string) bool { return matches(a, action) }) {
			return true
		}
	}
	return false
}

// render writes a node the way it reads in the template, intrinsics and all.
func render(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	tag := ""
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		tag = n.Tag + " "
	}
	parts := make([]string, 0, len(n.Content))
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			parts = append(parts, render(c))
		}
		return tag + "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, n.Content[i].Value+": "+render(n.Content[i+1]))
		}
		return tag + "{" + strings.Join(parts, ", ") + "}"
	}
	return tag + n.Value
}

func isIntrinsic(n *yaml.Node, tag, value string) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == tag && n.Value == value
}

func isAlarmTopic(n *yaml.Node) bool {
	return render(n) == "!If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]"
}

func resources(doc *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	r := node(doc, "Resources")
	for i := 0; i+1 < len(r.Content); i += 2 {
		out[r.Content[i].Value] = r.Content[i+1]
	}
	return out
}

// alarmOn finds the first alarm, in the template's order, on a metric; a map's
// order would pick a different one from run to run when two watch the metric.
func alarmOn(doc *yaml.Node, namespace, metric string) *yaml.Node {
	if all := alarmsOn(doc, namespace, metric); len(all) > 0 {
		return all[0]
	}
	return nil
}

// alarmsOn finds every alarm on a metric, in the template's order.
func alarmsOn(doc *yaml.Node, namespace, metric string) []*yaml.Node {
	var out []*yaml.Node
	rs := node(doc, "Resources")
	for i := 0; i+1 < len(rs.Content); i += 2 {
		r := rs.Content[i+1]
		p := node(r, "Properties")
		if value(node(r, "Type")) == "AWS::CloudWatch::Alarm" && node(p, "Namespace") != nil &&
			value(node(p, "Namespace")) == namespace && value(node(p, "MetricName")) == metric {
			out = append(out, p)
		}
	}
	return out
}

// queueAlarm finds the alarm on an SQS metric of one queue (its only dimension).
func queueAlarm(doc *yaml.Node, metric, queue string) *yaml.Node {
	for _, r := range resources(doc) {
		p := node(r, "Properties")
		if value(node(r, "Type")) == "AWS::CloudWatch::Alarm" && value(node(p, "Namespace")) == "AWS/SQS" && value(node(p, "MetricName")) == metric &&
			len(children(node(p, "Dimensions"))) == 1 && value(node(p, "Dimensions", "0", "Name")) == "QueueName" &&
			isIntrinsic(node(p, "Dimensions", "0", "Value"), "!GetAtt", queue+".QueueName") {
			return p
		}
	}
	return nil
}

// threshold checks that an alarm fires once its metric's Maximum or Sum reaches
// a threshold that is, for every value a deployment may give it, within [lo, hi].
func threshold(doc, alarm *yaml.Node, lo, hi int) error {
	if op := value(node(alarm, "ComparisonOperator")); op != "GreaterThanOrEqualToThreshold" {
		return fmt.Errorf("ComparisonOperator %s, want GreaterThanOrEqualToThreshold", op)
	}
	if s := value(node(alarm, "Statistic")); s != "Maximum" && s != "Sum" {
		return fmt.Errorf("Statistic %q, want Maximum or Sum", s)
	}
	least, most, err := number(doc, node(alarm, "Threshold"))
	if err != nil {
		return fmt.Errorf("Threshold: %w", err)
	}
	if least < lo || most > hi {
		return fmt.Errorf("Threshold may be %s to %s, want within %d to %d", bound(least), bound(most), lo, hi)
	}
	return nil
}

// number gives the least and the greatest value a template number may take: a
// literal's own, or a Number parameter's bounds (math.MinInt / math.MaxInt where
// it sets none).
func number(doc, n *yaml.Node) (least, most int, err error) {
	if n == nil {
		return 0, 0, errors.New("not set")
	}
	if n.Tag != "!Ref" {
		v, err := strconv.Atoi(n.Value)
		return v, v, err
	}
	p := node(doc, "Parameters", n.Value)
	if value(node(p, "Type")) != "Number" {
		return 0, 0, fmt.Errorf("%s is not a Number parameter", n.Value)
	}
	least, most = math.MinInt, math.MaxInt
	if av := node(p, "AllowedValues"); av != nil {
		least, most = math.MaxInt, math.MinInt
		for _, c := range av.Content {
			v, err := strconv.Atoi(c.Value)
			if err != nil {
				return 0, 0, err
			}
			least, most = min(least, v), max(most, v)
		}
	}
	if m := node(p, "MinValue"); m != nil {
		v, err := strconv.Atoi(m.Value)
		if err != nil {
			return 0, 0, err
		}
		least = max(least, v)
	}
	if m := node(p, "MaxValue"); m != nil {
		v, err := strconv.Atoi(m.Value)
		if err != nil {
			return 0, 0, err
		}
		most = min(most, v)
	}
	// A default outside the constraints is one more value a deployment may get.
	if d := node(p, "Default"); d != nil {
		v, err := strconv.Atoi(d.Value)
		if err != nil {
			return 0, 0, err
		}
		least, most = min(least, v), max(most, v)
	}
	return least, most, nil
}

// bound writes a limit number gave, "any" where there is none.
func bound(v int) string {
	if v == math.MinInt || v == math.MaxInt {
		return "any"
	}
	return strconv.Itoa(v)
}

func retained(doc *yaml.Node, name string) error {
	r := node(doc, "Resources", name)
	for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if v := node(r, k); v == nil || v.Value != "Retain" {
			return fmt.Errorf("%s: %s is not Retain", name, k)
		}
	}
	return nil
}

// keptLogs: a retained log group whose retention, whatever the parameters, is
// at least minLogRetentionDays. Unset, a group keeps its logs forever and
// LogRetentionDays decides nothing: that is refused too.
func keptLogs(doc *yaml.Node, name string) error {
	if err := retained(doc, name); err != nil {
		return err
	}
	least, _, err := number(doc, node(doc, "Resources", name, "Properties", "RetentionInDays"))
	if err != nil {
		return fmt.Errorf("%s: RetentionInDays: %w", name, err)
	}
	if least < minLogRetentionDays {
		return fmt.Errorf("%s may be kept %s days, want at least %d", name, bound(least), minLogRetentionDays)
	}
	return nil
}

// keptQueue: encrypted, retained, and a queue policy that denies any request without TLS.
func keptQueue(doc *yaml.Node, name string) error {
	if err := retained(doc, name); err != nil {
		return err
	}
	q := node(doc, "Resources", name, "Properties")
	if value(node(q, "SqsManagedSseEnabled")) != "true" && value(node(q, "KmsMasterKeyId")) == "" {
		return fmt.Errorf("%s is not encrypted", name)
	}
	for _, st := range queueStatements(doc, name) {
		if tlsDeny(st, name) {
			return nil
		}
	}
	return fmt.Errorf("%s's policy does not deny every SQS action without TLS", name)
}

// queueStatements lists the statements of the queue policies that name queue.
func queueStatements(doc *yaml.Node, queue string) []*yaml.Node {
	var out []*yaml.Node
	for _, r := range resources(doc) {
		if value(node(r, "Type")) == "AWS::SQS::QueuePolicy" &&
			slices.ContainsFunc(children(node(r, "Properties", "Queues")), func(q *yaml.Node) bool { return isIntrinsic(q, "!Ref", queue) }) {
			out = append(out, statements(node(r, "Properties", "PolicyDocument"))...)
		}
	}
	return out
}

// tlsDeny reports whether st denies every principal every SQS action on the
// queue when, and only on the condition that, the request is not over TLS.
func tlsDeny(st *yaml.Node, queue string) bool {
	p := node(st, "Principal")
	if value(node(st, "Effect")) != "Deny" || !(value(p) == "*" || value(node(p, "AWS")) == "*") {
		return false
	}
	if !slices.ContainsFunc(actions(st), func(a string) bool { return a == "*" || strings.EqualFold(a, "sqs:*") }) {
		return false
	}
	if r := node(st, "Resource"); !isIntrinsic(r, "!GetAtt", queue+".Arn") && !(value(r) == "*" && r.Kind == yaml.ScalarNode) {
		return false
	}
	cond := node(st, "Condition")
	return cond != nil && len(cond.Content) == 2 && len(children(node(cond, "Bool"))) == 2 &&
		value(node(cond, "Bool", "aws:SecureTransport")) == "false"
}

// tlsDenyOf finds the statement in queue's policy that denies requests without TLS.
func tlsDenyOf(doc *yaml.Node, queue string) *yaml.Node {
	for _, st := range queueStatements(doc, queue) {
		if node(st, "Condition", "Bool", "aws:SecureTransport") != nil {
			return st
		}
	}
	panic("no TLS deny for " + queue)
}

// narrowTLS undoes each queue's TLS deny by narrowing it to one harmless action.
func narrowTLS(queues ...string) []undo {
	var out []undo
	for _, q := range queues {
		out = append(out, undo{q + "'s TLS deny narrowed to sqs:ListQueueTags", func(doc *yaml.Node) {
			set(tlsDenyOf(doc, q), "sqs:ListQueueTags", "Action")
		}})
	}
	return out
}

// set puts the YAML v at path under n: a mapping key is replaced or added, a
// sequence index replaced or, one past the end, appended.
func set(n *yaml.Node, v string, path ...string) {
	parent, last := node(n, path[:len(path)-1]...), path[len(path)-1]
	if parent == nil {
		panic("set: no " + strings.Join(path[:len(path)-1], "."))
	}
	if parent.Kind == yaml.SequenceNode {
		i, err := strconv.Atoi(last)
		switch {
		case err != nil || i > len(parent.Content):
			panic("set: no index " + last + " in " + strings.Join(path[:len(path)-1], "."))
		case i == len(parent.Content):
			parent.Content = append(parent.Content, parse(v))
		default:
			parent.Content[i] = parse(v)
		}
		return
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == last {
			parent.Content[i+1] = parse(v)
			return
		}
	}
	parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, parse(v))
}

// remove deletes the last key of path (a mapping key or a sequence index) from n.
func remove(n *yaml.Node, path ...string) {
	parent := node(n, path[:len(path)-1]...)
	last := path[len(path)-1]
	if parent == nil {
		panic("remove: no " + strings.Join(path[:len(path)-1], "."))
	}
	if parent.Kind == yaml.SequenceNode {
		if i, err := strconv.Atoi(last); err == nil && i < len(parent.Content) {
			parent.Content = slices.Delete(parent.Content, i, i+1)
		}
		return
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == last {
			parent.Content = slices.Delete(parent.Content, i, i+2)
			return
		}
	}
}

// parse reads one YAML value, the template's short-form intrinsics included.
func parse(s string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		panic(err)
	}
	return doc.Content[0]
}

func children(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	return n.Content
}

// at extends a path.
func at(path []string, keys ...string) []string { return append(slices.Clone(path), keys...) }

func value(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// isQueueShare reports whether n looks the queue's maximum concurrency up
// from ReservedConcurrency in the ExpiryConcurrency mapping.
func isQueueShare(n *yaml.Node) bool {
	return n != nil && n.Tag == "!FindInMap" && value(node(n, "0")) == "ExpiryConcurrency" &&
		isIntrinsic(node(n, "1"), "!Ref", "ReservedConcurrency") && value(node(n, "2")) == "Queue"
}
