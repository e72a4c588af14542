// Package publish sends close outcomes to an EventBridge bus: the adapter
// behind the close use-case's Publisher port. It stamps every detail with the
// event contract's own fields: the contract's version, and the platform
// merchant the outcome belongs to, so that consumers of several stacks can
// tell whose it is.
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
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
)

// PutEventsAPI is the one call the publisher makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Keys are the merchant's keys, whose mchid is the platform merchant
// (sp_mchid) every detail names.
type Keys interface {
	Keys(ctx context.Context) (*merchant.Keys, error)
}

// EventBridge publishes each outcome as one event on Bus with Source; Keys
// names the platform merchant.
type EventBridge struct {
	API    PutEventsAPI
	Bus    string
	Source string
	Keys   Keys
}

// The fields the publisher adds to every detail.
const (
	FieldSpMchid         = "sp_mchid"
	FieldContractVersion = "contract_version"
)

// MaxEntries is how many events one PutEvents call may carry.
const MaxEntries = closer.EventsPerCall

// Publish puts events in calls of up to MaxEntries entries, up to
// closer.CallsAtOnce calls side by side, and says, for each event, whether
// EventBridge took it. Any failure, including an entry that EventBridge
// accepted the call for but did not take, is transient: an outcome must not be
// reported as done when nobody will hear of it.
func (p *EventBridge) Publish(ctx context.Context, events []closer.Event) []error {
	errs := make([]error, len(events))
	spMchid, err := p.spMchid(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	turn := make(chan struct{}, closer.CallsAtOnce)
	var wg sync.WaitGroup
	for start := 0; start < len(events); start += MaxEntries {
		end := min(start+MaxEntries, len(events))
		turn <- struct{}{}
		wg.Go(func() {
			defer func() { <-turn }()
			p.put(ctx, spMchid, events[start:end], errs[start:end])
		})
	}
	wg.Wait()
	return errs
}

// spMchid is the platform merchant: the cached keys' mchid, read when the
// close was settled (a GAVE_UP whose keys were never read waits for them like
// a close would, and fails as it would).
func (p *EventBridge) spMchid(ctx context.Context) (string, error) {
	if p.Keys == nil {
		return "", fault.New(fault.Configuration, "the publisher is not told the platform merchant every event must name")
	}
	keys, err := p.Keys.Keys(ctx)
	if err != nil {
		fe := fault.As(err)
		if fe.Kind == fault.Configuration {
			return "", err
		}
		return "", fault.Wrap(fault.Transient, fault.CodePublish, err, "cannot name the platform merchant of the events: %s", fe.Message)
	}
	return keys.MchID, nil
}

// stamp is detail as published: its own fields, with contract_version and,
// when the detail does not say it, sp_mchid. A recharge names its sp_mchid as
// WeChat Pay answered it, which is never replaced (an answer naming another
// merchant was refused as invalid before it got here).
func stamp(detail any, spMchid string) ([]byte, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("detail is not a JSON object: %w", err)
	}
	if fields == nil {
		return nil, fmt.Errorf("detail is null")
	}
	if said := string(fields[FieldSpMchid]); said == "" || said == "null" || said == `""` {
		fields[FieldSpMchid], _ = json.Marshal(spMchid)
	}
	fields[FieldContractVersion], _ = json.Marshal(outcome.ContractVersion)
	return json.Marshal(fields)
}

func (p *EventBridge) put(ctx context.Context, spMchid string, events []closer.Event, errs []error) {
	entries := make([]ebtypes.PutEventsRequestEntry, 0, len(events))
	at := make([]int, 0, len(events)) // entry → event
	for i, e := range events {
		b, err := stamp(e.Detail, spMchid)
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
