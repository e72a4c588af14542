package awstest

import (
	"encoding/json"
	"fmt"
	"time"

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

// Drain reads every event the queue holds, waiting up to wait for late ones
// once it finds the queue empty.
func (b *Bus) Drain(wait time.Duration) ([]Event, error) {
	q := sqs.NewFromConfig(b.cfg)
	var events []Event
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := Ctx()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.QueueURL), MaxNumberOfMessages: 10})
		cancel()
		if err != nil {
			return events, err
		}
		for _, m := range out.Messages {
			var e Event
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
				return events, fmt.Errorf("queue message is not an event: %w", err)
			}
			events = append(events, e)
			ctx, cancel := Ctx()
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.QueueURL), ReceiptHandle: m.ReceiptHandle})
			cancel()
		}
		if len(out.Messages) == 0 {
			if time.Now().After(deadline) {
				return events, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
