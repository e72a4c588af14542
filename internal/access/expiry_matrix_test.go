package access

import (
	"testing"
)

// expiryRows are the expiry function's access paths: it keeps schedules in the stack's group only,
// hands Scheduler the stack's Scheduler role only, queues expiries already due, and can reach
// nothing of the close: not the merchant's keys, not the outcomes.
func expiryRows(d deployment) []row {
	p := d.Partition
	role := d.attr("RechargeExpiryFunctionRole", "Arn")
	identity := d.rolePolicies("RechargeExpiryFunctionRole")
	group := d.attr("ExpiryScheduleGroup", "Ref")
	schedule := d.arn("scheduler", "schedule/"+group+"/close-1900000109-RC1")
	otherGroup := d.arn("scheduler", "schedule/default/close-1900000109-RC1")
	schedulerRole := d.attr("SchedulerInvokeRole", "Arn")
	fnRole := d.attr("CloseRechargeFunctionRole", "Arn")
	queue := d.attr("ExpiryQueue", "Arn")
	queuePolicy := d.props("ExpiryQueuePolicy")["PolicyDocument"]
	failed := d.attr("FailedExpiryRequestsQueue", "Arn")
	failedPolicy := d.props("FailedExpiryRequestsQueuePolicy")["PolicyDocument"]
	rule := d.arn("events", "rule/"+d.attr("RequestsEventBus", "Ref")+"/"+stackName+"-recharge-expiry-requested")
	secret := params(d.Region)["MerchantSecretArn"]
	secretPolicy := d.props("MerchantSecretResourcePolicy")["ResourcePolicy"]
	toScheduler := map[string]string{"iam:PassedToService": "scheduler.amazonaws.com"}

	return []row{
		{name: "expiry role creates a schedule in the group", principal: role, action: "scheduler:CreateSchedule",
			resource: schedule, identity: identity, want: allowed},
		{name: "expiry role reads a schedule in the group", principal: role, action: "scheduler:GetSchedule",
			resource: schedule, identity: identity, want: allowed},
		{name: "expiry role moves a schedule in the group", principal: role, action: "scheduler:UpdateSchedule",
			resource: schedule, identity: identity, want: allowed},
		{name: "expiry role deletes a schedule in the group", principal: role, action: "scheduler:DeleteSchedule",
			resource: schedule, identity: identity, want: allowed},
		{name: "expiry role passes the Scheduler role to Scheduler", principal: role, action: "iam:PassRole",
			resource: schedulerRole, identity: identity, context: toScheduler, want: allowed},
		{name: "expiry role queues an expiry already due", principal: role, action: "sqs:SendMessage",
			resource: queue, identity: identity, resPolicy: queuePolicy, want: allowed},
		{name: "expiry role keeps a failed request", principal: role, action: "sqs:SendMessage",
			resource: failed, identity: identity, resPolicy: failedPolicy, want: allowed},
		{name: "the expiry rule dead-letters a request", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: failed, resPolicy: failedPolicy, context: map[string]string{"aws:SourceArn": rule, "aws:SourceAccount": account}, want: allowed},

		{name: "expiry role creates a schedule in another group", principal: role, action: "scheduler:CreateSchedule",
			resource: otherGroup, identity: identity, want: implicit},
		{name: "expiry role deletes a schedule in another group", principal: role, action: "scheduler:DeleteSchedule",
			resource: otherGroup, identity: identity, want: implicit},
		{name: "expiry role creates a schedule group", principal: role, action: "scheduler:CreateScheduleGroup",
			resource: d.arn("scheduler", "schedule-group/other"), identity: identity, want: implicit},
		{name: "expiry role passes the Scheduler role to Lambda", principal: role, action: "iam:PassRole",
			resource: schedulerRole, identity: identity, context: map[string]string{"iam:PassedToService": "lambda.amazonaws.com"}, want: implicit},
		{name: "expiry role passes the close function's role to Scheduler", principal: role, action: "iam:PassRole",
			resource: fnRole, identity: identity, context: toScheduler, want: implicit},
		{name: "expiry role passes another role to Scheduler", principal: role, action: "iam:PassRole",
			resource: otherRole(p), identity: identity, context: toScheduler, want: implicit},
		{name: "expiry role reads the merchant secret", principal: role, action: "secretsmanager:GetSecretValue",
			resource: secret, identity: identity, resPolicy: secretPolicy, want: denied},
		{name: "expiry role with GetSecretValue granted elsewhere reads the merchant secret", principal: role, action: "secretsmanager:GetSecretValue",
			resource: secret, identity: append(append([]namedPolicy{}, identity...), allow("secretsmanager:GetSecretValue", "*")), resPolicy: secretPolicy, want: denied},
		{name: "expiry role queues an expiry without TLS", principal: role, action: "sqs:SendMessage",
			resource: queue, identity: identity, resPolicy: queuePolicy, noTLS: true, want: denied},
		{name: "expiry role receives expiries", principal: role, action: "sqs:ReceiveMessage",
			resource: queue, identity: identity, resPolicy: queuePolicy, want: implicit},
		{name: "expiry role publishes an outcome", principal: role, action: "events:PutEvents",
			resource: d.attr("ResultEventBus", "Arn"), identity: identity, want: implicit},
		{name: "another rule dead-letters into the failed-requests queue", principal: "events.amazonaws.com", action: "sqs:SendMessage",
			resource: failed, resPolicy: failedPolicy, context: map[string]string{"aws:SourceArn": rule + "-other", "aws:SourceAccount": account}, want: implicit},
	}
}

func TestExpiryAccessMatrix(t *testing.T) {
	requireTools(t)
	for _, region := range []string{"us-east-1", "cn-north-1"} {
		t.Run(region, func(t *testing.T) {
			d := expand(t, region, params(region))
			rs := expiryRows(d)
			vs := evaluate(t, rs, true)
			for i, r := range rs {
				if vs[i].Decision != r.want {
					t.Errorf("%s: %s, want %s", r.name, vs[i].Decision, r.want)
				}
				if len(vs[i].IgnoredContextKeys) > 0 {
					t.Errorf("%s: the evaluator ignored context keys %v", r.name, vs[i].IgnoredContextKeys)
				}
				t.Logf("%-85s %s", r.name, vs[i].Decision)
			}
		})
	}
}
