// Command schedule sets a recharge's expiry from the command line, as the
// expiry function does for an API call or an event: the one-time EventBridge
// Scheduler schedule that puts the recharge on the stack's expiry queue at AT
// in TIMEZONE, in the stack's group, run with the stack's Scheduler role,
// deleted after it runs, retried for an hour and then handed to the stack's
// schedule dead-letter queue, so that no expiry is dropped unseen. The same
// request again changes nothing, a new time moves the schedule, and a time
// already past puts the recharge on the queue at once.
//
//	go run ./internal/cmd/schedule -stack close-recharge -sub-mchid 1900000109 \
//	    -out-recharge-no RC20261201001 -at 2026-12-01T10:00:00 [-timezone Asia/Shanghai]
//
// Without -stack, give -queue-arn, -role-arn, -group and -dlq-arn (the stack's Outputs).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"close-recharge/internal/expiry"
	"close-recharge/internal/queue"
	"close-recharge/internal/recharge"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func main() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err == nil {
		err = run(ctx, os.Args[1:], os.Stdout, scheduler.NewFromConfig(cfg), sqs.NewFromConfig(cfg), cloudformation.NewFromConfig(cfg), time.Now())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedule:", err)
		os.Exit(1)
	}
}

type stacksAPI interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// atLayout is Scheduler's at() format: local time in the schedule's time zone.
const atLayout = "2006-01-02T15:04:05"

func run(ctx context.Context, args []string, out io.Writer, sched expiry.Scheduler, q expiry.Queue, stacks stacksAPI, now time.Time) error {
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
	queueURL, err := queue.URL(*queueARN)
	if err != nil {
		return fmt.Errorf("-queue-arn: %w", err)
	}
	svc := expiry.New(sched, q, expiry.Stack{Group: *group, RoleARN: *roleARN, QueueARN: *queueARN, QueueURL: queueURL, DeadLetterARN: *dlqARN},
		func() time.Time { return now })
	res, err := svc.Set(ctx, expiry.Request{SubMchid: *subMchid, OutRechargeNo: *outRechargeNo, ExpireTime: when.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s in group %s: close %s of %s at %s %s (%s UTC)\n", res.State, res.ScheduleName, *group,
		*outRechargeNo, *subMchid, *at, *timezone, when.UTC().Format(time.RFC3339))
	return nil
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
