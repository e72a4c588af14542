package queue_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
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

// Against moto's SQS: received messages made visible again after 1 s are
// received again after that, not after the queue's 60 s — twelve of them, so
// over two calls of ten — and a receipt handle SQS does not know is named
// among the failures without holding the others back.
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
	const n = 12
	for i := range n {
		if _, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(within time.Duration) map[string]string { // body → receipt handle
		got := map[string]string{}
		for deadline := time.Now().Add(within); len(got) < n && time.Now().Before(deadline); {
			out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Messages {
				got[aws.ToString(m.Body)] = aws.ToString(m.ReceiptHandle)
			}
		}
		return got
	}
	first := receive(5 * time.Second)
	if len(first) != n {
		t.Fatalf("received %d of %d messages", len(first), n)
	}
	after := map[string]time.Duration{"not-a-receipt-handle": time.Second}
	for _, h := range first {
		after[h] = 900 * time.Millisecond
	}
	arn := "arn:aws:sqs:" + awstest.Region + ":" + awstest.AccountID + ":" + name
	failed := (&queue.Visibility{API: api}).RetrySoon(ctx, arn, after)
	if len(failed) != 1 || failed["not-a-receipt-handle"] == nil {
		t.Fatalf("failed %v, want only the unknown receipt handle", failed)
	}
	if again := receive(10 * time.Second); len(again) != n {
		t.Fatalf("%d of %d messages came back within 10 s of a 1 s visibility", len(again), n)
	}
}

// overlapping answers every call, after waiting up to a second for another
// to join it, and records how many were in flight at once.
type overlapping struct {
	mu             sync.Mutex
	inFlight, peak int
	entries        int
}

func (o *overlapping) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if len(in.Entries) > 10 {
		// SQS takes ten entries a call at most.
		return nil, errors.New("AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
	}
	o.mu.Lock()
	o.inFlight++
	o.peak = max(o.peak, o.inFlight)
	o.entries += len(in.Entries)
	o.mu.Unlock()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		o.mu.Lock()
		peak := o.peak
		o.mu.Unlock()
		if peak > 1 {
			break
		}
	}
	o.mu.Lock()
	o.inFlight--
	o.mu.Unlock()
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

// A large batch's records come back in calls of ten side by side, not one
// call's time after another.
func TestRetrySoonCallsGoSideBySide(t *testing.T) {
	api := &overlapping{}
	after := map[string]time.Duration{}
	for i := range 35 {
		after[strconv.Itoa(i)] = time.Second
	}
	failed := (&queue.Visibility{API: api}).RetrySoon(context.Background(), "arn:aws:sqs:us-east-1:123456789012:q", after)
	if len(failed) != 0 || api.entries != 35 {
		t.Fatalf("failed %v, %d entries sent; want all 35 brought back", failed, api.entries)
	}
	if api.peak < 2 {
		t.Errorf("at most %d call in flight at once, want the calls side by side", api.peak)
	}
}
