package publish_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/fault"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
)

// partialFailure is EventBridge accepting the call but not the entry, which
// moto cannot be made to do.
type partialFailure struct{}

func (partialFailure) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{{
		ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")}}}, nil
}

func TestFailedEntryIsTransient(t *testing.T) {
	p := &publish.EventBridge{API: partialFailure{}, Bus: "b", Source: "s"}
	err := p.Publish(context.Background(), outcome.Closed, map[string]string{"a": "b"})
	fe := fault.As(err)
	if fe == nil || fe.Kind != fault.Transient || fe.Code != fault.CodePublish {
		t.Fatalf("err = %v, want a transient publish failure", err)
	}
}

func TestPublishToMoto(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	bus, err := awstest.NewBus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &publish.EventBridge{API: eventbridge.NewFromConfig(cfg), Bus: bus.Name, Source: "wechatpay.recharge"}
	if err := p.Publish(context.Background(), outcome.Rejected, map[string]string{"out_recharge_no": "R1"}); err != nil {
		t.Fatal(err)
	}
	events, err := bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]string
	if len(events) != 1 || events[0].DetailType != outcome.Rejected || events[0].Source != "wechatpay.recharge" ||
		json.Unmarshal(events[0].Detail, &d) != nil || d["out_recharge_no"] != "R1" {
		t.Fatalf("events = %+v", events)
	}

	down := &publish.EventBridge{API: eventbridge.NewFromConfig(awstest.Config("http://127.0.0.1:1")), Bus: bus.Name, Source: "s"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := down.Publish(ctx, outcome.Closed, map[string]string{}); fault.KindOf(err) != fault.Transient {
		t.Fatalf("endpoint down: err = %v, want transient", err)
	}
}
