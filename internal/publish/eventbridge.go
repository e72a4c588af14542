// Package publish sends close outcomes to an EventBridge bus.
package publish

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"close-recharge/internal/fault"
)

// PutEventsAPI is the one call the publisher makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes each outcome as one event on Bus with Source.
type EventBridge struct {
	API    PutEventsAPI
	Bus    string
	Source string
}

// Publish puts one event. Any failure, including an entry that EventBridge
// accepted the call for but did not take, is transient: the outcome must not
// be reported as done when nobody will hear of it.
func (p *EventBridge) Publish(ctx context.Context, detailType string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fault.Wrap(fault.Transient, fault.CodePublish, err, "cannot encode the %s event", detailType)
	}
	out, err := p.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.Bus),
		Source:       aws.String(p.Source),
		DetailType:   aws.String(detailType),
		Detail:       aws.String(string(b)),
	}}})
	if err != nil {
		return fault.Wrap(fault.Transient, fault.CodePublish, err, "cannot publish the %s event to EventBridge", detailType)
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 || out.Entries[0].EventId == nil {
		cause := fmt.Errorf("FailedEntryCount %d", out.FailedEntryCount)
		if len(out.Entries) == 1 && out.Entries[0].ErrorCode != nil {
			cause = fmt.Errorf("%w: %s", cause, aws.ToString(out.Entries[0].ErrorCode))
		}
		return fault.Wrap(fault.Transient, fault.CodePublish, cause, "EventBridge did not take the %s event", detailType)
	}
	return nil
}
