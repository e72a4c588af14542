package integration

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The stack as a payments security engineer would ship it. moto evaluates no
// IAM and CloudFormation runs nowhere here, so each point is read off the
// template against the rule AWS documents, and each check is shown to fail
// when its point is undone.
type point struct {
	name  string
	check func(doc *yaml.Node) error
	undo  func(doc *yaml.Node) // edits the template so that the point no longer holds
}

var points = []point{
	{
		name: "the expiry queue's visibility timeout is six times the function timeout, whatever it is",
		check: func(doc *yaml.Node) error {
			v := node(doc, "Resources", "ExpiryQueue", "Properties", "VisibilityTimeout")
			if v == nil || v.Tag != "!FindInMap" || value(node(v, "0")) != "QueueVisibility" || !isIntrinsic(node(v, "1"), "!Ref", "FunctionTimeout") {
				return errors.New("VisibilityTimeout is not looked up from FunctionTimeout")
			}
			for _, t := range node(doc, "Parameters", "FunctionTimeout", "AllowedValues").Content {
				secs, _ := strconv.Atoi(value(node(doc, "Mappings", "QueueVisibility", t.Value, "Seconds")))
				timeout, _ := strconv.Atoi(t.Value)
				if secs < 6*timeout || secs > 43200 {
					return fmt.Errorf("FunctionTimeout %d gives a visibility timeout of %d s, want 6× (and SQS's 12 h at most)", timeout, secs)
				}
			}
			return nil
		},
		undo: func(doc *yaml.Node) { node(doc, "Mappings", "QueueVisibility", "30", "Seconds").Value = "30" },
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
		undo: func(doc *yaml.Node) { remove(node(doc, "Resources", "ExpiryQueue", "Properties"), "RedrivePolicy") },
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
				!isIntrinsic(node(p, "ScalingConfig", "MaximumConcurrency"), "!Ref", "ExpiryMaxConcurrency"):
				return errors.New("batch size, batching window or maximum concurrency is not its parameter")
			case value(node(p, "FunctionResponseTypes", "0")) != "ReportBatchItemFailures":
				return errors.New("no ReportBatchItemFailures: one failed record would return the whole batch")
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events", "ExpiryQueue", "Properties"), "FunctionResponseTypes")
		},
	},
	{
		name: "the rule and the schedules put expiries on the queue; nothing else invokes the function for them",
		check: func(doc *yaml.Node) error {
			if !isIntrinsic(node(doc, "Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "Arn"), "!GetAtt", "ExpiryQueue.Arn") {
				return errors.New("the Recharge Expired rule does not target the expiry queue")
			}
			st := node(doc, "Resources", "ExpiryQueuePolicy", "Properties", "PolicyDocument", "Statement", "0")
			if value(node(st, "Principal", "Service")) != "events.amazonaws.com" || !isIntrinsic(node(st, "Condition", "ArnEquals", "aws:SourceArn"), "!GetAtt", "RechargeExpiredRule.Arn") {
				return errors.New("the queue does not let the rule, and only the rule, send to it")
			}
			role := node(doc, "Resources", "SchedulerInvokeRole")
			if !grants(role, "sqs:SendMessage", "ExpiryQueue.Arn") {
				return errors.New("the Scheduler role may not send to the expiry queue")
			}
			invokes := false
			walk(role, func(m *yaml.Node) { invokes = invokes || value(node(m, "Action")) == "lambda:InvokeFunction" })
			if invokes {
				return errors.New("the Scheduler role still invokes the function directly")
			}
			for i := 0; i+1 < len(node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events").Content); i += 2 {
				ev := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Events").Content[i+1]
				if tp := value(node(ev, "Type")); tp != "SQS" && tp != "HttpApi" {
					return fmt.Errorf("the function has a %s event beside the queue and the API", tp)
				}
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			node(doc, "Resources", "RechargeExpiredRule", "Properties", "Targets", "0", "Arn").Value = "CloseRechargeFunction.Arn"
		},
	},
	{
		name: "the function may consume the queue and bring records back early",
		check: func(doc *yaml.Node) error {
			role := node(doc, "Resources", "CloseRechargeFunctionRole")
			for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"} {
				if !grants(role, a, "ExpiryQueue.Arn") {
					return fmt.Errorf("the function's role lacks %s on the expiry queue", a)
				}
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			walk(node(doc, "Resources", "CloseRechargeFunctionRole"), func(m *yaml.Node) {
				if a := node(m, "Action"); a != nil && a.Kind == yaml.SequenceNode && slices.ContainsFunc(a.Content, func(c *yaml.Node) bool { return c.Value == "sqs:ChangeMessageVisibility" }) {
					a.Content = a.Content[:len(a.Content)-1]
				}
			})
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
			reserved, _ := strconv.Atoi(value(node(doc, "Parameters", "ReservedConcurrency", "Default")))
			queue, _ := strconv.Atoi(value(node(doc, "Parameters", "ExpiryMaxConcurrency", "Default")))
			if reserved <= queue {
				return fmt.Errorf("defaults: reserved concurrency %d does not exceed the mapping's %d", reserved, queue)
			}
			return nil
		},
		undo: func(doc *yaml.Node) { node(doc, "Parameters", "ExpiryMaxConcurrency", "Default").Value = "10" },
	},
	{
		name: "alarms watch the expiry queue's oldest message and both dead-letter queues' depth",
		check: func(doc *yaml.Node) error {
			watched := map[string]bool{}
			for _, r := range resources(doc) {
				p := node(r, "Properties")
				if value(node(r, "Type")) == "AWS::CloudWatch::Alarm" && value(node(p, "Namespace")) == "AWS/SQS" {
					watched[value(node(p, "MetricName"))+" "+value(node(p, "Dimensions", "0", "Value"))] = true
				}
			}
			for _, want := range []string{"ApproximateAgeOfOldestMessage ExpiryQueue.QueueName", "ApproximateNumberOfMessagesVisible ExpiryDeadLetterQueue.QueueName",
				"ApproximateNumberOfMessagesVisible ScheduleDeadLetterQueue.QueueName"} {
				if !watched[want] {
					return fmt.Errorf("no alarm on %s", want)
				}
			}
			return nil
		},
		undo: func(doc *yaml.Node) { remove(node(doc, "Resources"), "ExpiryQueueAgeAlarm") },
	},
	{
		// Scheduler's confused-deputy guide: aws:SourceArn is the schedule group's ARN; a condition on
		// schedule ARNs or a name prefix never matches, and no schedule can assume the role.
		name: "Scheduler may assume its role: SourceAccount and the schedule group's ARN",
		check: func(doc *yaml.Node) error {
			st := node(doc, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0")
			if p := node(st, "Principal", "Service"); p == nil || p.Value != "scheduler.amazonaws.com" {
				return errors.New("the trust policy's principal is not scheduler.amazonaws.com")
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
		undo: func(doc *yaml.Node) {
			cond := node(doc, "Resources", "SchedulerInvokeRole", "Properties", "AssumeRolePolicyDocument", "Statement", "0", "Condition")
			remove(cond, "StringEquals", "aws:SourceArn")
			put(cond, "ArnLike", mapping("aws:SourceArn", tagged("!Sub", "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ExpiryScheduleGroup}/*")))
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
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "SchedulerInvokeRole", "Properties", "Policies", "0", "PolicyDocument", "Statement"), "1")
		},
	},
	{
		name: "alarms watch the schedule group: dropped, target errors, sent to dead letters",
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
			}
			return nil
		},
		undo: func(doc *yaml.Node) { remove(node(doc, "Resources"), "ScheduleDroppedAlarm") },
	},
	{
		name: "only this account's named producers can close through the rule",
		check: func(doc *yaml.Node) error {
			pattern := node(doc, "Resources", "RechargeExpiredRule", "Properties", "EventPattern")
			if a := node(pattern, "account", "0"); !isIntrinsic(a, "!Ref", "AWS::AccountId") {
				return errors.New("the rule's pattern does not pin account")
			}
			if !isIntrinsic(node(pattern, "source"), "!Ref", "ExpiryEventSources") {
				return errors.New("the rule's pattern does not pin source to the ExpiryEventSources parameter")
			}
			if p := node(doc, "Parameters", "ExpiryEventSources", "Type"); p == nil || p.Value != "CommaDelimitedList" {
				return errors.New("ExpiryEventSources is not a list parameter")
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "RechargeExpiredRule", "Properties", "EventPattern"), "account")
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
			return retained(doc, "CloseApiAccessLogGroup")
		},
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "CloseRechargeApi", "Properties"), "AccessLogSettings")
		},
	},
	{
		name: "only the function's role may read the secret",
		check: func(doc *yaml.Node) error {
			p := node(doc, "Resources", "MerchantSecretResourcePolicy", "Properties")
			if !isIntrinsic(node(p, "SecretId"), "!Ref", "MerchantSecretArn") {
				return errors.New("no resource policy on the merchant secret")
			}
			st := node(p, "ResourcePolicy", "Statement", "0")
			if value(node(st, "Effect")) != "Deny" || value(node(st, "Principal")) != "*" || value(node(st, "Action")) != "secretsmanager:GetSecretValue" {
				return errors.New("the secret's policy does not deny GetSecretValue to every principal")
			}
			if !isIntrinsic(node(st, "Condition", "ArnNotEquals", "aws:PrincipalArn"), "!GetAtt", "CloseRechargeFunctionRole.Arn") {
				return errors.New("the deny does not except the function's role alone")
			}
			if r := node(doc, "Resources", "CloseRechargeFunction", "Properties", "Role"); !isIntrinsic(r, "!GetAtt", "CloseRechargeFunctionRole.Arn") {
				return errors.New("the function does not run as CloseRechargeFunctionRole")
			}
			return nil
		},
		undo: func(doc *yaml.Node) { remove(node(doc, "Resources"), "MerchantSecretResourcePolicy") },
	},
	{
		name: "kms:Decrypt only through Secrets Manager and only for the merchant secret",
		check: func(doc *yaml.Node) error {
			var found bool
			walk(node(doc, "Resources", "CloseRechargeFunctionRole"), func(m *yaml.Node) {
				if a := node(m, "Action"); a != nil && a.Value == "kms:Decrypt" {
					se := node(m, "Condition", "StringEquals")
					found = isIntrinsic(node(se, "kms:EncryptionContext:SecretARN"), "!Ref", "MerchantSecretArn") &&
						node(se, "kms:ViaService") != nil
				}
			})
			if !found {
				return errors.New("kms:Decrypt is not bound to kms:ViaService and the secret's encryption context")
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			walk(node(doc, "Resources", "CloseRechargeFunctionRole"), func(m *yaml.Node) {
				if a := node(m, "Action"); a != nil && a.Value == "kms:Decrypt" {
					remove(m, "Condition", "StringEquals", "kms:EncryptionContext:SecretARN")
				}
			})
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
		undo: func(doc *yaml.Node) {
			node(doc, "Parameters", "MerchantSecretArn", "AllowedPattern").Value = "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$"
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
				branches := actions.Content[0]
				if branches.Tag != "!If" || branches.Content[0].Value != "CreateAlarmTopic" ||
					!isIntrinsic(branches.Content[1], "!Ref", "AlarmTopic") || !isIntrinsic(branches.Content[2], "!Ref", "AlarmTopicArn") {
					return fmt.Errorf("%s does not notify the alarm topic in every case", name)
				}
			}
			if alarms < 9 {
				return fmt.Errorf("%d alarms", alarms)
			}
			assert := node(doc, "Rules", "AlarmsNotifySomeone", "Assertions", "0", "Assert")
			if assert == nil || assert.Tag != "!Or" {
				return errors.New("no rule requires AlarmEmail or AlarmTopicArn")
			}
			if node(doc, "Resources", "AlarmEmailSubscription", "Properties", "Endpoint") == nil {
				return errors.New("AlarmEmail is subscribed to nothing")
			}
			return nil
		},
		undo: func(doc *yaml.Node) {
			a := node(doc, "Resources", "TransientFailuresAlarm", "Properties")
			remove(a, "AlarmActions")
			put(a, "AlarmActions", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!If", Content: []*yaml.Node{scalar("HasAlarmTopic"),
				&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{tagged("!Ref", "AlarmTopicArn")}}, tagged("!Ref", "AWS::NoValue")}})
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
			for _, m := range node(p, "Metrics").Content {
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
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "RateLimitedAlarm", "Properties", "Metrics"), "4")
		},
	},
	{
		name: "alarms see what writes no metric: Lambda errors and throttles, the rule's failed deliveries",
		check: func(doc *yaml.Node) error {
			for _, m := range [][2]string{{"AWS/Lambda", "Errors"}, {"AWS/Lambda", "Throttles"}} {
				a := alarmOn(doc, m[0], m[1])
				if a == nil || !isIntrinsic(node(a, "Dimensions", "0", "Value"), "!Ref", "CloseRechargeFunction") {
					return fmt.Errorf("no alarm on the function's %s %s", m[0], m[1])
				}
			}
			a := alarmOn(doc, "AWS/Events", "FailedInvocations")
			if a == nil {
				return errors.New("no alarm on the rule's FailedInvocations")
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
		undo: func(doc *yaml.Node) { remove(node(doc, "Resources"), "FunctionThrottlesAlarm") },
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
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "CloseRechargeApi", "Properties"), "DefaultRouteSettings")
		},
	},
	{
		name:  "queues holding failed closes are kept and TLS-only",
		check: func(doc *yaml.Node) error { return keptQueue(doc, "FailedClosesQueue") },
		undo:  func(doc *yaml.Node) { remove(node(doc, "Resources", "FailedClosesQueue"), "DeletionPolicy") },
	},
	{
		name:  "queues deny requests without TLS",
		check: func(doc *yaml.Node) error { return keptQueue(doc, "FailedClosesQueue") },
		undo: func(doc *yaml.Node) {
			remove(node(doc, "Resources", "FailedClosesQueuePolicy", "Properties", "PolicyDocument", "Statement"), "1")
		},
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
			if env.Tag != "!If" || !isIntrinsic(env.Content[1], "!Ref", "ResultEventBus") {
				return errors.New("RESULT_EVENT_BUS is not the stack's bus by default")
			}
			return nil
		},
		undo: func(doc *yaml.Node) { node(doc, "Parameters", "ResultEventBusName", "Default").Value = "default" },
	},
	{
		name: "logs are kept at least a year",
		check: func(doc *yaml.Node) error {
			p := node(doc, "Parameters", "LogRetentionDays")
			for _, v := range append([]*yaml.Node{node(p, "Default")}, node(p, "AllowedValues").Content...) {
				if d, _ := strconv.Atoi(v.Value); d < 365 {
					return fmt.Errorf("LogRetentionDays allows %s", v.Value)
				}
			}
			return retained(doc, "CloseRechargeLogGroup")
		},
		undo: func(doc *yaml.Node) { node(doc, "Parameters", "LogRetentionDays", "Default").Value = "90" },
	},
}

