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

// Against moto's SQS: twelve copies (over two calls of ten) arrive as new
// messages with their bodies, received for the first time; a queue ARN that
// is not one fails every copy.
func TestResendLaterSendsNewMessages(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	api := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	name := awstest.UniqueName("expiry")
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	bodies, after := map[string]string{}, map[string]time.Duration{}
	for i := range n {
		id := "m" + strconv.Itoa(i)
		bodies[id], after[id] = `{"out_recharge_no":"R`+strconv.Itoa(i)+`"}`, 500*time.Millisecond
	}
	arn := "arn:aws:sqs:" + awstest.Region + ":" + awstest.AccountID + ":" + name
	if failed := (&queue.Copies{API: api}).ResendLater(ctx, arn, bodies, after); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	got := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < n && time.Now().Before(deadline); {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if c := m.Attributes["ApproximateReceiveCount"]; c != "1" {
				t.Errorf("a copy's first receive counts %s", c)
			}
			got[aws.ToString(m.Body)] = true
		}
	}
	for _, b := range bodies {
		if !got[b] {
			t.Errorf("copy %s not received", b)
		}
	}
	if failed := (&queue.Copies{API: api}).ResendLater(ctx, "not-an-arn", bodies, after); len(failed) != n {
		t.Errorf("%d of %d copies failed for a bad queue ARN", len(failed), n)
	}
}
