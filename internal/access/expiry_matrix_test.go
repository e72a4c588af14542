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
			judge(t, expiryRows(expand(t, region, params(region))))
		})
	}
}

// producerRegion is expanded with ExpiryRequestProducerArns set: expansions are kept per region, so
// a region of its own keeps the other tests' deployments as they are.
const producerRegion = "eu-west-1"

func externalProducer(partition string) string {
	return "arn:" + partition + ":iam::" + otherAccount + ":role/platform-expiry-producer"
}

// The requests bus lets the producers the parameter names put events on it, and no one else of
// another account.
func TestExpiryRequestsBusPolicy(t *testing.T) {
	requireTools(t)
	ps := params(producerRegion)
	p := partitionOf(producerRegion)
	ps["ExpiryRequestProducerArns"] = externalProducer(p)
	d := expand(t, producerRegion, ps)
	bus := d.attr("RequestsEventBus", "Arn")
	busPolicy := d.props("RequestsEventBus")["Policy"]
	putAnywhere := []namedPolicy{allow("events:PutEvents", "*")}
	other := "arn:" + p + ":iam::" + otherAccount + ":role/another-team"
	rs := []row{
		{name: "a producer named in ExpiryRequestProducerArns puts an expiry request", principal: externalProducer(p),
			action: "events:PutEvents", resource: bus, identity: putAnywhere, resPolicy: busPolicy, want: allowed},
		{name: "another account's role puts an expiry request", principal: other,
			action: "events:PutEvents", resource: bus, identity: putAnywhere, resPolicy: busPolicy, want: implicit},
	}
	vs := evaluate(t, rs, true)
	for i, r := range rs {
		if vs[i].Decision != r.want {
			t.Errorf("%s: %s, want %s", r.name, vs[i].Decision, r.want)
		}
	}
	// Without producers, no policy: the bus is the account's alone.
	if _, ok := expand(t, "us-east-1", params("us-east-1")).props("RequestsEventBus")["Policy"]; ok {
		t.Error("a requests bus policy with no producers named")
	}
}

// Each grant and limit of the expiry function's access is what decides its row: undone, the row
// turns.
func TestEachExpiryPolicyMatters(t *testing.T) {
	requireTools(t)
	base := expand(t, "us-east-1", params("us-east-1"))
	undo := []struct {
		name  string
		apply func(d deployment)
		flips string
	}{
		{"PassRole to any service", func(d deployment) {
			delete(statement(d.rolePolicies("RechargeExpiryFunctionRole")[0].Policy, "PassSchedulerRole"), "Condition")
		}, "expiry role passes the Scheduler role to Lambda"},
		{"schedules of any group", func(d deployment) {
			s := statement(d.rolePolicies("RechargeExpiryFunctionRole")[0].Policy, "KeepExpirySchedules")
			s["Resource"] = d.arn("scheduler", "schedule/*")
		}, "expiry role creates a schedule in another group"},
		{"no grant to queue due expiries", func(d deployment) {
			removeStatement(d.rolePolicies("RechargeExpiryFunctionRole")[0].Policy, "QueueDueExpiries")
		}, "expiry role queues an expiry already due"},
		{"the secret's resource policy gone", func(d deployment) {
			removeStatement(d.props("MerchantSecretResourcePolicy")["ResourcePolicy"], "OnlyCloseRechargeReadsTheKeys")
		}, "expiry role with GetSecretValue granted elsewhere reads the merchant secret"},
	}
	var rs []row
	for _, u := range undo {
		d := base.clone()
		u.apply(d)
		found := false
		for _, r := range expiryRows(d) {
			if r.name == u.flips {
				rs, found = append(rs, r), true
			}
		}
		if !found {
			t.Fatalf("%s: no row %q", u.name, u.flips)
		}
	}
	vs := evaluate(t, rs, true)
	for i, r := range rs {
		if vs[i].Decision == r.want {
			t.Errorf("%s: %q is still %s", undo[i].name, r.name, vs[i].Decision)
		}
	}
}
