package access

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	allowed  = "Allowed"
	denied   = "ExplicitlyDenied"
	implicit = "ImplicitlyDenied"
)

func params(region string) map[string]string {
	p := partitionOf(region)
	return map[string]string{
		"MerchantSecretArn":       "arn:" + p + ":secretsmanager:" + region + ":" + account + ":secret:wechatpay/merchant-AbCdEf",
		"MerchantSecretKmsKeyArn": "arn:" + p + ":kms:" + region + ":" + account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"AlarmEmail":              "ops@example.com",
		"ExpirySenderRoleArns":    producerRole(p) + "," + operatorRole(p),
	}
}

func producerRole(partition string) string {
	return "arn:" + partition + ":iam::" + account + ":role/platform-producer"
}
func operatorRole(partition string) string {
	return "arn:" + partition + ":iam::" + account + ":role/queue-operator"
}
func otherRole(partition string) string {
	return "arn:" + partition + ":iam::" + account + ":role/another-team"
}

func allow(actions any, resource string) namedPolicy {
	return namedPolicy{Name: "fixture", Policy: map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": resource}},
	}}
}

// defaultKeyPolicy is the policy KMS gives a customer managed key created without one (AWS KMS
// Developer Guide, "Default key policy": "Allows access to the AWS account and enables IAM
// policies"). The merchant secret's key is the operator's, outside the template; with this
// policy the function's IAM statement decides.
func defaultKeyPolicy(partition string) any {
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": "Enable IAM User Permissions", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:" + partition + ":iam::" + account + ":root"},
			"Action":    "kms:*", "Resource": "*",
		}},
	}
}

// awsManagedSNSKeyPolicy is the key policy of the AWS managed key alias/aws/sns, as
// `aws kms get-key-policy --key-id alias/aws/sns --policy-name default` returns it and the AWS KMS
// Developer Guide ("AWS managed keys": their policies allow use only through the service, by
// principals of the account) describes it. Nobody can change it.
func awsManagedSNSKeyPolicy(partition, region string) any {
	return map[string]any{
		"Version": "2012-10-17",
		"Id":      "auto-sns",
		"Statement": []any{
			map[string]any{
				"Sid":    "Allow access through SNS for all principals in the account that are authorized to use SNS",
				"Effect": "Allow", "Principal": map[string]any{"AWS": "*"},
				"Action":   []any{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"},
				"Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{
					"kms:CallerAccount": account, "kms:ViaService": "sns." + region + ".amazonaws.com",
				}},
			},
			map[string]any{
				"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
				"Principal": map[string]any{"AWS": "arn:" + partition + ":iam::" + account + ":root"},
				"Action":    []any{"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"},
				"Resource":  "*",
			},
		},
	}
}

