package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"close-recharge/internal/notify"
)

type deleteAPI struct {
	in  *scheduler.DeleteScheduleInput
	err error
}

func (d *deleteAPI) DeleteSchedule(_ context.Context, in *scheduler.DeleteScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	d.in = in
	return &scheduler.DeleteScheduleOutput{}, d.err
}

func TestSchedulerDeletesInItsGroupAndTakesAbsentAsDone(t *testing.T) {
	api := &deleteAPI{err: &schedtypes.ResourceNotFoundException{Message: aws.String("not found")}}
	s := &notify.Scheduler{API: api, Group: "close-recharge-expiries"}
	if err := s.Delete(context.Background(), "close-1-RC1"); err != nil {
		t.Fatalf("an absent schedule: %v, want done", err)
	}
	if aws.ToString(api.in.GroupName) != "close-recharge-expiries" || aws.ToString(api.in.Name) != "close-1-RC1" {
		t.Fatalf("deleted %s in %s", aws.ToString(api.in.Name), aws.ToString(api.in.GroupName))
	}
	api.err = errors.New("throttled")
	if err := s.Delete(context.Background(), "close-1-RC1"); err == nil {
		t.Fatal("a failed delete reported done")
	}
}

// table is DynamoDB's GetItem/PutItem on one table, conditional puts included.
type table struct {
	items map[string]map[string]ddbtypes.AttributeValue
}

func (tb *table) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	id := in.Key[notify.AttrID].(*ddbtypes.AttributeValueMemberS).Value
	return &dynamodb.GetItemOutput{Item: tb.items[id]}, nil
}

func (tb *table) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	id := in.Item[notify.AttrID].(*ddbtypes.AttributeValueMemberS).Value
	if _, ok := tb.items[id]; ok && in.ConditionExpression != nil {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("exists")}
	}
	tb.items[id] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func TestTableRemembersIDsForThreeDays(t *testing.T) {
	clock := now
	tb := &notify.Table{API: &table{items: map[string]map[string]ddbtypes.AttributeValue{}}, Name: "marks", Now: func() time.Time { return clock }}
	ctx := context.Background()
	if seen, err := tb.Seen(ctx, "EV-1"); seen || err != nil {
		t.Fatalf("Seen before Record = %v, %v", seen, err)
	}
	if err := tb.Record(ctx, "EV-1"); err != nil {
		t.Fatal(err)
	}
	if err := tb.Record(ctx, "EV-1"); err != nil {
		t.Fatalf("recording an id twice (a concurrent delivery): %v, want done", err)
	}
	clock = now.Add(71 * time.Hour)
	if seen, err := tb.Seen(ctx, "EV-1"); !seen || err != nil {
		t.Fatalf("Seen a day after = %v, %v; WeChat Pay's retries must find it", seen, err)
	}
	clock = now.Add(notify.MarkTTL + time.Second)
	if seen, _ := tb.Seen(ctx, "EV-1"); seen {
		t.Fatal("an expired mark that DynamoDB has not deleted yet still counts")
	}
}
