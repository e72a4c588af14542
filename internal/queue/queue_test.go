package queue_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/queue"
)

func TestURL(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sqs:ap-east-1:123456789012:close-recharge-expiry": "https://sqs.ap-east-1.amazonaws.com/123456789012/close-recharge-expiry",
		"arn:aws-cn:sqs:cn-north-1:123456789012:q":                 "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
		"arn:aws:sqs:us-east-1:123456789012:q.fifo":                "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo",
		"arn:aws:sns:us-east-1:123456789012:topic":                 "",
		"arn:aws:sqs:us-east-1:123456789012":                       "",
		"https://sqs.us-east-1.amazonaws.com/123456789012/q":       "",
		"arn:aws:sqs::123456789012:q":                              "",
	} {
		got, err := queue.URL(arn)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("URL(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
}

// Against moto's SQS: a received message made visible again after 1 s is
// received again after that, not after the queue's 60 s.
func TestRetrySoonShortensTheVisibility(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	api := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	name := awstest.UniqueName("expiry")
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(60)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	first, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	if err != nil || len(first.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(first.Messages))
	}
	arn := "arn:aws:sqs:" + awstest.Region + ":" + awstest.AccountID + ":" + name
	v := &queue.Visibility{API: api}
	if err := v.RetrySoon(ctx, arn, aws.ToString(first.Messages[0].ReceiptHandle), 900*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		again, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Messages) == 1 {
			return
		}
	}
	t.Fatal("the message did not come back within 10 s of a 1 s visibility")
}