// rows is the access matrix of a deployment. Policies are read from it on every call, so that a
// deployment whose policy was undone gives the same rows under that policy.
func rows(d deployment) []row {
	p, region := d.Partition, d.Region
	queue := d.attr("ExpiryQueue", "Arn")
	dlq := d.attr("ExpiryDeadLetterQueue", "Arn")
	scheduleDLQ := d.attr("ScheduleDeadLetterQueue", "Arn")
	failed := d.attr("FailedClosesQueue", "Arn")
	rule := d.attr("RechargeExpiredRule", "Arn")
	group := d.attr("ExpiryScheduleGroup", "Arn")
	schedulerRole := d.attr("SchedulerInvokeRole", "Arn")
	fnRole := d.attr("CloseRechargeFunctionRole", "Arn")
	secret := params(region)["MerchantSecretArn"]
	secretKey := params(region)["MerchantSecretKmsKeyArn"]
	alarmKey := d.attr("AlarmTopicKey", "Arn")
	topic := d.attr("AlarmTopic", "Ref")
	alarm := d.attr("ExpiryQueueAgeAlarm", "Arn")
	otherAlarm := "arn:" + p + ":cloudwatch:" + region + ":" + otherAccount + ":alarm:anything"
	route := d.arn("execute-api", d.attr("CloseRechargeApi", "Ref")+"/$default/POST/recharges/RC1/close")

	trust := d.props("SchedulerInvokeRole")["AssumeRolePolicyDocument"]
	scheduler := d.rolePolicies("SchedulerInvokeRole")
	fn := d.rolePolicies("CloseRechargeFunctionRole")
	queuePolicy := d.props("ExpiryQueuePolicy")["PolicyDocument"]
	dlqPolicy := d.props("ExpiryDeadLetterQueuePolicy")["PolicyDocument"]
	schedDLQPolicy := d.props("ScheduleDeadLetterQueuePolicy")["PolicyDocument"]
	failedPolicy := d.props("FailedClosesQueuePolicy")["PolicyDocument"]
	secretPolicy := d.props("MerchantSecretResourcePolicy")["ResourcePolicy"]
	keyPolicy := d.props("AlarmTopicKey")["KeyPolicy"]
	topicPolicy := d.props("AlarmTopicPolicy")["PolicyDocument"]
	viaSM := "secretsmanager." + region + ".amazonaws.com"
	viaSNS := "sns." + region + ".amazonaws.com"
	fromRule := map[string]string{"aws:SourceArn": rule, "aws:SourceAccount": account}
	// SNS asks KMS for the publisher, CloudWatch: the key sees the alarm as source, through SNS.
	fromAlarm := map[string]string{"aws:SourceArn": alarm, "aws:SourceAccount": account}
	keyForAlarm := map[string]string{"aws:SourceArn": alarm, "aws:SourceAccount": account, "kms:ViaService": viaSNS}
	producer := []namedPolicy{allow("sqs:SendMessage", queue)}
	sendAnywhere := []namedPolicy{allow([]any{"sqs:SendMessage", "secretsmanager:GetSecretValue"}, "*")}

	return []row{
		// Scheduler and its role.
		{name: "Scheduler assumes its role for a schedule of the group", principal: "scheduler.amazonaws.com",
			action: "sts:AssumeRole", resource: schedulerRole, resPolicy: trust, want: allowed,
			context: map[string]string{"aws:SourceAccount": account, "aws:SourceArn": group}},
		{name: "Scheduler assumes the role for a group of another account", principal: "scheduler.amazonaws.com",
			action: "sts:AssumeRole", resource: schedulerRole, resPolicy: trust, want: implicit,
			context: map[string]string{"aws:SourceAccount": otherAccount,
				"aws:SourceArn": strings.Replace(group, account, otherAccount, 1)}},
		{name: "Scheduler assumes the role for another group of the account", principal: "scheduler.amazonaws.com",
			action: "sts:AssumeRole", resource: schedulerRole, resPolicy: trust, want: implicit,
			context: map[string]string{"aws:SourceAccount": account, "aws:SourceArn": group + "-other"}},
		{name: "Scheduler role sends to the expiry queue", principal: schedulerRole, action: "sqs:SendMessage",
			resource: queue, identity: scheduler, resPolicy: queuePolicy, want: allowed},
		{name: "Scheduler role sends to the schedule dead-letter queue", principal: schedulerRole, action: "sqs:SendMessage",
			resource: scheduleDLQ, identity: scheduler, resPolicy: schedDLQPolicy, want: allowed},
		{name: "Scheduler role sends to the expiry queue without TLS", principal: schedulerRole, action: "sqs:SendMessage",
			resource: queue, identity: scheduler, resPolicy: queuePolicy, noTLS: true, want: denied},
		{name: "Scheduler role sends to the schedule dead-letter queue without TLS", principal: schedulerRole,
			action: "sqs:SendMessage", resource: scheduleDLQ, identity: scheduler, resPolicy: schedDLQPolicy, noTLS: true, want: denied},
		{name: "Scheduler role sends to the on-failure queue", principal: schedulerRole, action: "sqs:SendMessage",
			resource: failed, identity: scheduler, resPolicy: failedPolicy, want: implicit},

		// The rule.
		{name: "the rule sends to the expiry queue", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: queue, resPolicy: queuePolicy, context: fromRule, want: allowed},
		{name: "the rule dead-letters to the on-failure queue", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: failed, resPolicy: failedPolicy, context: fromRule, want: allowed},
		{name: "the rule dead-letters without TLS", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: failed, resPolicy: failedPolicy, context: fromRule, noTLS: true, want: denied},
		{name: "another rule sends to the expiry queue", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: queue, resPolicy: queuePolicy, want: denied,
			context: map[string]string{"aws:SourceArn": rule + "-other", "aws:SourceAccount": account}},

		// Other senders.
		{name: "a producer named in ExpirySenderRoleArns sends to the expiry queue", principal: producerRole(p),
			action: "sqs:SendMessage", resource: queue, identity: producer, resPolicy: queuePolicy, want: allowed},
		{name: "the operator named in ExpirySenderRoleArns redrives into the expiry queue", principal: operatorRole(p),
			action: "sqs:SendMessage", resource: queue, identity: producer, resPolicy: queuePolicy, want: allowed},
		{name: "another role of the account with sqs:SendMessage sends to the expiry queue", principal: otherRole(p),
			action: "sqs:SendMessage", resource: queue, identity: sendAnywhere, resPolicy: queuePolicy, want: denied},
		{name: "the function's role puts back a copy of a record that got no turn", principal: fnRole, action: "sqs:SendMessage",
			resource: queue, identity: fn, resPolicy: queuePolicy, want: allowed},
		{name: "the operator receives from the expiry dead-letter queue without TLS", principal: operatorRole(p),
			action: "sqs:ReceiveMessage", resource: dlq, identity: []namedPolicy{allow("sqs:*", dlq)},
			resPolicy: dlqPolicy, noTLS: true, want: denied},
		{name: "the operator receives from the expiry dead-letter queue", principal: operatorRole(p),
			action: "sqs:ReceiveMessage", resource: dlq, identity: []namedPolicy{allow("sqs:*", dlq)},
			resPolicy: dlqPolicy, want: allowed},

		// The function's role.
		{name: "function role receives expiries", principal: fnRole, action: "sqs:ReceiveMessage",
			resource: queue, identity: fn, resPolicy: queuePolicy, want: allowed},
		{name: "function role deletes expiries", principal: fnRole, action: "sqs:DeleteMessage",
			resource: queue, identity: fn, resPolicy: queuePolicy, want: allowed},
		{name: "function role changes an expiry's visibility", principal: fnRole, action: "sqs:ChangeMessageVisibility",
			resource: queue, identity: fn, resPolicy: queuePolicy, want: allowed},
		{name: "function role receives expiries without TLS", principal: fnRole, action: "sqs:ReceiveMessage",
			resource: queue, identity: fn, resPolicy: queuePolicy, noTLS: true, want: denied},
		{name: "function role keeps a failed close in the on-failure queue", principal: fnRole, action: "sqs:SendMessage",
			resource: failed, identity: fn, resPolicy: failedPolicy, want: allowed},
		{name: "function role reads the merchant secret", principal: fnRole, action: "secretsmanager:GetSecretValue",
			resource: secret, identity: fn, resPolicy: secretPolicy, want: allowed},
		{name: "another role of the account with GetSecretValue reads the secret", principal: otherRole(p),
			action: "secretsmanager:GetSecretValue", resource: secret, identity: sendAnywhere, resPolicy: secretPolicy, want: denied},
		{name: "function role decrypts the secret through Secrets Manager", principal: fnRole, action: "kms:Decrypt",
			resource: secretKey, identity: fn, resPolicy: defaultKeyPolicy(p), want: allowed,
			context: map[string]string{"kms:ViaService": viaSM, "kms:EncryptionContext:SecretARN": secret}},
		{name: "function role decrypts with the key directly", principal: fnRole, action: "kms:Decrypt",
			resource: secretKey, identity: fn, resPolicy: defaultKeyPolicy(p), want: implicit,
			context: map[string]string{"kms:EncryptionContext:SecretARN": secret}},
		{name: "function role decrypts another secret through Secrets Manager", principal: fnRole, action: "kms:Decrypt",
			resource: secretKey, identity: fn, resPolicy: defaultKeyPolicy(p), want: implicit,
			context: map[string]string{"kms:ViaService": viaSM, "kms:EncryptionContext:SecretARN": strings.Replace(secret, "merchant", "other", 1)}},
		{name: "function role puts outcomes on the result bus", principal: fnRole, action: "events:PutEvents",
			resource: d.attr("ResultEventBus", "Arn"), identity: fn, want: allowed},
		{name: "function role puts outcomes on the default bus", principal: fnRole, action: "events:PutEvents",
			resource: d.arn("events", "event-bus/default"), identity: fn, want: implicit},

		// Alarms.
		{name: "CloudWatch makes a data key for the alarm topic", principal: "cloudwatch.amazonaws.com",
			action: "kms:GenerateDataKey", resource: alarmKey, resPolicy: keyPolicy, context: keyForAlarm, want: allowed},
		{name: "CloudWatch decrypts with the alarm topic's key", principal: "cloudwatch.amazonaws.com",
			action: "kms:Decrypt", resource: alarmKey, resPolicy: keyPolicy, context: keyForAlarm, want: allowed},
		{name: "CloudWatch publishes to the alarm topic", principal: "cloudwatch.amazonaws.com",
			action: "sns:Publish", resource: topic, resPolicy: topicPolicy, context: fromAlarm, want: allowed},
		{name: "CloudWatch uses the alarm key for another account's alarm", principal: "cloudwatch.amazonaws.com",
			action: "kms:GenerateDataKey", resource: alarmKey, resPolicy: keyPolicy, want: implicit,
			context: map[string]string{"aws:SourceArn": otherAlarm, "aws:SourceAccount": otherAccount, "kms:ViaService": viaSNS}},
		{name: "CloudWatch publishes for another account's alarm", principal: "cloudwatch.amazonaws.com",
			action: "sns:Publish", resource: topic, resPolicy: topicPolicy, want: implicit,
			context: map[string]string{"aws:SourceArn": otherAlarm, "aws:SourceAccount": otherAccount}},
		{name: "CloudWatch publishes to the alarm topic without TLS", principal: "cloudwatch.amazonaws.com",
			action: "sns:Publish", resource: topic, resPolicy: topicPolicy, context: fromAlarm, noTLS: true, want: denied},
		{name: "CloudWatch makes a data key with the AWS managed key alias/aws/sns", principal: "cloudwatch.amazonaws.com",
			action: "kms:GenerateDataKey", resource: d.arn("kms", "key/aaaabbbb-0000-1111-2222-333344445555"),
			resPolicy: awsManagedSNSKeyPolicy(p, region), context: keyForAlarm, want: implicit},

		// The API.
		{name: "a caller with execute-api:Invoke on the route closes", principal: otherRole(p), action: "execute-api:Invoke",
			resource: route, want: allowed,
			identity: []namedPolicy{allow("execute-api:Invoke", d.arn("execute-api", d.attr("CloseRechargeApi", "Ref")+"/*/POST/recharges/*/close"))}},
		{name: "a caller with execute-api:Invoke on another route", principal: otherRole(p), action: "execute-api:Invoke",
			resource: route, want: implicit,
			identity: []namedPolicy{allow("execute-api:Invoke", d.arn("execute-api", d.attr("CloseRechargeApi", "Ref")+"/*/GET/recharges/*"))}},
	}
}

