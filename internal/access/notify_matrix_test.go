package access

import (
	"strings"
	"testing"
)

// notifyRows is what the notification function's role may and may not do: it
// publishes, deletes the stack's expiry schedules, reads the secret and keeps
// dedupe marks in its own table, and nothing next to those.
func notifyRows(d deployment) []row {
	p, region := d.Partition, d.Region
	role := d.attr("RechargeNotifyFunctionRole", "Arn")
	fn := d.rolePolicies("RechargeNotifyFunctionRole")
	group := d.attr("ExpiryScheduleGroup", "Ref")
	schedule := d.arn("scheduler", "schedule/"+group+"/close-1900000109-RC1")
	table := d.attr("NotificationTable", "Arn")
	secret := params(region)["MerchantSecretArn"]
	secretKey := params(region)["MerchantSecretKmsKeyArn"]
	secretPolicy := d.props("MerchantSecretResourcePolicy")["ResourcePolicy"]
	viaSM := "secretsmanager." + region + ".amazonaws.com"

	return []row{
		{name: "notify role puts notifications on the result bus", principal: role, action: "events:PutEvents",
			resource: d.attr("ResultEventBus", "Arn"), identity: fn, want: allowed},
		{name: "notify role puts events on the default bus", principal: role, action: "events:PutEvents",
			resource: d.arn("events", "event-bus/default"), identity: fn, want: implicit},
		{name: "notify role deletes an expiry schedule of the stack's group", principal: role, action: "scheduler:DeleteSchedule",
			resource: schedule, identity: fn, want: allowed},
		{name: "notify role deletes a schedule of another group", principal: role, action: "scheduler:DeleteSchedule",
			resource: d.arn("scheduler", "schedule/"+group+"-other/close-1900000109-RC1"), identity: fn, want: implicit},
		{name: "notify role creates a schedule in the stack's group", principal: role, action: "scheduler:CreateSchedule",
			resource: schedule, identity: fn, want: implicit},
		{name: "notify role reads the merchant secret", principal: role, action: "secretsmanager:GetSecretValue",
			resource: secret, identity: fn, resPolicy: secretPolicy, want: allowed},
		{name: "notify role decrypts the secret through Secrets Manager", principal: role, action: "kms:Decrypt",
			resource: secretKey, identity: fn, resPolicy: defaultKeyPolicy(p), want: allowed,
			context: map[string]string{"kms:ViaService": viaSM, "kms:EncryptionContext:SecretARN": secret}},
		{name: "notify role decrypts with the key directly", principal: role, action: "kms:Decrypt",
			resource: secretKey, identity: fn, resPolicy: defaultKeyPolicy(p), want: implicit,
			context: map[string]string{"kms:EncryptionContext:SecretARN": secret}},
		{name: "notify role reads a mark", principal: role, action: "dynamodb:GetItem", resource: table, identity: fn, want: allowed},
		{name: "notify role records a mark", principal: role, action: "dynamodb:PutItem", resource: table, identity: fn, want: allowed},
		{name: "notify role deletes a mark", principal: role, action: "dynamodb:DeleteItem", resource: table, identity: fn, want: implicit},
		{name: "notify role writes another table", principal: role, action: "dynamodb:PutItem",
			resource: strings.Replace(table, "NotificationTable", "OtherTable", 1), identity: fn, want: implicit},
		{name: "notify role sends to the expiry queue", principal: role, action: "sqs:SendMessage",
			resource: d.attr("ExpiryQueue", "Arn"), identity: fn, resPolicy: d.props("ExpiryQueuePolicy")["PolicyDocument"], want: denied},
	}
}

func TestNotifyAccessMatrix(t *testing.T) {
	requireTools(t)
	for _, region := range []string{"us-east-1", "cn-north-1"} {
		t.Run(region, func(t *testing.T) {
			judge(t, notifyRows(expand(t, region, params(region))))
		})
	}
}

// Each grant of the notify role is needed by a row: with it removed, the row is denied.
func TestNotifyGrantsMatter(t *testing.T) {
	requireTools(t)
	base := expand(t, "us-east-1", params("us-east-1"))
	for sid, flips := range map[string][]string{
		"PublishNotifications":  {"notify role puts notifications on the result bus"},
		"DeleteExpirySchedules": {"notify role deletes an expiry schedule of the stack's group"},
		"ReadMerchantSecret":    {"notify role reads the merchant secret"},
		"DecryptMerchantSecret": {"notify role decrypts the secret through Secrets Manager"},
		"DedupeNotifications":   {"notify role reads a mark", "notify role records a mark"},
	} {
		t.Run(sid, func(t *testing.T) {
			d := base.clone()
			for _, p := range d.rolePolicies("RechargeNotifyFunctionRole") {
				removeStatement(p.Policy, sid)
			}
			var rs []row
			for _, r := range notifyRows(d) {
				for _, f := range flips {
					if r.name == f {
						rs = append(rs, r)
					}
				}
			}
			if len(rs) != len(flips) {
				t.Fatalf("rows %v not found", flips)
			}
			for i, v := range evaluate(t, rs, true) {
				if v.Decision == allowed {
					t.Errorf("without %s, %q is still allowed", sid, rs[i].name)
				}
			}
		})
	}
}

// The secret's resource policy excepts the notify role by name: a role of the
// account with the same grant is still refused.
func TestSecretPolicyExceptsTheNotifyRoleAlone(t *testing.T) {
	requireTools(t)
	d := expand(t, "us-east-1", params("us-east-1"))
	secret := params("us-east-1")["MerchantSecretArn"]
	fn := d.rolePolicies("RechargeNotifyFunctionRole")
	rs := []row{{name: "another role with the notify role's policy reads the secret", principal: otherRole(d.Partition),
		action: "secretsmanager:GetSecretValue", resource: secret, identity: fn,
		resPolicy: d.props("MerchantSecretResourcePolicy")["ResourcePolicy"], want: denied}}
	if v := evaluate(t, rs, true)[0]; v.Decision != denied {
		t.Fatalf("%s: %s, want %s", rs[0].name, v.Decision, denied)
	}
}
