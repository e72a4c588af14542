package publish_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
	"close-recharge/internal/recharge"
)

// failEvery takes the call but fails every entry whose event index (the
// number in its out_recharge_no) is in fail, as EventBridge may and moto
// cannot be made to; it records the calls, and how many were in flight at
// once: each call waits, up to a second, for others to join it.
type failEvery struct {
	fail     map[int]bool
	mu       sync.Mutex
	calls    []int // entries per call
	inFlight int
	peak     int
}

func (f *failEvery) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, len(in.Entries))
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.mu.Unlock()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		peak := f.peak
		f.mu.Unlock()
		if peak > 1 {
			break
		}
	}
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		var d struct {
			No string `json:"out_recharge_no"`
		}
		_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &d)
		i, _ := strconv.Atoi(strings.TrimPrefix(d.No, "R"))
		if f.fail[i] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("e", i))})
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
	p := &publish.EventBridge{API: api, Bus: "b", Source: "s", Keys: platform}
	errs := p.Publish(context.Background(), events(23))
	slices.Sort(api.calls)
	if fmt.Sprint(api.calls) != "[3 10 10]" {
		t.Errorf("calls carried %v entries, want 10, 10 and 3", api.calls)
	}
	// A batch's chunks go out side by side, not one call's time after another.
	if api.peak < 2 {
		t.Errorf("at most %d PutEvents call in flight at once, want the chunks side by side", api.peak)
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
	p := &publish.EventBridge{API: eventbridge.NewFromConfig(cfg), Bus: bus.Name, Source: "wechatpay.recharge", Keys: platform}
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

	down := &publish.EventBridge{API: eventbridge.NewFromConfig(awstest.Config("http://127.0.0.1:1")), Bus: bus.Name, Source: "s", Keys: platform}
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
	mu  sync.Mutex
	got []ebtypes.PutEventsRequestEntry
}

func (e *entriesOf) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	e.mu.Lock() // a batch's calls go out side by side
	e.got = append(e.got, in.Entries...)
	e.mu.Unlock()
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
	p := &publish.EventBridge{API: api, Bus: "recharge-outcomes", Source: "merchant.recharges", Keys: platform}
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

// keysOf is the merchant keys source: the keys, or the error reading them.
type keysOf struct {
	mchid string
	err   error
}

func (k keysOf) Keys(context.Context) (*merchant.Keys, error) {
	if k.err != nil {
		return nil, k.err
	}
	return &merchant.Keys{MchID: k.mchid}, nil
}

var platform = keysOf{mchid: "1900000100"}

// Every detail names the platform merchant and the contract's version. A
// recharge keeps the sp_mchid WeChat Pay answered; a failure result, which
// WeChat Pay never wrote, and a recharge whose answer left sp_mchid out get
// the secret's. Nothing else of the detail changes.
func TestEveryDetailNamesTheMerchantAndTheContract(t *testing.T) {
	failure := &closer.Failure{SubMchid: "1900000109", OutRechargeNo: "R1", Error: closer.ErrorBody{Code: "ORDER_NOT_EXIST", Message: "no such recharge"}}
	gaveUp := closer.GaveUpResult("1900000109", "R2", 15, &fault.Error{Kind: fault.Transient, Code: "SYSTEM_ERROR", Message: "busy"})
	tests := []struct {
		name        string
		event       closer.Event
		wantSpMchid string
	}{
		{"recharge naming its merchant", closer.Event{DetailType: outcome.Closed,
			Detail: &recharge.Recharge{SpMchid: "1900000999", SubMchid: "1900000109", OutRechargeNo: "R1", RechargeState: "CLOSED"}}, "1900000999"},
		{"recharge without sp_mchid", closer.Event{DetailType: outcome.Rejected,
			Detail: &recharge.Recharge{SubMchid: "1900000109", OutRechargeNo: "R1", RechargeState: "SUCCESS"}}, "1900000100"},
		{"refusal", closer.Event{DetailType: outcome.Failed, Detail: failure}, "1900000100"},
		{"gave up", gaveUp.Event(), "1900000100"},
		{"sp_mchid null", closer.Event{DetailType: outcome.Closed, Detail: map[string]any{"sp_mchid": nil, "out_recharge_no": "R1"}}, "1900000100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &entriesOf{}
			p := &publish.EventBridge{API: api, Bus: "b", Source: "s", Keys: platform}
			if err := p.Publish(context.Background(), []closer.Event{tt.event})[0]; err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(api.got[0].Detail)), &got); err != nil {
				t.Fatal(err)
			}
			if got[publish.FieldSpMchid] != tt.wantSpMchid {
				t.Errorf("sp_mchid = %v, want %s", got[publish.FieldSpMchid], tt.wantSpMchid)
			}
			if got[publish.FieldContractVersion] != outcome.ContractVersion {
				t.Errorf("contract_version = %v, want %q", got[publish.FieldContractVersion], outcome.ContractVersion)
			}
			// The rest is the detail as it encodes.
			var want map[string]any
			b, _ := json.Marshal(tt.event.Detail)
			_ = json.Unmarshal(b, &want)
			delete(got, publish.FieldContractVersion)
			if _, said := want[publish.FieldSpMchid]; !said || want[publish.FieldSpMchid] == nil {
				delete(got, publish.FieldSpMchid)
				delete(want, publish.FieldSpMchid)
			}
			if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
				t.Errorf("detail %s, want %s and the publisher's fields", g, w)
			}
		})
	}
}

// Events that cannot name their merchant are not published: a secret that
// cannot be read now fails them as it fails a close (transient or
// configuration), and a publisher nobody told the merchant fails them all as
// misconfigured rather than send events without it.
func TestNoEventWithoutItsMerchant(t *testing.T) {
	tests := []struct {
		name string
		keys publish.Keys
		want fault.Kind
	}{
		{"secret unreadable", keysOf{err: &fault.Error{Kind: fault.Transient, Code: "SECRET_UNAVAILABLE", Message: "throttled"}}, fault.Transient},
		{"secret malformed", keysOf{err: &fault.Error{Kind: fault.Configuration, Code: "", Message: "no mchid"}}, fault.Configuration},
		{"no keys given", nil, fault.Configuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &entriesOf{}
			p := &publish.EventBridge{API: api, Bus: "b", Source: "s", Keys: tt.keys}
			for i, err := range p.Publish(context.Background(), events(3)) {
				if fault.KindOf(err) != tt.want {
					t.Errorf("event %d: %v, want %s", i, err, tt.want)
				}
			}
			if len(api.got) != 0 {
				t.Errorf("%d events sent without their merchant", len(api.got))
			}
		})
	}
}
