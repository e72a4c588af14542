package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/simulator"
)

// The burst path's batch under the emulator, with its messages received from
// moto's SQS: closed, already-closed, paid, refused, transient and invalid
// records. The answer lists exactly the transient and invalid ones; the
// settled ones are published; nothing invalid reaches WeChat Pay; the
// transient and the invalid ones are back on the queue within seconds, not
// after its 60 s; and the invalid ones go on, through the redrive policy, to
// the dead-letter queue while the transient one closes on its next try.
func TestSQSBatchUnderTheEmulator(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	q := sqs.NewFromConfig(s.aws)
	name := awstest.UniqueName("expiry")
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:%s-dlq","maxReceiveCount":"2"}`, awstest.Region, awstest.AccountID, name)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(60),
			string(sqstypes.QueueAttributeNameRedrivePolicy): redrive}})
	if err != nil {
		t.Fatal(err)
	}
	queueURL, arn := created.QueueUrl, fmt.Sprintf("arn:aws:sqs:%s:%s:%s", awstest.Region, awstest.AccountID, name)
	s.seed(t, "Q1", "RECHARGING")
	s.seed(t, "Q2", "CLOSED")
	s.seed(t, "Q3", "SUCCESS")
	s.seed(t, "Q5", "RECHARGING")
	s.sim.Inject(simulator.Fault{Kind: simulator.FaultStatus, OutRechargeNo: "Q5", Status: 503, Code: "SERVICE_UNAVAILABLE", Times: 100})
	bodies := map[string]string{
		"Q1": direct("Q1"), "Q2": envelope("Q2"), "Q3": scheduler("Q3"), "Q4": direct("Q4"), "Q5": direct("Q5"),
		"BAD1": `{"sub_mchid":"1900000109","out_recharge_no":"../Q6"}`, "BAD2": httpAPI("Q7"),
	}
	byBody := map[string]string{} // body → label
	for label, body := range bodies {
		byBody[body] = label
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var batch events.SQSEvent
	label := map[string]string{} // message id → label
	for deadline := time.Now().Add(10 * time.Second); len(batch.Records) < len(bodies) && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queueURL, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			label[id] = byBody[aws.ToString(m.Body)]
			batch.Records = append(batch.Records, events.SQSMessage{MessageId: id, ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: awstest.Region})
		}
	}
	if len(batch.Records) != len(bodies) {
		t.Fatalf("received %d of %d messages", len(batch.Records), len(bodies))
	}
	payload, _ := json.Marshal(batch)

	em := start(t, s.env())
	resp := invoke(t, em, string(payload))
	var answer events.SQSEventResponse
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &answer) != nil {
		t.Fatalf("answer %s %s", resp.ErrorType, resp.Body)
	}
	deleteSettled(t, q, queueURL, batch, answer)
	var kept []string
	for _, f := range answer.BatchItemFailures {
		kept = append(kept, label[f.ItemIdentifier])
	}
	sort.Strings(kept)
	if !slices.Equal(kept, []string{"BAD1", "BAD2", "Q5"}) {
		t.Errorf("kept %v, want the transient Q5 and the invalid BAD1, BAD2", kept)
	}

	published, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range published {
		got[e.OutRechargeNo()] = e.DetailType
	}
	want := map[string]string{"Q1": "Recharge Closed", "Q2": "Recharge Closed", "Q3": "Recharge Close Rejected", "Q4": "Recharge Close Failed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published %v, want %v", got, want)
	}
	if n := s.proxy.Calls("AWSEvents.PutEvents"); n != 1 {
		t.Errorf("%d PutEvents calls for 4 outcomes, want 1", n)
	}
	for _, no := range []string{"Q6", "Q7"} {
		if _, ok := s.sim.Recharge(sub, no); ok {
			t.Errorf("%s reached WeChat Pay", no)
		}
	}
	if n := s.sim.Calls("close"); n > 4+4 {
		t.Errorf("%d closes for 5 valid records, of which the 503 one may take 4", n)
	}

	// The transient and the invalid records come back within seconds.
	again := receiveFor(t, q, queueURL, 15*time.Second, 3)
	var back []string
	batch = events.SQSEvent{}
	for _, m := range again {
		back = append(back, byBody[aws.ToString(m.Body)])
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: awstest.Region})
	}
	sort.Strings(back)
	if !slices.Equal(back, []string{"BAD1", "BAD2", "Q5"}) {
		t.Fatalf("back on the queue within 15 s: %v, want Q5, BAD1 and BAD2", back)
	}

	// WeChat Pay has recovered: Q5 closes; the invalid ones, on their second
	// receive of two, go to the dead-letter queue at the next receive.
	s.sim.ClearFaults()
	payload, _ = json.Marshal(batch)
	resp = invoke(t, em, string(payload))
	answer = events.SQSEventResponse{}
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &answer) != nil || len(answer.BatchItemFailures) != 2 {
		t.Fatalf("second answer %s %s, want the two invalid records kept", resp.ErrorType, resp.Body)
	}
	deleteSettled(t, q, queueURL, batch, answer)
	if rc, _ := s.sim.Recharge(sub, "Q5"); rc.RechargeState != "CLOSED" {
		t.Errorf("Q5 is %s after its second try", rc.RechargeState)
	}
	if left := receiveFor(t, q, queueURL, 4*time.Second, 1); len(left) != 0 {
		t.Errorf("%d records still on the expiry queue", len(left))
	}
	var dead []string
	for _, m := range receiveFor(t, q, dlq.QueueUrl, 5*time.Second, 2) {
		dead = append(dead, byBody[aws.ToString(m.Body)])
	}
	sort.Strings(dead)
	if !slices.Equal(dead, []string{"BAD1", "BAD2"}) {
		t.Errorf("dead-letter queue holds %v, want BAD1 and BAD2", dead)
	}
}

// receiveFor receives from the queue until want messages came or d passed.
func receiveFor(t *testing.T, q *sqs.Client, url *string, d time.Duration, want int) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	for deadline := time.Now().Add(d); len(got) < want && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Messages...)
	}
	return got
}

// deleteSettled deletes the records the answer does not list, as the event
// source mapping does.
func deleteSettled(t *testing.T, q *sqs.Client, url *string, batch events.SQSEvent, answer events.SQSEventResponse) {
	t.Helper()
	if err := awstest.DeleteSettled(context.Background(), q, aws.ToString(url), batch, answer); err != nil {
		t.Fatal(err)
	}
}
