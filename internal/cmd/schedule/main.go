// Command schedule creates the one-time EventBridge Scheduler schedule that
// closes a recharge at its expiry: at(AT) in TIMEZONE, deleted after it runs,
// putting the expiry on the stack's expiry queue with the stack's execution
// role, retried for an hour and then handed to the stack's schedule
// dead-letter queue, so that no expiry is dropped unseen.
//
//	go run ./internal/cmd/schedule -stack close-recharge -sub-mchid 1900000109 \
//	    -out-recharge-no RC20261201001 -at 2026-12-01T10:00:00 [-timezone Asia/Shanghai]
//
// Without -stack, give -queue-arn, -role-arn, -group and -dlq-arn (the stack's Outputs).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"close-recharge/internal/recharge"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

func main() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err == nil {
		err = run(ctx, os.Args[1:], os.Stdout, scheduler.NewFromConfig(cfg), cloudformation.NewFromConfig(cfg), time.Now())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedule:", err)
		os.Exit(1)
	}
}

type schedulerAPI interface {
	CreateSchedule(context.Context, *scheduler.CreateScheduleInput, ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
}

type stacksAPI interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// atLayout is Scheduler's at() format: local time in the schedule's time zone.
const atLayout = "2006-01-02T15:04:05"

func run(ctx context.Context, args []string, out io.Writer, sched schedulerAPI, stacks stacksAPI, now time.Time) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	subMchid := fs.String("sub-mchid", "", "secondary merchant number (required)")
	outRechargeNo := fs.String("out-recharge-no", "", "the platform's recharge number (required)")
	at := fs.String("at", "", "when to close, "+atLayout+" in -timezone (required)")
	timezone := fs.String("timezone", "Asia/Shanghai", "IANA time zone of -at")
	stack := fs.String("stack", "", "the deployed stack, to read ExpiryQueueArn, SchedulerRoleArn, ScheduleGroupName and ScheduleDeadLetterQueueArn from its Outputs")
	queueARN := fs.String("queue-arn", "", "the expiry queue (stack Output ExpiryQueueArn)")
	roleARN := fs.String("role-arn", "", "the schedules' execution role (stack Output SchedulerRoleArn)")
	group := fs.String("group", "", "the schedule group (stack Output ScheduleGroupName)")
	dlqARN := fs.String("dlq-arn", "", "the schedules' dead-letter queue (stack Output ScheduleDeadLetterQueueArn)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := recharge.ValidateSubMchid(*subMchid); err != nil {
		return err
	}
	if err := recharge.ValidateOutRechargeNo(*outRechargeNo); err != nil {
		return err
	}
	loc, err := time.LoadLocation(*timezone)
	if err != nil {
		return fmt.Errorf("-timezone %q is not an IANA time zone", *timezone)
	}
	when, err := time.ParseInLocation(atLayout, *at, loc)
	if err != nil {
		return fmt.Errorf("-at must be %s, such as 2026-12-01T10:00:00", atLayout)
	}
	if !when.After(now) {
		return fmt.Errorf("-at %s %s is not in the future", *at, *timezone)
	}
	if *stack != "" {
		if err := fromStack(ctx, stacks, *stack, map[string]*string{
			"ExpiryQueueArn": queueARN, "SchedulerRoleArn": roleARN, "ScheduleGroupName": group, "ScheduleDeadLetterQueueArn": dlqARN,
		}); err != nil {
			return err
		}
	}
	for flagName, v := range map[string]string{"-queue-arn": *queueARN, "-role-arn": *roleARN, "-group": *group, "-dlq-arn": *dlqARN} {
		if v == "" {
			return fmt.Errorf("%s is required (or -stack)", flagName)
		}
	}

	input, _ := json.Marshal(map[string]string{"sub_mchid": *subMchid, "out_recharge_no": *outRechargeNo})
	name := scheduleName(*subMchid, *outRechargeNo)
	res, err := sched.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(name),
		GroupName:                  aws.String(*group),
		ScheduleExpression:         aws.String("at(" + when.Format(atLayout) + ")"),
		ScheduleExpressionTimezone: aws.String(*timezone),
		FlexibleTimeWindow:         &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      schedtypes.ActionAfterCompletionDelete,
		Description:                aws.String("close recharge " + *outRechargeNo + " of " + *subMchid),
		Target: &schedtypes.Target{
			Arn:     aws.String(*queueARN),
			RoleArn: aws.String(*roleARN),
			Input:   aws.String(string(input)),
			// Delivery retries, then the dead-letter queue; once on the expiry queue, the queue's
			// redrive policy keeps what the function cannot close.
			RetryPolicy:      &schedtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(5), MaximumEventAgeInSeconds: aws.Int32(3600)},
			DeadLetterConfig: &schedtypes.DeadLetterConfig{Arn: aws.String(*dlqARN)},
		},
	})
	if err != nil {
		var conflict *schedtypes.ConflictException
		if errors.As(err, &conflict) {
			return fmt.Errorf("a schedule %s already exists in group %s: the recharge is scheduled already", name, *group)
		}
		return fmt.Errorf("create schedule: %w", err)
	}
	fmt.Fprintf(out, "scheduled %s: close %s of %s at %s %s (%s UTC), deleted after it runs\n",
		aws.ToString(res.ScheduleArn), *outRechargeNo, *subMchid, *at, *timezone, when.UTC().Format(time.RFC3339))
	return nil
}

// scheduleName is unique per recharge and within Scheduler's 64 characters.
func scheduleName(subMchid, outRechargeNo string) string {
	name := "close-" + subMchid + "-" + outRechargeNo
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(subMchid + "/" + outRechargeNo))
	return "close-" + hex.EncodeToString(sum[:])[:58]
}

// fromStack fills each still-empty target from the stack Output of its name.
func fromStack(ctx context.Context, api stacksAPI, stack string, targets map[string]*string) error {
	res, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(res.Stacks) != 1 {
		return fmt.Errorf("stack %s not found", stack)
	}
	for _, o := range res.Stacks[0].Outputs {
		if t, ok := targets[aws.ToString(o.OutputKey)]; ok && *t == "" {
			*t = aws.ToString(o.OutputValue)
		}
	}
	return nil
}