func TestAccessMatrix(t *testing.T) {
	requireTools(t)
	for _, region := range []string{"us-east-1", "cn-north-1"} {
		t.Run(region, func(t *testing.T) {
			d := expand(t, region, params(region))
			rs := rows(d)
			judge(t, rs)
			counts := map[bool]int{}
			for _, r := range rs {
				counts[r.want == allowed]++
			}
			if counts[true] < 15 || counts[false] < 15 {
				t.Errorf("%d allowed and %d denied rows; the matrix needs at least 15 of each", counts[true], counts[false])
			}
		})
	}
}

// TestColonKeysNeedTheSlashForm shows why rows are evaluated with colon-form variable keys renamed:
// sent as written, the evaluator drops kms:EncryptionContext:SecretARN from the request, so the
// function could never decrypt its secret and a policy without the condition would look the same.
func TestColonKeysNeedTheSlashForm(t *testing.T) {
	requireTools(t)
	d := expand(t, "us-east-1", params("us-east-1"))
	var decrypt []row
	for _, r := range rows(d) {
		if r.context["kms:EncryptionContext:SecretARN"] != "" {
			decrypt = append(decrypt, r)
		}
	}
	if len(decrypt) < 3 {
		t.Fatalf("%d rows carry the encryption context; want the allowed one and its denials", len(decrypt))
	}
	asWritten := evaluate(t, decrypt, false)
	renamed := evaluate(t, decrypt, true)
	for i, r := range decrypt {
		if !slices.Contains(asWritten[i].IgnoredContextKeys, "kms:EncryptionContext:SecretARN") {
			t.Errorf("%s: the evaluator now takes the colon form (ignored %v): evaluate it as written",
				r.name, asWritten[i].IgnoredContextKeys)
		}
		if renamed[i].Decision != r.want {
			t.Errorf("%s: renamed %s, want %s", r.name, renamed[i].Decision, r.want)
		}
		if r.want == allowed && asWritten[i].Decision == allowed {
			t.Errorf("%s: allowed with the key ignored: the row does not depend on it", r.name)
		}
	}
}

