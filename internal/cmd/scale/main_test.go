package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"close-recharge/internal/awstest"
	"close-recharge/internal/closer"
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
	"close-recharge/internal/recharge"
)

// Lambda's throttle backoff: 1 s after the first throttle, doubling up to 5
// minutes; each wait drawn from its interval's second half.
func TestThrottleDelayFollowsLambdasBackoff(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for k, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 2: 4 * time.Second, 8: 256 * time.Second,
		9: 5 * time.Minute, 20: 5 * time.Minute, 70: 5 * time.Minute} {
		for range 1000 {
			if d := throttleDelay(k, rnd); d < want/2 || d > want {
				t.Fatalf("throttle %d: waited %v, want within [%v, %v]", k, d, want/2, want)
			}
		}
	}
}

// The figures come from what the real publisher's PutEvents calls carried: an
// identical outcome twice is a duplicate delivery, two different outcomes for
// one recharge and state a conflict, and an entry that is no outcome of the
// bus and source is malformed; only a Recharge Closed of a CLOSED recharge
// counts as a close.
func TestArrivalsCountWhatReachesTheBus(t *testing.T) {
	bus := newArrivals(busName, source)
	srv := httptest.NewServer(bus)
	defer srv.Close()
	send := func(toBus, from string, evs ...closer.Event) {
		t.Helper()
		p := &publish.EventBridge{API: eventbridge.NewFromConfig(awstest.Config(srv.URL)), Bus: toBus, Source: from, Keys: platform{}}
		for i, err := range p.Publish(context.Background(), evs) {
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
	}
	closed := func(no, closeTime string) closer.Event {
		r := &recharge.Recharge{OutRechargeNo: no, RechargeState: recharge.StateClosed}
		r.CloseTime.Time, _ = time.Parse(time.RFC3339, closeTime)
		return closer.Event{DetailType: outcome.Closed, Detail: r}
	}
	send(busName, source, closed("A", "2026-12-01T10:00:00+08:00"), closed("B", "2026-12-01T10:00:00+08:00"))
	send(busName, source, closed("A", "2026-12-01T10:00:00+08:00")) // delivered again
	send(busName, source, closed("B", "2026-12-01T10:00:05+08:00")) // B closed at another time
	send(busName, source, closer.Event{DetailType: outcome.Closed, Detail: &recharge.Recharge{OutRechargeNo: "C", RechargeState: recharge.StateRecharging}})
	send(busName, "elsewhere", closed("D", "2026-12-01T10:00:00+08:00"))
	send("another-bus", source, closed("E", "2026-12-01T10:00:00+08:00"))
	closedN, repeats, conflicts, malformed, _ := bus.results(time.Now())
	if closedN != 2 || repeats != 1 || conflicts != 1 || malformed != 3 {
		t.Fatalf("closed %d, duplicate deliveries %d, conflicts %d, malformed %d; want 2, 1, 1, 3", closedN, repeats, conflicts, malformed)
	}
}

// One recharge announced in two ends that cannot both hold — CLOSED and
// refused while still RECHARGING, or CLOSED and paid — is a conflict though
// the two outcomes differ in recharge_state; a GAVE_UP beside a close is not
// (it says the recharge may still be open), nor is Recharge Succeeded beside
// a Recharge Close Rejected (both say SUCCESS).
func TestArrivalsCountContradictoryEnds(t *testing.T) {
	bus := newArrivals(busName, source)
	srv := httptest.NewServer(bus)
	defer srv.Close()
	p := &publish.EventBridge{API: eventbridge.NewFromConfig(awstest.Config(srv.URL)), Bus: busName, Source: source, Keys: platform{}}
	rc := func(no, state string) *recharge.Recharge {
		return &recharge.Recharge{SubMchid: sub, OutRechargeNo: no, RechargeState: state}
	}
	refused := func(no, code string) closer.Event {
		return closer.Event{DetailType: outcome.Failed, Detail: &closer.Failure{SubMchid: sub, OutRechargeNo: no, Error: closer.ErrorBody{Code: code, Message: "refused"}}}
	}
	gaveUp := closer.GaveUpResult(sub, "D", 15, errors.New("down"))
	evs := []closer.Event{
		{DetailType: outcome.Closed, Detail: rc("A", recharge.StateClosed)}, refused("A", "RULE_LIMIT"),
		{DetailType: outcome.Closed, Detail: rc("B", recharge.StateClosed)}, {DetailType: outcome.Rejected, Detail: rc("B", recharge.StateSuccess)},
		{DetailType: outcome.Rejected, Detail: rc("C", recharge.StateSuccess)}, {DetailType: outcome.Succeeded, Detail: rc("C", recharge.StateSuccess)},
		{DetailType: outcome.Closed, Detail: rc("D", recharge.StateClosed)}, gaveUp.Event(),
	}
	for i, err := range p.Publish(context.Background(), evs) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if _, _, conflicts, malformed, _ := bus.results(time.Now()); conflicts != 2 || malformed != 0 {
		t.Fatalf("conflicts %d, malformed %d; want 2 (A closed and refused, B closed and paid), 0", conflicts, malformed)
	}
}

// A small burst through all three paths: every recharge closed once in WeChat
// Pay's books and announced on the bus, and the figures each path is judged by
// add up. Delivery is at least once (moto, like SQS, may hand one message to
// two pollers), so requests may repeat and an identical outcome may arrive
// twice; two different outcomes for one recharge and state may not.
func TestEveryPathClosesEveryRecharge(t *testing.T) {
	cfg, secret := testSetup(t)
	o := options{n: 300, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 10 * time.Second,
		maxReceive: 10, limit: 2 * time.Minute, shards: 4}
	for _, path := range []struct {
		name string
		run  func(context.Context, options, aws.Config, string, io.Writer) (result, error)
	}{{"queue", queuePath}, {"async", asyncPath(true)}, {"async-best", asyncPath(false)}} {
		t.Run(path.name, func(t *testing.T) {
			r, err := path.run(context.Background(), o, cfg, secret, t.Output())
			if err != nil {
				t.Fatal(err)
			}
			if r.gaveUp != 0 || r.closes != o.n || r.closed != o.n || r.lost != 0 || r.deadLettered != 0 {
				t.Fatalf("%+v: want all %d closed once at WeChat Pay and announced, none lost, none dead-lettered", r, o.n)
			}
			if r.conflicts != 0 || r.malformed != 0 {
				t.Fatalf("%+v: want one outcome per recharge and state, every entry a well-formed outcome", r)
			}
			if r.repeats > 0 {
				t.Logf("%d duplicate deliveries of an identical outcome (%d redeliveries)", r.repeats, r.redeliveries)
			}
			if r.requests < o.n || r.p50 > r.p99 || r.p99 > r.drain {
				t.Fatalf("%+v: requests, p50 ≤ p99 ≤ drain", r)
			}
			switch path.name {
			case "queue":
				// Paced at R / C per instance, WeChat Pay need not refuse any.
				// The instances' saved-up turns fall two short of the
				// simulator's burst, so a stall that bunches turns by more than
				// 10 ms may cost a 429 or two; unpaced, most are refused.
				if r.share429() > 0.02 || r.invocations < o.n/o.batch || r.throttles != 0 {
					t.Fatalf("%+v: want next to no 429 and at least %d batches", r, o.n/o.batch)
				}
			case "async":
				// Three instances cannot take 300 events at once: Lambda throttles.
				if r.throttles == 0 || r.invocations != o.n+r.redeliveries {
					t.Fatalf("%+v: want throttles, and one invocation per event and retry", r)
				}
			case "async-best":
				if r.throttles != 0 || r.invocations != o.n+r.redeliveries {
					t.Fatalf("%+v: want no throttles, one invocation per event and retry", r)
				}
			}
		})
	}
}

// The outage scenarios on a small burst: WeChat Pay answers every request 503,
// or 429, for a few seconds early in the burst. Every recharge is still closed
// once in WeChat Pay's books and announced, none is dead-lettered or given up
// on, no two outcomes contradict each other, and the outage did answer some
// requests. The handler's receive budget is in real seconds, so the outage is
// short rather than the clock fast; nothing here is timed. The function
// timeout is short so that the queues' visibility (six times it) ends well
// within the run's limit: a record whose early return failed on a busy moto
// comes back after it, as the handler documents, and is not counted lost.
func TestQueuePathOutlastsAnOutage(t *testing.T) {
	cfg, secret := testSetup(t)
	for _, scenario := range []string{"outage-503", "outage-429"} {
		t.Run(scenario, func(t *testing.T) {
			runs, err := scenarioRuns(options{n: 200, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 10 * time.Second,
				maxReceive: 15, limit: 2 * time.Minute, shards: 4, paths: "queue,async", outageAt: 500 * time.Millisecond, outageFor: 3 * time.Second}, scenario)
			if err != nil || len(runs) != 1 || !slices.Equal(runs[0].paths, []string{"queue"}) {
				t.Fatalf("scenario %s: %v, %+v; want one run of the queue path", scenario, err, runs)
			}
			o := runs[0].o
			r, err := queuePath(context.Background(), o, cfg, secret, t.Output())
			if err != nil {
				t.Fatal(err)
			}
			if r.gaveUp != 0 || r.closes != o.n || r.closed != o.n || r.lost != 0 || r.deadLettered != 0 || r.gaveUpEvents != 0 {
				t.Fatalf("%+v: want all %d closed once at WeChat Pay and announced, none lost, dead-lettered or given up on", r, o.n)
			}
			if r.conflicts != 0 || r.malformed != 0 {
				t.Fatalf("%+v: want one outcome per recharge and state, every entry a well-formed outcome", r)
			}
			if r.outaged == 0 || r.requests < o.n+r.outaged {
				t.Fatalf("%+v: want requests answered by the outage, and one that got through per recharge besides", r)
			}
		})
	}
}

// A schedule and a rule may name the same expiry, and SQS may hand one message
// to two pollers: every expiry here is on the queues twice, each copy on
// another queue, so that with one batch to a queue the two land in different
// batches, which different instances may run at once. Each recharge is still
// closed once in WeChat Pay's books and announced only as closed — the second
// message's close is refused as a re-close and settled by its query — and
// nothing is lost, dead-lettered or given up on.
func TestDuplicatedExpiriesHaveOneOutcome(t *testing.T) {
	cfg, secret := testSetup(t)
	o := options{scenario: "healthy", n: 100, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 10 * time.Second,
		maxReceive: 15, limit: 2 * time.Minute, shards: 10}
	var l *load
	r, err := runQueue(context.Background(), o, cfg, secret, t.Output(),
		func(ctx context.Context, ld *load, api *sqs.Client, shards []shard, _ string, _ *result) (int, error) {
			l = ld
			urls := make([]string, len(shards))
			for i, sh := range shards {
				urls[i] = sh.url
			}
			if err := sendAll(ctx, api, urls, ld.numbers); err != nil {
				return 0, err
			}
			// The second message of each expiry goes to the next queue.
			if err := sendAll(ctx, api, append(urls[1:], urls[0]), ld.numbers); err != nil {
				return 0, err
			}
			return 2 * len(ld.numbers), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if r.gaveUp != 0 || r.closes != o.n || r.closed != o.n || r.lost != 0 || r.deadLettered != 0 || r.gaveUpEvents != 0 {
		t.Fatalf("%+v: want all %d closed once at WeChat Pay and announced, none lost, dead-lettered or given up on", r, o.n)
	}
	if r.conflicts != 0 || r.malformed != 0 {
		t.Fatalf("%+v: want no contradictory outcomes, every entry a well-formed outcome", r)
	}
	for _, no := range l.numbers {
		if kinds := l.bus.kindsOf(no); len(kinds) != 1 || kinds[outcome.Closed] == 0 {
			t.Fatalf("%s: outcomes %v on the bus, want Recharge Closed only", no, kinds)
		}
	}
	// The first message's close, and the second's refused close and its query.
	if r.requests > 3*o.n+r.redeliveries*3 {
		t.Fatalf("%+v: want at most three requests per recharge, and three per redelivery", r)
	}
	t.Logf("%d requests for %d recharges on %d messages; %d identical outcomes delivered again", r.requests, o.n, 2*o.n, r.repeats)
}

// On its last allowed receive a record still failing publishes GAVE_UP and
// goes to the dead-letter queue; the table counts both from what arrived. With
// maxReceiveCount 1 and WeChat Pay down throughout, that is every record on
// its first receive — which the function knows only if the poller passes
// ApproximateReceiveCount, as the event source mapping does, and the function
// is told the queue's maxReceiveCount. The function timeout is short for the
// same reason as above.
func TestQueuePathGivesUpOnTheLastReceive(t *testing.T) {
	cfg, secret := testSetup(t)
	o := options{scenario: "outage-503", n: 30, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 10 * time.Second,
		maxReceive: 1, limit: 2 * time.Minute, shards: 2, outageFor: time.Hour, outageStatus: http.StatusServiceUnavailable}
	r, err := queuePath(context.Background(), o, cfg, secret, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if r.gaveUp != 0 || r.gaveUpEvents != o.n || r.deadLettered != o.n || r.lost != o.n || r.closes != 0 || r.closed != 0 {
		t.Fatalf("%+v: want every one of %d given up on, dead-lettered and still open", r, o.n)
	}
	if r.conflicts != 0 || r.malformed != 0 || r.outaged != r.requests {
		t.Fatalf("%+v: want one outcome per recharge, every request answered by the outage", r)
	}
}

// platform is the merchant keys as far as the publisher asks: its mchid.
type platform struct{}

func (platform) Keys(context.Context) (*merchant.Keys, error) {
	return &merchant.Keys{MchID: "1900000100"}, nil
}

// The paid scenario on a small burst: every expiry scheduled through the
// expiry service in moto's Scheduler, 30 % paid before the deadline and their
// notifications answered by the notification service, then the schedules left
// fired onto the queues. A paid recharge costs no request at its deadline and
// has Recharge Succeeded once on the bus and no other outcome; every unpaid
// one is closed once in WeChat Pay's books and announced. Each figure is
// counted from what arrived: moto's schedules, the simulator's notifications
// and requests, the PutEvents endpoint's entries.
func TestPaidRechargesCostNothingAtTheDeadline(t *testing.T) {
	cfg, secret := testSetup(t)
	runs, err := scenarioRuns(options{n: 200, paid: 0.3, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 10 * time.Second,
		maxReceive: 10, limit: 2 * time.Minute, shards: 4, paths: "queue,async"}, "paid")
	if err != nil || len(runs) != 1 || !slices.Equal(runs[0].paths, []string{"paid"}) {
		t.Fatalf("scenario paid: %v, %+v; want one run of the paid path", err, runs)
	}
	o := runs[0].o
	r, err := paidPath(context.Background(), o, cfg, secret, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	const paid, unpaid = 60, 140
	f := r.paid
	if f.scheduled != o.n || f.paid != paid || f.deleted != paid || f.leftUnpaid != unpaid {
		t.Fatalf("%+v: want %d schedules set, %d paid with their schedules deleted, %d unpaid schedules left", f, o.n, paid, unpaid)
	}
	if f.notifications != paid || f.acknowledged != paid {
		t.Fatalf("%+v: want one notification per paid recharge, each acknowledged", f)
	}
	if f.paidRequests != 0 || f.succeededOnce != paid || f.paidOther != 0 {
		t.Fatalf("%+v: want no request about a paid recharge, Recharge Succeeded once for each and no other outcome", f)
	}
	if r.gaveUp != 0 || r.expiries != unpaid || r.closes != unpaid || r.closed != unpaid || r.lost != 0 || r.deadLettered != 0 {
		t.Fatalf("%+v: want the %d unpaid expiries on the queue, each closed once at WeChat Pay and announced, none lost", r, unpaid)
	}
	if r.conflicts != 0 || r.malformed != 0 {
		t.Fatalf("%+v: want one outcome per recharge and state, every entry a well-formed outcome", r)
	}
}

// -scenario all runs the paid scenario too.
func TestAllScenariosIncludePaid(t *testing.T) {
	runs, err := scenarioRuns(options{paths: "queue"}, "all")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range runs {
		names = append(names, sc.o.scenario)
	}
	if !slices.Equal(names, []string{"healthy", "outage-503", "outage-429", "paid"}) {
		t.Fatalf("all: %v", names)
	}
}

// testSetup starts moto for the test and writes the merchant secret the
// instances read, removed when the test ends.
func testSetup(t *testing.T) (aws.Config, string) {
	t.Helper()
	moto := awstest.MotoForTest(t)
	secret, err := writeSecret()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(secret)) })
	return awstest.Config(moto), secret
}
