package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// PutSecret creates the secret name, or gives it a new value, and returns its ARN.
func PutSecret(cfg aws.Config, name string, value any) (string, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	ctx, cancel := Ctx()
	defer cancel()
	sm := secretsmanager.NewFromConfig(cfg)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))})
	if err == nil {
		return aws.ToString(out.ARN), nil
	}
	put, perr := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(b))})
	if perr != nil {
		return "", fmt.Errorf("create secret: %v; put value: %w", err, perr)
	}
	return aws.ToString(put.ARN), nil
}

// Bus is an EventBridge bus whose every event is copied to an SQS queue, so a
// test can read back what was published.
type Bus struct {
	Name     string
	QueueURL string
	cfg      aws.Config
}

// CreateBus creates an EventBridge bus with no rules and returns its name.
func CreateBus(cfg aws.Config) (string, error) {
	ctx, cancel := Ctx()
	defer cancel()
	name := UniqueName("results")
	_, err := eventbridge.NewFromConfig(cfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)})
	return name, err
}

// NewBus creates a bus, a queue, and a rule routing the bus to the queue.
func NewBus(cfg aws.Config) (*Bus, error) {
	name, err := CreateBus(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := Ctx()
	defer cancel()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("all"), EventBusName: aws.String(name),
		EventPattern: aws.String(`{"account":["` + AccountID + `"]}`)}); err != nil {
		return nil, err
	}
	arn := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, AccountID, name)
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("all"), EventBusName: aws.String(name),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(arn)}}}); err != nil {
		return nil, err
	}
	return &Bus{Name: name, QueueURL: aws.ToString(queue.QueueUrl), cfg: cfg}, nil
}

// Event is one published event as the queue received it.
type Event struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// OutRechargeNo is the recharge the event's detail names (a recharge or a
// failure result both carry it).
func (e Event) OutRechargeNo() string {
	var d struct {
		No string `json:"out_recharge_no"`
	}
	_ = json.Unmarshal(e.Detail, &d)
	return d.No
}

// sentinelSource marks the event Drain puts on the bus to know it has read
// everything published before it.
const sentinelSource = "awstest.sentinel"

// Drain returns every event published on the bus so far. Rather than trust
// a quiet spell, it publishes a sentinel event last and reads until the
// sentinel arrives: what was published before it has arrived too (moto
// delivers a bus's events to the queue in order, within PutEvents).
func (b *Bus) Drain() ([]Event, error) {
	id := UniqueName("sentinel")
	ctx, cancel := Ctx()
	out, err := eventbridge.NewFromConfig(b.cfg).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(b.Name), Source: aws.String(sentinelSource), DetailType: aws.String("Drain Sentinel"),
		Detail: aws.String(`{"id":"` + id + `"}`),
	}}})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("publish the drain sentinel: %w", err)
	}
	if out.FailedEntryCount > 0 {
		return nil, fmt.Errorf("the drain sentinel was not taken")
	}
	q := sqs.NewFromConfig(b.cfg)
	var events []Event
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := Ctx()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		cancel()
		if err != nil {
			return events, err
		}
		found := false
		for _, m := range out.Messages {
			var e Event
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
				return events, fmt.Errorf("queue message is not an event: %w", err)
			}
			ctx, cancel := Ctx()
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.QueueURL), ReceiptHandle: m.ReceiptHandle})
			cancel()
			if e.Source == sentinelSource {
				found = found || strings.Contains(string(e.Detail), id)
				continue
			}
			events = append(events, e)
		}
		if found {
			return events, nil
		}
	}
	return events, fmt.Errorf("the drain sentinel did not arrive within 30 s")
}

// DeleteSettled deletes the records of batch that answer does not list as
// failures, as the event source mapping does after an invocation.
func DeleteSettled(ctx context.Context, q *sqs.Client, queueURL string, batch events.SQSEvent, answer events.SQSEventResponse) error {
	kept := map[string]bool{}
	for _, f := range answer.BatchItemFailures {
		kept[f.ItemIdentifier] = true
	}
	for _, r := range batch.Records {
		if kept[r.MessageId] {
			continue
		}
		if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(r.ReceiptHandle)}); err != nil {
			return err
		}
	}
	return nil
}