// undo is a policy removed or loosened in one deployment, and the rows that must then flip.
type undo struct {
	name  string
	apply func(d deployment)
	flips []string
}

func undos() []undo {
	return []undo{
		{"Scheduler role trust without its conditions", func(d deployment) {
			trust := d.props("SchedulerInvokeRole")["AssumeRolePolicyDocument"].(map[string]any)
			delete(trust["Statement"].([]any)[0].(map[string]any), "Condition")
		}, []string{"Scheduler assumes the role for a group of another account", "Scheduler assumes the role for another group of the account"}},
		{"Scheduler role without its policy", func(d deployment) {
			d.props("SchedulerInvokeRole")["Policies"] = []any{}
		}, []string{"Scheduler role sends to the expiry queue", "Scheduler role sends to the schedule dead-letter queue"}},
		{"expiry queue without the rule's Allow", func(d deployment) {
			removeStatement(d.props("ExpiryQueuePolicy")["PolicyDocument"], "RuleDeliversExpiries")
		}, []string{"the rule sends to the expiry queue"}},
		{"expiry queue without the senders' Deny", func(d deployment) {
			removeStatement(d.props("ExpiryQueuePolicy")["PolicyDocument"], "OnlyKnownSendersEnqueue")
		}, []string{"another role of the account with sqs:SendMessage sends to the expiry queue"}},
		{"expiry queue's senders' Deny without the rule's source", func(d deployment) {
			c := statement(d.props("ExpiryQueuePolicy")["PolicyDocument"], "OnlyKnownSendersEnqueue")["Condition"].(map[string]any)
			delete(c["ArnNotEquals"].(map[string]any), "aws:SourceArn")
		}, []string{"the rule sends to the expiry queue"}},
		{"expiry queue's senders' Deny without the listed roles", func(d deployment) {
			c := statement(d.props("ExpiryQueuePolicy")["PolicyDocument"], "OnlyKnownSendersEnqueue")["Condition"].(map[string]any)
			c["ArnNotEquals"].(map[string]any)["aws:PrincipalArn"] = []any{d.attr("SchedulerInvokeRole", "Arn")}
		}, []string{"a producer named in ExpirySenderRoleArns sends to the expiry queue", "the operator named in ExpirySenderRoleArns redrives into the expiry queue",
			"the function's role puts back a copy of a record that got no turn"}},
		{"expiry queue without its TLS Deny", func(d deployment) {
			removeStatement(d.props("ExpiryQueuePolicy")["PolicyDocument"], "TLSOnly")
		}, []string{"function role receives expiries without TLS"}},
		{"expiry dead-letter queue without its TLS Deny", func(d deployment) {
			removeStatement(d.props("ExpiryDeadLetterQueuePolicy")["PolicyDocument"], "TLSOnly")
		}, []string{"the operator receives from the expiry dead-letter queue without TLS"}},
		{"schedule dead-letter queue without its TLS Deny", func(d deployment) {
			removeStatement(d.props("ScheduleDeadLetterQueuePolicy")["PolicyDocument"], "TLSOnly")
		}, []string{"Scheduler role sends to the schedule dead-letter queue without TLS"}},
		{"on-failure queue without the rule's Allow", func(d deployment) {
			removeStatement(d.props("FailedClosesQueuePolicy")["PolicyDocument"], "RuleDeadLetters")
		}, []string{"the rule dead-letters to the on-failure queue"}},
		{"on-failure queue without its TLS Deny", func(d deployment) {
			removeStatement(d.props("FailedClosesQueuePolicy")["PolicyDocument"], "TLSOnly")
		}, []string{"the rule dead-letters without TLS"}},
		{"function role without its policy", func(d deployment) {
			d.props("CloseRechargeFunctionRole")["Policies"] = []any{}
		}, []string{"function role receives expiries", "function role reads the merchant secret", "function role puts outcomes on the result bus"}},
		{"function role decrypting without kms:ViaService", func(d deployment) {
			c := statement(d.rolePolicies("CloseRechargeFunctionRole")[0].Policy, "DecryptMerchantSecret")["Condition"].(map[string]any)
			delete(c["StringEquals"].(map[string]any), "kms:ViaService")
		}, []string{"function role decrypts with the key directly"}},
		{"function role decrypting without the encryption context", func(d deployment) {
			c := statement(d.rolePolicies("CloseRechargeFunctionRole")[0].Policy, "DecryptMerchantSecret")["Condition"].(map[string]any)
			delete(c["StringEquals"].(map[string]any), "kms:EncryptionContext:SecretARN")
		}, []string{"function role decrypts another secret through Secrets Manager"}},
		{"function role publishing to any bus", func(d deployment) {
			statement(d.rolePolicies("CloseRechargeFunctionRole")[0].Policy, "PublishOutcomes")["Resource"] = "*"
		}, []string{"function role puts outcomes on the default bus"}},
		{"secret without its resource policy", func(d deployment) {
			removeStatement(d.props("MerchantSecretResourcePolicy")["ResourcePolicy"], "OnlyCloseRechargeReadsTheKeys")
		}, []string{"another role of the account with GetSecretValue reads the secret"}},
		{"alarm key without CloudWatch's statement", func(d deployment) {
			removeStatement(d.props("AlarmTopicKey")["KeyPolicy"], "CloudWatchAlarmsPublish")
		}, []string{"CloudWatch makes a data key for the alarm topic", "CloudWatch decrypts with the alarm topic's key"}},
		{"alarm key's CloudWatch statement without conditions", func(d deployment) {
			delete(statement(d.props("AlarmTopicKey")["KeyPolicy"], "CloudWatchAlarmsPublish"), "Condition")
		}, []string{"CloudWatch uses the alarm key for another account's alarm"}},
		{"alarm topic without CloudWatch's Allow", func(d deployment) {
			removeStatement(d.props("AlarmTopicPolicy")["PolicyDocument"], "CloudWatchAlarmsPublish")
		}, []string{"CloudWatch publishes to the alarm topic"}},
		{"alarm topic's CloudWatch Allow without conditions", func(d deployment) {
			delete(statement(d.props("AlarmTopicPolicy")["PolicyDocument"], "CloudWatchAlarmsPublish"), "Condition")
		}, []string{"CloudWatch publishes for another account's alarm"}},
		{"alarm topic without its TLS Deny", func(d deployment) {
			removeStatement(d.props("AlarmTopicPolicy")["PolicyDocument"], "TLSOnly")
		}, []string{"CloudWatch publishes to the alarm topic without TLS"}},
	}
}

