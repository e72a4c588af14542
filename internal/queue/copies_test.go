package queue_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/queue"
	"close-recharge/internal/trigger"
)

// Against moto's SQS: twelve copies (over two calls of ten) arrive as new
// messages with their bodies, received for the first time, carrying when the
// original was sent and what the expiry went through before them, as the
// function reads them back from the event source mapping's records; a queue
// ARN that is not one fails every copy.
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
	records, after := map[string]trigger.Copy{}, map[string]time.Duration{}
	// The originals were sent an hour ago (the last one's time not known).
	sent := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range n {
		id := "m" + strconv.Itoa(i)
		records[id], after[id] = trigger.Copy{Record: trigger.Record{MessageID: id, Body: `{"out_recharge_no":"R` + strconv.Itoa(i) + `"}`, SentAt: sent},
			Carried: trigger.Carried{Receives: i, Copies: i % 3, FirstError: []string{"", "SYSTEM_ERROR"}[i%2]}}, 500*time.Millisecond
	}
	records["m11"] = trigger.Copy{Record: trigger.Record{MessageID: "m11", Body: records["m11"].Record.Body}, Carried: records["m11"].Carried}
	arn := "arn:aws:sqs:" + awstest.Region + ":" + awstest.AccountID + ":" + name
	if failed := (&queue.Copies{API: api}).ResendLater(ctx, arn, records, after); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	got, carried := map[string]trigger.Record{}, map[string]trigger.Carried{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < n && time.Now().Before(deadline); {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if c := m.Attributes["ApproximateReceiveCount"]; c != "1" {
				t.Errorf("a copy's first receive counts %s", c)
			}
			rec, c := asLambdaDelivers(t, m, arn)
			got[rec.Body], carried[rec.Body] = rec, c
		}
	}
	for _, cp := range records {
		r := cp.Record
		rec, ok := got[r.Body]
		if c := carried[r.Body]; ok && c != cp.Carried {
			t.Errorf("copy %s carries %+v, want %+v", r.Body, c, cp.Carried)
		}
		switch {
		case !ok:
			t.Errorf("copy %s not received", r.Body)
		case r.SentAt.IsZero() && time.Since(rec.SentAt) > time.Minute:
			t.Errorf("copy %s of an original sent at an unknown time says it was sent at %v", r.Body, rec.SentAt)
		case !r.SentAt.IsZero() && !rec.SentAt.Equal(r.SentAt):
			t.Errorf("copy %s says it was first sent at %v, want its original's %v", r.Body, rec.SentAt, r.SentAt)
		}
	}
	if failed := (&queue.Copies{API: api}).ResendLater(ctx, "not-an-arn", records, after); len(failed) != n {
		t.Errorf("%d of %d copies failed for a bad queue ARN", len(failed), n)
	}
}

// asLambdaDelivers hands m to the function's decoders in the shape the event
// source mapping gives it (camelCase attribute values), and returns its
// record and what it carries.
func asLambdaDelivers(t *testing.T, m sqstypes.Message, arn string) (trigger.Record, trigger.Carried) {
	t.Helper()
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	payload, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(m.MessageId),
		ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes,
		MessageAttributes: attrs, EventSource: "aws:sqs", EventSourceARN: arn}}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := trigger.Decode(payload)
	if err != nil || len(req.Records) != 1 {
		t.Fatalf("decode %s: %v", payload, err)
	}
	return req.Records[0], trigger.CarriedIn(payload)[req.Records[0].MessageID]
}

// A sender may forge what a copy carries: counts are bounded, and a first
// error that is not an error code is dropped rather than published.
func TestForgedCarriedAttributesAreBounded(t *testing.T) {
	huge := `SYSTEM_ERROR\",\"injected\":\"` + strings.Repeat("A", 300<<10)
	event := `{"Records":[{"messageId":"m1","messageAttributes":{` +
		`"` + trigger.ReceivesAttribute + `":{"stringValue":"1000015","dataType":"Number"},` +
		`"` + trigger.CopiesAttribute + `":{"stringValue":"99999","dataType":"Number"},` +
		`"` + trigger.FirstErrorAttribute + `":{"stringValue":"` + huge + `","dataType":"String"}}},` +
		`{"messageId":"m2","messageAttributes":{"` + trigger.FirstErrorAttribute + `":{"stringValue":"RATELIMIT_EXCEEDED","dataType":"String"}}}]}`
	got := trigger.CarriedIn([]byte(event))
	if c := got["m1"]; c.Receives != trigger.MaxCarried || c.Copies != trigger.MaxCarried || c.FirstError != "" {
		t.Errorf("forged attributes carried as %+v", c)
	}
	if c := got["m2"]; c.FirstError != "RATELIMIT_EXCEEDED" {
		t.Errorf("a genuine first error carried as %+v", c)
	}
}
