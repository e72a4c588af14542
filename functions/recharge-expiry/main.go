// Command recharge-expiry is the Lambda function (bootstrap) that takes expiry
// requests — "close this recharge at T unless it is paid" — and keeps them as
// EventBridge Scheduler schedules targeting the expiry queue. It holds no
// WeChat Pay key and cannot close anything. It only wires: read the
// environment, build the dependencies once per instance, and start the handler.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"close-recharge/internal/awscreds"
	"close-recharge/internal/expiry"
	"close-recharge/internal/logging"
	"close-recharge/internal/queue"
)

func main() {
	h, err := build(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recharge-expiry: init:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

func build(ctx context.Context, getenv func(string) string, stdout io.Writer) (*expiry.Handler, error) {
	stack := expiry.Stack{
		Group:         getenv("SCHEDULE_GROUP"),
		RoleARN:       getenv("SCHEDULER_ROLE_ARN"),
		QueueARN:      getenv("EXPIRY_QUEUE_ARN"),
		QueueURL:      getenv("EXPIRY_QUEUE_URL"),
		DeadLetterARN: getenv("SCHEDULE_DLQ_ARN"),
	}
	for _, v := range []struct{ name, value string }{
		{"SCHEDULE_GROUP", stack.Group}, {"SCHEDULER_ROLE_ARN", stack.RoleARN},
		{"EXPIRY_QUEUE_ARN", stack.QueueARN}, {"SCHEDULE_DLQ_ARN", stack.DeadLetterARN},
	} {
		if v.value == "" {
			return nil, fmt.Errorf("%s: required", v.name)
		}
	}
	if stack.QueueURL == "" {
		u, err := queue.URL(stack.QueueARN)
		if err != nil {
			return nil, fmt.Errorf("EXPIRY_QUEUE_ARN: %w", err)
		}
		stack.QueueURL = u
	}
	var level slog.Level
	switch strings.ToLower(getenv("LOG_LEVEL")) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	cfg.Credentials = awscreds.Checked(cfg.Credentials)
	svc := expiry.New(scheduler.NewFromConfig(cfg), sqs.NewFromConfig(cfg), stack, nil)
	return expiry.NewHandler(svc, logging.New(stdout, level)), nil
}
