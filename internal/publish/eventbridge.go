// Package publish sends close outcomes to an EventBridge bus: the adapter
// behind the close use-case's Publisher port.
package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"close-recharge/internal/closer"
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

// MaxEntries is how many events one PutEvents call may carry.
const MaxEntries = closer.EventsPerCall

// Publish puts events in calls of up to MaxEntries entries, up to
// closer.CallsAtOnce calls side by side, and says, for each event, whether
// EventBridge took it. Any failure, including an entry that EventBridge
// accepted the call for but did not take, is transient: an outcome must not be
// reported as done when nobody will hear of it.
func (p *EventBridge) Publish(ctx context.Context, events []closer.Event) []error {
	errs := make([]error, len(events))
	turn := make(chan struct{}, closer.CallsAtOnce)
	var wg sync.WaitGroup
	for start := 0; start < len(events); start += MaxEntries {
		end := min(start+MaxEntries, len(events))
		turn <- struct{}{}
		wg.Go(func() {
			defer func() { <-turn }()
			p.put(ctx, events[start:end], errs[start:end])
		})
	}
	wg.Wait()
	return errs
}

func (p *EventBridge) put(ctx context.Context, events []closer.Event, errs []error) {
	entries := make([]ebtypes.PutEventsRequestEntry, 0, len(events))
	at := make([]int, 0, len(events)) // entry → event
	for i, e := range events {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			errs[i] = fault.Wrap(fault.Transient, fault.CodePublish, err, "cannot encode the %s event", e.DetailType)
			continue
		}
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(p.Bus),
			Source:       aws.String(p.Source),
			DetailType:   aws.String(e.DetailType),
			Detail:       aws.String(string(b)),
		})
		at = append(at, i)
	}
	if len(entries) == 0 {
		return
	}
	out, err := p.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	for j, i := range at {
		detailType := events[i].DetailType
		switch {
		case err != nil && fault.KindOf(err) == fault.Configuration: // no AWS credentials
			errs[i] = fault.Wrap(fault.Configuration, "", err, "cannot publish the %s event to EventBridge", detailType)
		case err != nil:
			errs[i] = fault.Wrap(fault.Transient, fault.CodePublish, err, "cannot publish the %s event to EventBridge", detailType)
		case len(out.Entries) != len(entries):
			errs[i] = fault.Wrap(fault.Transient, fault.CodePublish, fmt.Errorf("%d entries answered for %d", len(out.Entries), len(entries)),
				"EventBridge did not say whether it took the %s event", detailType)
		case out.Entries[j].EventId == nil || out.Entries[j].ErrorCode != nil:
			errs[i] = fault.Wrap(fault.Transient, fault.CodePublish, fmt.Errorf("entry failed: %s", aws.ToString(out.Entries[j].ErrorCode)),
				"EventBridge did not take the %s event", detailType)
		}
	}
}