func TestTemplatePoints(t *testing.T) {
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			if err := p.check(loadTemplate(t)); err != nil {
				t.Fatal(err)
			}
			undone := loadTemplate(t)
			p.undo(undone)
			if p.check(undone) == nil {
				t.Fatal("the check still passes with the point undone: it cannot fail")
			}
		})
	}
}

func isIntrinsic(n *yaml.Node, tag, value string) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == tag && n.Value == value
}

func resources(doc *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	r := node(doc, "Resources")
	for i := 0; i+1 < len(r.Content); i += 2 {
		out[r.Content[i].Value] = r.Content[i+1]
	}
	return out
}

func alarmOn(doc *yaml.Node, namespace, metric string) *yaml.Node {
	for _, r := range resources(doc) {
		p := node(r, "Properties")
		if value(node(r, "Type")) == "AWS::CloudWatch::Alarm" && node(p, "Namespace") != nil &&
			value(node(p, "Namespace")) == namespace && value(node(p, "MetricName")) == metric {
			return p
		}
	}
	return nil
}

// grants reports whether some statement under n allows action on !GetAtt target.
func grants(n *yaml.Node, action, target string) bool {
	found := false
	walk(n, func(m *yaml.Node) {
		a, r, e := node(m, "Action"), node(m, "Resource"), node(m, "Effect")
		if a != nil && r != nil && e != nil && e.Value == "Allow" && (a.Value == action || slices.ContainsFunc(a.Content, func(c *yaml.Node) bool { return c.Value == action })) &&
			isIntrinsic(r, "!GetAtt", target) {
			found = true
		}
	})
	return found
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

// keptQueue: encrypted, retained, and a queue policy that denies any request without TLS.
func keptQueue(doc *yaml.Node, name string) error {
	if err := retained(doc, name); err != nil {
		return err
	}
	q := node(doc, "Resources", name, "Properties")
	if s := node(q, "SqsManagedSseEnabled"); (s == nil || s.Value != "true") && node(q, "KmsMasterKeyId") == nil {
		return fmt.Errorf("%s is not encrypted", name)
	}
	for _, r := range resources(doc) {
		if value(node(r, "Type")) != "AWS::SQS::QueuePolicy" || !isIntrinsic(node(r, "Properties", "Queues", "0"), "!Ref", name) {
			continue
		}
		for _, st := range node(r, "Properties", "PolicyDocument", "Statement").Content {
			if value(node(st, "Effect")) == "Deny" && value(node(st, "Principal")) == "*" &&
				node(st, "Condition", "Bool", "aws:SecureTransport") != nil && value(node(st, "Condition", "Bool", "aws:SecureTransport")) == "false" {
				return nil
			}
		}
	}
	return fmt.Errorf("%s's policy does not deny requests without TLS", name)
}

// remove deletes the last key of path (a mapping key or a sequence index) from n.
func remove(n *yaml.Node, path ...string) {
	parent := node(n, path[:len(path)-1]...)
	last := path[len(path)-1]
	if parent == nil {
		return
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

func put(m *yaml.Node, key string, v *yaml.Node) { m.Content = append(m.Content, scalar(key), v) }

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func tagged(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func mapping(k string, v *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar(k), v}}
}

func value(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}
