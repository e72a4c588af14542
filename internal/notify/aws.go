package notify

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// DeleteScheduleAPI is the one call Scheduler makes.
type DeleteScheduleAPI interface {
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// Scheduler deletes expiry schedules in the stack's schedule group.
type Scheduler struct {
	API   DeleteScheduleAPI
	Group string
}

// Delete removes the schedule; one that is absent (never made, fired and
// deleted after completion, or deleted by an earlier delivery) is fine.
func (s *Scheduler) Delete(ctx context.Context, name string) error {
	_, err := s.API.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(s.Group)})
	var notFound *schedtypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return nil
	}
	return err
}

// DynamoDBAPI is the two calls the marks table takes.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Table attributes: the notification id (partition key) and the TTL attribute.
const (
	AttrID        = "notification_id"
	AttrExpiresAt = "expires_at"
)

// MarkTTL is how long a handled notification id is remembered. WeChat Pay
// retries a notification for about a day; three leave room for the clocks
// and for DynamoDB's lazy expiry.
const MarkTTL = 72 * time.Hour

// Table keeps handled notification ids in DynamoDB, shared by every instance.
type Table struct {
	API  DynamoDBAPI
	Name string
	Now  func() time.Time
}

// Seen reports whether id was recorded and has not expired (DynamoDB deletes
// expired items late, so the expiry is checked here too).
func (t *Table) Seen(ctx context.Context, id string) (bool, error) {
	out, err := t.API.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.Name),
		Key:            map[string]ddbtypes.AttributeValue{AttrID: &ddbtypes.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	if out.Item == nil {
		return false, nil
	}
	exp, ok := out.Item[AttrExpiresAt].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return true, nil
	}
	sec, err := strconv.ParseInt(exp.Value, 10, 64)
	return err != nil || t.Now().Unix() < sec, nil
}

// Record remembers id. An id recorded already (a concurrent delivery finished
// first) is not an error.
func (t *Table) Record(ctx context.Context, id string) error {
	_, err := t.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.Name),
		Item: map[string]ddbtypes.AttributeValue{
			AttrID:        &ddbtypes.AttributeValueMemberS{Value: id},
			AttrExpiresAt: &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(t.Now().Add(MarkTTL).Unix(), 10)},
		},
		// A mark past its TTL that DynamoDB has not deleted yet (it may take
		// days) is written over, as Seen already ignores it.
		ConditionExpression: aws.String("attribute_not_exists(" + AttrID + ") OR " + AttrExpiresAt + " < :now"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":now": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(t.Now().Unix(), 10)},
		},
	})
	var exists *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}
