package publish_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
)

// failEvery takes the call but fails every entry whose index is in fail, as
// EventBridge may and moto cannot be made to; it records the calls.
type failEvery struct {
	fail  map[int]bool
	calls []int // entries per call
}

func (f *failEvery) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	base := 0
	for _, n := range f.calls {
		base += n
	}
	f.calls = append(f.calls, len(in.Entries))
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		if f.fail[base+i] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("e", base+i))})
	}
	return out, nil
}

func events(n int) []closer.Event {
	out := make([]closer.Event, n)
	for i := range out {
		out[i] = closer.Event{DetailType: outcome.Closed, Detail: map[string]string{"out_recharge_no": fmt.Sprint("R", i)}}
	}
	return out
}

// 23 outcomes go out in calls of 10, 10 and 3; a failed entry fails its own
// event alone.
func TestBatchesOfTenAndPerEntryFailures(t *testing.T) {
	api := &failEvery{fail: map[int]bool{3: true, 17: true}}
	p := &publish.EventBridge{API: api, Bus: "b", Source: "s"}
	errs := p.Publish(context.Background(), events(23))
	if fmt.Sprint(api.calls) != "[10 10 3]" {
		t.Errorf("calls carried %v entries, want [10 10 3]", api.calls)
	}
	for i, err := range errs {
		fe := fault.As(err)
		switch {
		case i == 3 || i == 17:
			if fe == nil || fe.Kind != fault.Transient || fe.Code != fault.CodePublish {
				t.Errorf("event %d: %v, want a transient publish failure", i, err)
			}
		case err != nil:
			t.Errorf("event %d: %v, want taken", i, err)
		}
	}
}

func TestPublishToMoto(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	bus, err := awstest.NewBus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &publish.EventBridge{API: eventbridge.NewFromConfig(cfg), Bus: bus.Name, Source: "wechatpay.recharge"}
	for i, err := range p.Publish(context.Background(), events(12)) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	got, err := bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		var d map[string]string
		if e.DetailType != outcome.Closed || e.Source != "wechatpay.recharge" || json.Unmarshal(e.Detail, &d) != nil {
			t.Fatalf("event %+v", e)
		}
		seen[d["out_recharge_no"]] = true
	}
	if len(seen) != 12 || len(got) != 12 {
		t.Fatalf("%d events (%d distinct), want 12", len(got), len(seen))
	}

	down := &publish.EventBridge{API: eventbridge.NewFromConfig(awstest.Config("http://127.0.0.1:1")), Bus: bus.Name, Source: "s"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, err := range down.Publish(ctx, events(2)) {
		if fault.KindOf(err) != fault.Transient {
			t.Fatalf("endpoint down: event %d: %v, want transient", i, err)
		}
	}
}

// entriesOf records every entry it is given and takes them all.
type entriesOf struct {
	got []ebtypes.PutEventsRequestEntry
}

func (e *entriesOf) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	e.got = append(e.got, in.Entries...)
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("e", i))})
	}
	return out, nil
}

// Every entry names the configured bus and source: an entry without a bus
// goes to the account's default bus, where the consumers' rules never see it,
// yet EventBridge takes it and the record leaves its queue.
func TestEveryEntryNamesTheBusAndSource(t *testing.T) {
	api := &entriesOf{}
	p := &publish.EventBridge{API: api, Bus: "recharge-outcomes", Source: "merchant.recharges"}
	for i, err := range p.Publish(context.Background(), events(12)) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if len(api.got) != 12 {
		t.Fatalf("%d entries sent, want 12", len(api.got))
	}
	for i, e := range api.got {
		if aws.ToString(e.EventBusName) != "recharge-outcomes" || aws.ToString(e.Source) != "merchant.recharges" {
			t.Errorf("entry %d on bus %q from source %q, want recharge-outcomes and merchant.recharges", i, aws.ToString(e.EventBusName), aws.ToString(e.Source))
		}
	}
}
