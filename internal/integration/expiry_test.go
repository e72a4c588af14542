package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
)

// The whole expiry path through both built bootstraps: a PUT on the HTTP API
// and a "Recharge Expiry Requested" event make schedules in moto's Scheduler,
// each targeting the expiry queue with the Scheduler role and the dead-letter
// queue; each schedule firing (its Input sent to the queue, as Scheduler does)
// then reaches the close function, which closes the recharge at the simulator
// and publishes Recharge Closed.
func TestExpiryRequestsAreClosedThroughTheirSchedules(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../../functions/recharge-expiry")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the expiry bootstrap: %v\n%s", err, out)
	}
	sched, q := awsscheduler.NewFromConfig(s.aws), sqs.NewFromConfig(s.aws)
	group := awstest.UniqueName("expiry")
	if _, err := sched.CreateScheduleGroup(ctx, &awsscheduler.CreateScheduleGroupInput{Name: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	newQueue := func(name string) (string, string) {
		created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(created.QueueUrl), fmt.Sprintf("arn:aws:sqs:%s:%s:%s", awstest.Region, awstest.AccountID, name)
	}
	queueURL, queueARN := newQueue(awstest.UniqueName("expiry"))
	_, dlqARN := newQueue(awstest.UniqueName("schedule-dlq"))
	role := "arn:aws:iam::123456789012:role/close-recharge-scheduler"
	env := append(awstest.Env(motoEndpoint), "SCHEDULE_GROUP="+group, "SCHEDULER_ROLE_ARN="+role,
		"EXPIRY_QUEUE_ARN="+queueARN, "EXPIRY_QUEUE_URL="+queueURL, "SCHEDULE_DLQ_ARN="+dlqARN)

	expireAt := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	at := expireAt.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
	s.seed(t, "EXPAPI1", "RECHARGING")
	s.seed(t, "EXPEVT1", "RECHARGING")
	put := fmt.Sprintf(`{"version":"2.0","routeKey":"PUT /recharges/{out_recharge_no}/expiry","rawPath":"/recharges/EXPAPI1/expiry",`+
		`"queryStringParameters":{"sub_mchid":%q},"pathParameters":{"out_recharge_no":"EXPAPI1"},"body":%q,`+
		`"requestContext":{"requestId":"req-exp","http":{"method":"PUT"}},"isBase64Encoded":false}`, sub, `{"expire_time":"`+at+`"}`)
	event := fmt.Sprintf(`{"version":"0","id":"e-exp","detail-type":"Recharge Expiry Requested","source":"platform.recharges",`+
		`"account":"123456789012","detail":{"sub_mchid":%q,"out_recharge_no":"EXPEVT1","expire_time":%q}}`, sub, at)

	em := startBootstrap(t, bin, env, 30*time.Second)
	if a := reduce(t, invoke(t, em, put)); a.status != 200 {
		t.Fatalf("PUT: %+v", a)
	}
	resp := invoke(t, em, event)
	var res map[string]string
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &res) != nil || res["state"] != "scheduled" {
		t.Fatalf("event: %s %s", resp.ErrorType, resp.Body)
	}
	em.Stop() // the emulator runs one function at a time

	var batch events.SQSEvent
	for _, no := range []string{"EXPAPI1", "EXPEVT1"} {
		got, err := sched.GetSchedule(ctx, &awsscheduler.GetScheduleInput{Name: aws.String("close-" + sub + "-" + no), GroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("%s: %v", no, err)
		}
		if want := "at(" + expireAt.UTC().Format("2006-01-02T15:04:05") + ")"; aws.ToString(got.ScheduleExpression) != want ||
			aws.ToString(got.Target.Arn) != queueARN || aws.ToString(got.Target.RoleArn) != role ||
			got.Target.DeadLetterConfig == nil || aws.ToString(got.Target.DeadLetterConfig.Arn) != dlqARN ||
			got.ActionAfterCompletion != "DELETE" || got.FlexibleTimeWindow.Mode != "OFF" {
			t.Errorf("%s: schedule %s, target %+v, want %s", no, aws.ToString(got.ScheduleExpression), got.Target, want)
		}
		// The schedule fires: Scheduler sends its Input to the queue.
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: got.Target.Input}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(batch.Records) < 2 && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: awstest.Region, Attributes: m.Attributes})
		}
	}
	if len(batch.Records) != 2 {
		t.Fatalf("received %d of 2 expiries", len(batch.Records))
	}
	payload, _ := json.Marshal(batch)
	closeFn := start(t, s.env())
	resp = invoke(t, closeFn, string(payload))
	var answer events.SQSEventResponse
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &answer) != nil || len(answer.BatchItemFailures) != 0 {
		t.Fatalf("close: %s %s", resp.ErrorType, resp.Body)
	}
	published, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range published {
		got[e.OutRechargeNo()] = e.DetailType
	}
	if want := map[string]string{"EXPAPI1": "Recharge Closed", "EXPEVT1": "Recharge Closed"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published %v, want %v", got, want)
	}
}
