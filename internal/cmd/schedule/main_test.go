package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
)

const stackTemplate = `{
  "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
  "Outputs": {
    "ExpiryQueueArn": {"Value": "arn:aws:sqs:us-east-1:123456789012:close-recharge-expiry"},
    "SchedulerRoleArn": {"Value": "arn:aws:iam::123456789012:role/close-recharge-scheduler"},
    "ScheduleGroupName": {"Value": "%GROUP%"},
    "ScheduleDeadLetterQueueArn": {"Value": "%DLQ%"}
  }
}`

func TestCreatesAOneTimeScheduleFromTheStack(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	sched, cfn := scheduler.NewFromConfig(cfg), cloudformation.NewFromConfig(cfg)
	ctx := context.Background()
	stack, group := awstest.UniqueName("close-recharge"), awstest.UniqueName("expiry")
	dlq, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("schedule-dlq"))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	// moto's CloudFormation does not create schedule groups: make it directly.
	if _, err := sched.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(stack),
		TemplateBody: aws.String(strings.NewReplacer("%GROUP%", group, "%DLQ%", dlqARN).Replace(stackTemplate))}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	args := []string{"-stack", stack, "-sub-mchid", "1900000109", "-out-recharge-no", "RC20261201001", "-at", "2026-12-01T10:00:00"}
	if err := run(ctx, args, &out, sched, sqs.NewFromConfig(cfg), cfn, now); err != nil {
		t.Fatal(err)
	}
	got, err := sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("close-1900000109-RC20261201001"), GroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]string
	_ = json.Unmarshal([]byte(aws.ToString(got.Target.Input)), &input)
	if aws.ToString(got.ScheduleExpression) != "at(2026-12-01T02:00:00)" || aws.ToString(got.ScheduleExpressionTimezone) != "UTC" ||
		got.ActionAfterCompletion != "DELETE" || got.FlexibleTimeWindow.Mode != "OFF" ||
		aws.ToString(got.Target.Arn) != "arn:aws:sqs:us-east-1:123456789012:close-recharge-expiry" ||
		aws.ToString(got.Target.RoleArn) != "arn:aws:iam::123456789012:role/close-recharge-scheduler" ||
		got.Target.DeadLetterConfig == nil || aws.ToString(got.Target.DeadLetterConfig.Arn) != dlqARN ||
		got.Target.RetryPolicy == nil || aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts) != 5 ||
		input["sub_mchid"] != "1900000109" || input["out_recharge_no"] != "RC20261201001" {
		t.Errorf("schedule = %+v, target %+v", got, got.Target)
	}
	if !strings.Contains(out.String(), "scheduled close-1900000109-RC20261201001") || !strings.Contains(out.String(), "2026-12-01T02:00:00Z UTC") {
		t.Errorf("output: %s", out.String())
	}
	// The same recharge again at another time moves its one schedule.
	args[len(args)-1] = "2026-12-02T10:00:00"
	if err := run(ctx, args, &out, sched, sqs.NewFromConfig(cfg), cfn, now); err != nil {
		t.Fatal(err)
	}
	if got, err := sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("close-1900000109-RC20261201001"), GroupName: aws.String(group)}); err != nil ||
		aws.ToString(got.ScheduleExpression) != "at(2026-12-02T02:00:00)" {
		t.Errorf("moved schedule: %v", err)
	}
}

func TestRefusesBadRequestsBeforeCallingAWS(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	base := []string{"-queue-arn", "arn:aws:sqs:us-east-1:123456789012:q", "-role-arn", "arn:r", "-group", "g", "-dlq-arn", "arn:d"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-sub-mchid", "19x", "-out-recharge-no", "R1", "-at", "2026-12-01T10:00:00"}, "sub_mchid"},
		{[]string{"-sub-mchid", "1900000109", "-out-recharge-no", "R/1", "-at", "2026-12-01T10:00:00"}, "out_recharge_no"},
		{[]string{"-sub-mchid", "1900000109", "-out-recharge-no", "R1", "-at", "tomorrow"}, "-at must be"},
		{[]string{"-sub-mchid", "1900000109", "-out-recharge-no", "R1", "-at", "2026-12-05T10:00:00"}, "at most 7 days"},
		{[]string{"-sub-mchid", "1900000109", "-out-recharge-no", "R1", "-at", "2026-12-01T10:00:00", "-timezone", "Mars/Olympus"}, "time zone"},
	}
	for _, tt := range tests {
		err := run(context.Background(), append(base, tt.args...), &bytes.Buffer{}, nil, nil, nil, now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	err := run(context.Background(), []string{"-sub-mchid", "1900000109", "-out-recharge-no", "R1", "-at", "2026-12-01T10:00:00"}, &bytes.Buffer{}, nil, nil, nil, now)
	if err == nil || !strings.Contains(err.Error(), "required (or -stack)") {
		t.Errorf("no target: %v", err)
	}
	// A schedule without a dead-letter queue would drop an expiry unseen: refused.
	err = run(context.Background(), append(base[:6:6], "-sub-mchid", "1900000109", "-out-recharge-no", "R1", "-at", "2026-12-01T10:00:00"), &bytes.Buffer{}, nil, nil, nil, now)
	if err == nil || !strings.Contains(err.Error(), "-dlq-arn is required") {
		t.Errorf("no dead-letter queue: %v", err)
	}
}
