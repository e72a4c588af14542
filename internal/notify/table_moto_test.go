package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/notify"
)

// Against DynamoDB's own condition evaluation (moto's): a mark is written
// once, a second write within its TTL changes nothing, and a mark past its TTL
// that DynamoDB has not deleted yet (TTL deletion may lag by days) is written
// over, so that the id counts as seen again.
func TestTableMarksAgainstDynamoDB(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	ctx, cancel := awstest.Ctx()
	defer cancel()
	api := dynamodb.NewFromConfig(cfg)
	name := awstest.UniqueName("marks")
	if _, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(notify.AttrID), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(notify.AttrID), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tb := &notify.Table{API: api, Name: name, Now: func() time.Time { return clock }}
	seen := func() bool {
		t.Helper()
		s, err := tb.Seen(context.Background(), "EV-1")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen() {
		t.Fatal("seen before it was recorded")
	}
	if err := tb.Record(ctx, "EV-1"); err != nil || !seen() {
		t.Fatalf("recorded: %v, seen %v", err, seen())
	}
	clock = clock.Add(time.Hour)
	if err := tb.Record(ctx, "EV-1"); err != nil {
		t.Fatalf("recorded twice within its TTL: %v, want done", err)
	}
	clock = clock.Add(notify.MarkTTL + time.Hour)
	if seen() {
		t.Fatal("a mark past its TTL still counts")
	}
	if err := tb.Record(ctx, "EV-1"); err != nil || !seen() {
		t.Fatalf("recorded again past its TTL: %v, seen %v; want the id seen again", err, seen())
	}
}