// TestEachPolicyMatters undoes each policy, or one clause of it, in a copy of the deployment and
// requires the rows it guards to change decision: a policy no row depends on is not tested.
func TestEachPolicyMatters(t *testing.T) {
	requireTools(t)
	base := expand(t, "us-east-1", params("us-east-1"))
	us := undos()
	var all []row
	var owner []int
	for i, u := range us {
		d := base.clone()
		u.apply(d)
		for _, r := range rows(d) {
			if slices.Contains(u.flips, r.name) {
				all = append(all, r)
				owner = append(owner, i)
			}
		}
	}
	vs := evaluate(t, all, true)
	seen := map[string]int{}
	for i, r := range all {
		u := us[owner[i]]
		seen[fmt.Sprint(owner[i], r.name)]++
		if vs[i].Decision == r.want {
			t.Errorf("%s: %q is still %s", u.name, r.name, vs[i].Decision)
		}
	}
	for i, u := range us {
		for _, f := range u.flips {
			if seen[fmt.Sprint(i, f)] != 1 {
				t.Errorf("%s: no row named %q", u.name, f)
			}
		}
	}
}

// TestNothingIsLostUnseen checks, on the deployed form, what no access path shows: pending schedules
// outlive the stack, and a delivery that not even a dead-letter queue took raises an alarm that
// notifies the alarm topic.
func TestNothingIsLostUnseen(t *testing.T) {
	requireTools(t)
	d := expand(t, "us-east-1", params("us-east-1"))
	group := d.Resources["ExpiryScheduleGroup"]
	if group["DeletionPolicy"] != "Retain" || group["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("the schedule group is deleted with the stack (DeletionPolicy %v, UpdateReplacePolicy %v): so is every pending schedule",
			group["DeletionPolicy"], group["UpdateReplacePolicy"])
	}
	key := d.Resources["AlarmTopicKey"]
	if key["DeletionPolicy"] != "Retain" || d.props("AlarmTopicKey")["EnableKeyRotation"] != true {
		t.Errorf("the alarm topic's key is not retained with rotation on: %v, rotation %v", key["DeletionPolicy"], d.props("AlarmTopicKey")["EnableKeyRotation"])
	}
	if got := d.props("AlarmTopic")["KmsMasterKeyId"]; got != d.attr("AlarmTopicKey", "Ref") {
		t.Errorf("the alarm topic is encrypted with %v, not its own key", got)
	}
	topic := d.attr("AlarmTopic", "Ref")
	want := map[string][]any{
		"AWS/Events InvocationsFailedToBeSentToDlq": {map[string]any{"Name": "RuleName", "Value": stackName + "-recharge-expired"}},
		"AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount": {
			map[string]any{"Name": "ScheduleGroup", "Value": d.attr("ExpiryScheduleGroup", "Ref")}},
	}
	for metric, dims := range want {
		found := false
		for _, r := range d.Resources {
			if r["Type"] != "AWS::CloudWatch::Alarm" {
				continue
			}
			p := r["Properties"].(map[string]any)
			if fmt.Sprint(p["Namespace"], " ", p["MetricName"]) != metric {
				continue
			}
			found = true
			if fmt.Sprint(p["Dimensions"]) != fmt.Sprint(dims) {
				t.Errorf("%s: dimensions %v, want %v", metric, p["Dimensions"], dims)
			}
			if fmt.Sprint(p["AlarmActions"]) != fmt.Sprint([]any{topic}) || fmt.Sprint(p["Threshold"]) != "1" {
				t.Errorf("%s: actions %v threshold %v, want the alarm topic at 1", metric, p["AlarmActions"], p["Threshold"])
			}
		}
		if !found {
			t.Errorf("no alarm on %s", metric)
		}
	}
}

// judge evaluates rows and fails each whose decision is not the expected one,
// or whose conditions the evaluator could not read (an ignored context key
// leaves its condition unevaluated).
func judge(t *testing.T, rs []row) {
	t.Helper()
	vs := evaluate(t, rs, true)
	for i, r := range rs {
		if vs[i].Decision != r.want {
			t.Errorf("%s: %s, want %s", r.name, vs[i].Decision, r.want)
		}
		if len(vs[i].IgnoredContextKeys) > 0 {
			t.Errorf("%s: the evaluator ignored context keys %v: their conditions were not evaluated", r.name, vs[i].IgnoredContextKeys)
		}
		t.Logf("%-85s %s", r.name, vs[i].Decision)
	}
}
