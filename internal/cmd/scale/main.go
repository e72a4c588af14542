// Command scale measures the burst path: N recharges all due at once, closed
// against a WeChat Pay simulator that allows R requests a second and answers
// after L, by C instances of the real handler — each with its own key cache,
// connections and pacer — in three ways on the same load:
//
//   - queue: every expiry goes through moto's SQS (real receive, visibility,
//     delete and redrive); a poller per instance stands in for the event
//     source mapping (batch size, maximum concurrency, partial batch
//     responses: only successes are deleted, failures come back after their
//     visibility, which the handler shortens; each record carries
//     ApproximateReceiveCount, SentTimestamp and its message attributes);
//     each instance paces itself at R / C, knows the queue's maxReceiveCount
//     as EXPIRY_MAX_RECEIVE_COUNT, and copies back the records that got no
//     turn or failed for the first time, as main builds it. moto scans a
//     queue's every message on each send, receive and delete (about 12 µs a
//     message and operation: 240 ms a send at 20,000 waiting), and a receive
//     scans it again for every message it returns (moto reads the queue's
//     attributes to check each one's retention); AWS does neither. So the
//     burst is spread over -shards queues — by default one batch to a queue:
//     at two batches to a queue a receive took ~600 ms in moto under this
//     load, slower than an invocation, and the instances waited for batches
//     the mapping would have had ready — redriving to one dead-letter queue,
//     and every poller takes batches from all of them in turn, as the
//     mapping's pollers share one.
//     Outcomes go through the real EventBridge adapter and SDK to a local
//     PutEvents endpoint that takes every entry: moto's took ~150 ms a call
//     under this load, time AWS does not spend and the queue path would be
//     charged for.
//   - async: what the template did before the queue: each expiry invokes the
//     function asynchronously, reserved concurrency C is the only throttle,
//     nothing paces, and a failed invocation is retried as Lambda documents
//     for asynchronous invocation — after 1 minute, then after 2 — and then
//     handed to the on-failure destination. An event that finds every
//     instance busy is throttled as Lambda documents: back to its queue, tried
//     again after 1 s, 2 s, 4 s … up to 5 minutes.
//   - async-best: the same, but throttled events wait in line for the next
//     free instance without further delay — a bound that Lambda does not
//     reach, shown so the comparison cannot flatter the queue path.
//
// Closes, delays and duplicates are counted from the events that arrive at the
// PutEvents endpoint, as a consumer of the bus would see them, not from what
// the function believes it published: a publisher that drops or mangles an
// entry shows as a shortfall. Delivery is at least once — SQS may hand a
// message to two pollers, Lambda retries — so the same outcome may arrive
// twice; that is counted and shown, while outcomes of one recharge that
// contradict each other — two ends (CLOSED, SUCCESS, refused), or one end
// announced with different details — never may be.
//
// Scenarios (-scenario): healthy runs the paths of -paths against a WeChat Pay
// that only rate-limits; outage-503, outage-429 and outage-500 run the queue
// path alone, WeChat Pay answering every request 503 SERVICE_UNAVAILABLE, 429
// RATELIMIT_EXCEEDED or 500 SYSTEM_ERROR for -outage from -outage-at into the
// burst — or, with -outage-every k, one request in k: a partial outage, which
// cuts the pace without stopping the closes. Their tables
// add what the receive budget is judged by: dead-lettered expiries (counted in
// the dead-letter queue), recharges with a GAVE_UP outcome on the bus, requests
// per recharge outside the outage window (the simulator counts those the
// outage answered), and the time from the outage's end to the last close.
//
// The paid scenario runs the queue path after the recharge's whole life:
// every recharge's expiry is set through the expiry service as a schedule in
// moto's Scheduler (one group per run), -paid of the recharges are paid in the
// simulator, whose notifications go to the real notification service (moto's
// Scheduler for the deletes, moto's DynamoDB for its marks, the PutEvents
// endpoint for Recharge Succeeded) and are all answered before the burst; at
// the deadline the tool plays Scheduler, reading the schedules left in the
// group and putting each one's target input on its queue. Its table adds the
// schedules set and deleted, the notifications made and acknowledged, the
// requests about paid recharges (counted per recharge in front of the
// simulator) and each paid recharge's outcomes on the bus; then the ratio of
// its requests per expiry to the healthy queue path's, run beside it on the
// same N when -scenario does not name healthy.
//
// It prints a progress line while each runs and one table per path.
//
//	go run ./internal/cmd/scale -n 20000 -rate 200 -latency 30ms -instances 10 -scenario all
package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/closer"
	"close-recharge/internal/handler"
	"close-recharge/internal/outcome"
	"close-recharge/internal/pace"
	"close-recharge/internal/publish"
	"close-recharge/internal/queue"
	"close-recharge/internal/recharge"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/simulator"
	"close-recharge/internal/trigger"
	"close-recharge/internal/wechatpay"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

type options struct {
	scenario  string  // healthy, outage-503, outage-429 or paid
	paid      float64 // the share of recharges the paid scenario pays before the deadline
	n         int
	rate      float64
	latency   time.Duration
	instances int
	// WECHATPAY_MAX_INSTANCES: the instances the rate is shared among (0: instances).
	maxInstances int
	batch        int
	timeout      time.Duration
	maxReceive   int
	paths        string
	limit        time.Duration
	batchGap     time.Duration // between an invocation's end and the next batch's, at least
	shards       int
	// WeChat Pay answers every request outageStatus (0: never) for outageFor,
	// from outageAt into the burst; with outageEvery above 1, one request in
	// outageEvery.
	outageAt, outageFor time.Duration
	outageStatus        int
	outageEvery         int
}

const sub = "1900000109"

func run(ctx context.Context, args []string, out, progress io.Writer) error {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 20000, "recharges, all due at once")
	fs.Float64Var(&o.rate, "rate", 200, "WeChat Pay's rate limit for the merchant, requests a second (the simulator's; WECHATPAY_MAX_RPS is set to it)")
	fs.DurationVar(&o.latency, "latency", 30*time.Millisecond, "WeChat Pay's answer time")
	fs.IntVar(&o.instances, "instances", 10, "instances at once: the mapping's maximum concurrency, or the reserved concurrency of the async path")
	fs.IntVar(&o.maxInstances, "max-instances", 0, "WECHATPAY_MAX_INSTANCES, the instances each paced instance shares the rate with (0: -instances); "+
		"the template sets it to ReservedConcurrency, above the mapping's maximum concurrency (12 for 10), so that the queue path alone paces below R")
	fs.IntVar(&o.batch, "batch", 10, "the event source mapping's batch size")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "the function timeout")
	fs.IntVar(&o.maxReceive, "max-receive", 15, "the expiry queue's maxReceiveCount, and the function's EXPIRY_MAX_RECEIVE_COUNT")
	fs.StringVar(&o.paths, "paths", "queue,async,async-best", "which paths to run: queue, async (Lambda's throttling as documented), async-best (throttled events wait in line, undelayed)")
	fs.DurationVar(&o.batchGap, "batch-gap", 0, "the queue path's least time from an invocation's end to the next one's start: the mapping, at its maximum concurrency, "+
		"reads the next batch only when an invocation ends (a ReceiveMessage and an invoke, tens of ms in AWS), where the pollers here receive ahead")
	fs.DurationVar(&o.limit, "limit", 15*time.Minute, "give up on a path after this long")
	fs.IntVar(&o.shards, "shards", 0, "queues the queue path spreads the burst over, to keep moto's per-message scans short (0: one batch to a queue)")
	scenarios := fs.String("scenario", "healthy", "which scenarios to run, comma-separated or all: healthy (the paths of -paths on a healthy WeChat Pay), "+
		"outage-503, outage-429 and outage-500 (the queue path only, WeChat Pay answering every request — or one in -outage-every — 503 SERVICE_UNAVAILABLE, 429 RATELIMIT_EXCEEDED or 500 SYSTEM_ERROR, for -outage from -outage-at into the burst; not in all), "+
		"paid (the queue path after every expiry is scheduled and -paid of the recharges are paid before the deadline; beside a healthy queue path)")
	fs.DurationVar(&o.outageFor, "outage", 120*time.Second, "how long the outage scenarios' outage lasts")
	fs.DurationVar(&o.outageAt, "outage-at", 20*time.Second, "when into the burst the outage starts")
	fs.IntVar(&o.outageEvery, "outage-every", 1, "the outage scenarios answer one request in this many that arrive in the outage (1: every one; 10: a tenth — a partial outage)")
	fs.Float64Var(&o.paid, "paid", 0.3, "the share of recharges the paid scenario pays before the deadline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.paid < 0 || o.paid > 1 {
		return fmt.Errorf("-paid: %v is not a share between 0 and 1", o.paid)
	}
	if o.shards <= 0 {
		per := min(max(o.batch, 1), 10) // what one receive takes
		o.shards = max(1, (o.n+per-1)/per)
	}
	runs, err := scenarioRuns(o, *scenarios)
	if err != nil {
		return err
	}
	moto, stop, err := awstest.StartMoto()
	if err != nil {
		return err
	}
	defer stop()
	cfg := awstest.Config(moto)
	cfg.HTTPClient = awsHTTPClient(4 * o.instances)
	// The instances read the merchant secret as a local run does: from a file.
	secret, err := writeSecret()
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(secret))
	// The healthy queue path's requests per recharge: what the paid scenario
	// is judged against, measured in the same run.
	var healthy *result
	for _, sc := range runs {
		var results []result
		for _, path := range []struct {
			name string
			run  func(context.Context, options, aws.Config, string, io.Writer) (result, error)
		}{{"queue", queuePath}, {"async", asyncPath(true)}, {"async-best", asyncPath(false)}, {"paid", paidPath}} {
			if !slices.Contains(sc.paths, path.name) {
				continue
			}
			if path.name == "paid" && healthy == nil {
				base := sc.o
				base.scenario = "healthy"
				r, err := queuePath(ctx, base, cfg, secret, progress)
				if err != nil {
					return fmt.Errorf("healthy, queue path (the paid scenario's baseline): %w", err)
				}
				r.print(out, base)
				healthy = &r
			}
			r, err := path.run(ctx, sc.o, cfg, secret, progress)
			if err != nil {
				return fmt.Errorf("%s, %s path: %w", sc.o.scenario, path.name, err)
			}
			results = append(results, r)
			r.print(out, sc.o)
			if sc.o.scenario == "healthy" && path.name == "queue" {
				healthy = &r
			}
			if path.name == "paid" {
				paid, base := float64(r.requests)/float64(sc.o.n), float64(healthy.requests)/float64(sc.o.n)
				fmt.Fprintf(out, "paid ÷ healthy, queue path, same N: requests per expiry %.3f vs %.3f = %.3f× (target ≤ 0.75×)\n",
					paid, base, paid/max(base, 1e-9))
			}
		}
		if len(results) > 1 && results[0].name == "queue" {
			q := results[0]
			for _, a := range results[1:] {
				fmt.Fprintf(out, "queue path ÷ %s path, same load: closes/s %.2f×, p99 due→closed %.2f×, lost %d vs %d, 429 share %.2f%% vs %.2f%%\n",
					a.name, q.closesPerSec()/max(a.closesPerSec(), 1e-9), float64(q.p99)/max(float64(a.p99), 1), q.lost, a.lost, 100*q.share429(), 100*a.share429())
			}
		}
	}
	return nil
}

// scenarioRun is one scenario: its options and the paths it runs.
type scenarioRun struct {
	o     options
	paths []string
}

// outageStatuses are the outage scenarios' answers.
var outageStatuses = map[string]int{"outage-503": http.StatusServiceUnavailable, "outage-429": http.StatusTooManyRequests,
	"outage-500": http.StatusInternalServerError}

// scenarioRuns reads -scenario: the healthy one runs the paths of -paths; an
// outage one runs the queue path alone, the path whose receive budget it
// tests.
func scenarioRuns(o options, list string) ([]scenarioRun, error) {
	if list == "all" {
		list = "healthy,outage-503,outage-429,paid"
	}
	var runs []scenarioRun
	for name := range strings.SplitSeq(list, ",") {
		sc := scenarioRun{o: o, paths: []string{"queue"}}
		sc.o.scenario = name
		switch {
		case name == "healthy":
			sc.o.outageFor, sc.paths = 0, strings.Split(o.paths, ",")
		case name == "paid":
			sc.o.outageFor, sc.paths = 0, []string{"paid"}
		default:
			if sc.o.outageStatus = outageStatuses[name]; sc.o.outageStatus == 0 {
				return nil, fmt.Errorf("-scenario: %q is none of healthy, outage-503, outage-429, outage-500, paid, all", name)
			}
		}
		runs = append(runs, sc)
	}
	return runs, nil
}

// result is what one path did with the load.
type result struct {
	name         string
	drain        time.Duration // from the burst's start to the last recharge closed
	closed       int
	requests     int // that reached WeChat Pay
	throttled    int // answered 429
	invocations  int
	throttles    int // asynchronous events that found no free instance
	redeliveries int // records received more than once, or events retried after a function error
	lost         int // still RECHARGING at the end
	deadLettered int // in the dead-letter queue, or handed to the on-failure destination
	gaveUpEvents int // recharges with a GAVE_UP outcome on the bus
	copies       int // delayed copies of records that got no turn to call WeChat Pay, or failed for the first time
	outaged      int // requests the outage answered
	closes       int // RECHARGING → CLOSED in WeChat Pay's books
	expiries     int // put on the queue: every recharge, or those still scheduled at the deadline
	repeats      int // outcome events that arrived again, identical to one before: at-least-once delivery
	conflicts    int // recharges announced in two ends that cannot both hold, or twice in one end with different outcomes
	malformed    int // entries that are no outcome on the bus from the source, or a Recharge Closed of a recharge not CLOSED
	p50, p99     time.Duration
	gaveUp       time.Duration // the path's time limit, when it ran out
	paid         paidFigures   // the paid scenario's
}

func (r result) closesPerSec() float64 { return float64(r.closed) / max(r.drain.Seconds(), 1e-9) }
func (r result) share429() float64     { return float64(r.throttled) / max(float64(r.requests), 1) }

// perRecharge is requests sent per recharge: all of them, and those that
// arrived outside the outage window.
func (r result) perRecharge(n int) (all, outside float64) {
	return float64(r.requests) / float64(n), float64(r.requests-r.outaged) / float64(n)
}

func (r result) drainText() string {
	if r.gaveUp > 0 {
		return fmt.Sprintf("not drained: stopped at %v", r.gaveUp)
	}
	return r.drain.Round(100 * time.Millisecond).String()
}

func (r result) print(w io.Writer, o options) {
	fmt.Fprintf(w, "\n%s, %s path — N %d, R %.0f/s, L %v, C %d, maxReceiveCount %d\n", o.scenario, r.name, o.n, o.rate, o.latency, o.instances, o.maxReceive)
	if o.outageStatus != 0 {
		which := "every request"
		if o.outageEvery > 1 {
			which = fmt.Sprintf("one request in %d", o.outageEvery)
		}
		fmt.Fprintf(w, "WeChat Pay answers %s %d from %v to %v into the burst\n", which, o.outageStatus, o.outageAt, o.outageAt+o.outageFor)
	}
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "|---|---|")
	due := o.n // the expiries that came due: all N, or those the paid scenario left scheduled
	if r.expiries > 0 {
		due = r.expiries
	}
	rows := [][2]string{
		{"drain time (burst start → last close)", r.drainText()},
		{"closes/s ÷ R", fmt.Sprintf("%.3f (%.1f/s)", r.closesPerSec()/o.rate, r.closesPerSec())},
		{"requests answered 429", fmt.Sprintf("%.2f%% (%d of %d)", 100*r.share429(), r.throttled, r.requests)},
		{"invocations", strconv.Itoa(r.invocations)},
		{"throttled (no free instance)", strconv.Itoa(r.throttles)},
		{"redeliveries", strconv.Itoa(r.redeliveries)},
		{"lost (still RECHARGING at the end)", strconv.Itoa(r.lost)},
		{"dead-lettered / on-failure", strconv.Itoa(r.deadLettered)},
		{"GAVE_UP events (recharges)", strconv.Itoa(r.gaveUpEvents)},
		{"delayed copies (no turn, or a first failure)", strconv.Itoa(r.copies)},
		{"closed in WeChat Pay's books / announced on the bus", fmt.Sprintf("%d / %d", r.closes, r.closed)},
		{"duplicate deliveries (an identical outcome again)", strconv.Itoa(r.repeats)},
		{"conflicting / malformed outcomes", fmt.Sprintf("%d / %d", r.conflicts, r.malformed)},
		{"due → closed, p50 / p99", fmt.Sprintf("%v / %v (N/R = %v)", r.p50.Round(100*time.Millisecond), r.p99.Round(100*time.Millisecond),
			time.Duration(float64(due)/o.rate*float64(time.Second)))},
	}
	all, outside := r.perRecharge(o.n)
	rows = append(rows, [2]string{"requests sent per recharge (per expiry, all N)", fmt.Sprintf("%.3f", all)})
	if o.scenario == "paid" {
		rows = append(rows, r.paid.rows(o.n)...)
	}
	if o.outageStatus != 0 {
		rows = append(rows,
			[2]string{"requests per recharge outside the outage (answered by it)", fmt.Sprintf("%.3f (%d)", outside, r.outaged)},
			[2]string{"outage end → last close", (r.drain - o.outageAt - o.outageFor).Round(100 * time.Millisecond).String()})
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
}

// load is one path's simulator, recharges and tally.
type load struct {
	o       options
	sim     *simulator.Server
	asked   *asked // the requests about each recharge that reached the simulator
	simURL  string
	srv     *http.Server
	start   time.Time
	bus     *arrivals // what arrived at the PutEvents endpoint
	busSrv  *http.Server
	events  aws.Config // the PutEvents endpoint
	secret  string     // path of the merchant secret file
	numbers []string
	due     int // the expiries the burst is to close: every recharge's, or those left scheduled
	// The paid scenario's: the recharges paid before the deadline, and its figures.
	paid        []string
	isPaid      map[string]bool
	paidFigures paidFigures
}

func newLoad(o options, cfg aws.Config, secret string) (*load, error) {
	sim := simulator.New(simulator.SharedKeys(), simulator.WithRateLimit(o.rate, max(1, int(o.rate/10))), simulator.WithLatency(o.latency))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	asked := &asked{next: sim, by: map[string]int{}}
	srv := &http.Server{Handler: asked, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l := &load{o: o, sim: sim, asked: asked, simURL: "http://" + ln.Addr().String(), srv: srv, bus: newArrivals(busName, source), secret: secret,
		isPaid: map[string]bool{}}
	for i := range o.n {
		l.numbers = append(l.numbers, fmt.Sprintf("RC%08d", i))
	}
	l.due = o.n
	seeds := make([]simulator.SeedRecharge, len(l.numbers))
	for i, no := range l.numbers {
		seeds[i] = simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: no, Amount: 10000}
	}
	if err := sim.Seed(seeds...); err != nil {
		return nil, err
	}
	pe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.busSrv = &http.Server{Handler: l.bus, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = l.busSrv.Serve(pe) }()
	l.events = cfg.Copy()
	l.events.BaseEndpoint = aws.String("http://" + pe.Addr().String())
	return l, nil
}

// asked counts, in front of the simulator, the requests that reached it
// about each recharge (queries and closes, by out_recharge_no).
type asked struct {
	next http.Handler
	mu   sync.Mutex
	by   map[string]int
}

// aboutPrefix starts the path of a query or close of one recharge.
const aboutPrefix = "/v3/platsolution/ecommerce/recharges/out-recharge-no/"

func (a *asked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, aboutPrefix); ok {
		no, _ := strings.CutSuffix(rest, "/close")
		a.mu.Lock()
		a.by[no]++
		a.mu.Unlock()
	}
	a.next.ServeHTTP(w, r)
}

// about is how many requests about the recharges numbers reached the simulator.
func (a *asked) about(numbers []string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, no := range numbers {
		n += a.by[no]
	}
	return n
}

// instance is one Lambda instance: the handler as main builds it, with its own
// caches and connections.
func (l *load) instance(paced bool, hopts ...handler.Option) *handler.Handler {
	cache := secretstore.NewCache(&secretstore.File{Path: l.secret}, 5*time.Minute)
	opts := []wechatpay.Option{wechatpay.WithBaseURL(l.simURL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient())}
	if paced {
		share := l.o.maxInstances
		if share <= 0 {
			share = l.o.instances
		}
		opts = append(opts, wechatpay.WithPacer(pace.New(l.o.rate, share)))
	}
	pub := &timed{next: &publish.EventBridge{API: eventbridge.NewFromConfig(l.events), Bus: busName, Source: source, Keys: cache}}
	svc := closer.New(cache, wechatpay.NewPool(opts...), pub)
	return handler.New(svc, slog.New(slog.DiscardHandler), nil, hopts...)
}

// finish counts what the simulator holds and what arrived on the bus.
func (l *load) finish(r *result) {
	defer l.srv.Close()
	defer l.busSrv.Close()
	r.closed, r.repeats, r.conflicts, r.malformed, r.drain = l.bus.results(l.start)
	r.gaveUpEvents = l.bus.gaveUpCount()
	r.closes = l.sim.Closes()
	r.outaged = l.sim.Outaged()
	r.requests = l.sim.Calls("close") + l.sim.Calls("query")
	r.throttled = l.sim.Throttled()
	for _, no := range l.numbers {
		if rc, _ := l.sim.Recharge(sub, no); rc.RechargeState == recharge.StateRecharging {
			r.lost++
		}
	}
	r.p50, r.p99 = l.bus.delays(l.start)
	if len(l.paid) > 0 {
		l.finishPaid()
	}
	r.paid = l.paidFigures
}

// begin starts the burst's clock, and the outage's.
func (l *load) begin() {
	l.start = time.Now()
	if l.o.outageStatus != 0 {
		l.sim.SetOutage(simulator.Outage{Start: l.start.Add(l.o.outageAt), Length: l.o.outageFor, Status: l.o.outageStatus, Every: l.o.outageEvery})
	}
}

// progress prints a line every 5 s until done is closed.
func (l *load) progress(w io.Writer, name string, done <-chan struct{}, extra func() string) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			closed := l.bus.closedCount()
			elapsed := time.Since(l.start)
			fmt.Fprintf(w, "[%s] %3.0fs: %d/%d closed (%.0f/s), 429s %d, %s\n", name, elapsed.Seconds(), closed, l.due,
				float64(closed)/elapsed.Seconds(), l.sim.Throttled(), extra())
		}
	}
}

// shard is one of the queues the burst is spread over.
type shard struct{ url, arn string }

// enqueuer puts the burst's expiries on the shards, before the burst's clock
// starts, and says how many it put there: the number the run waits to see
// settled. It may fill in the figures of its own scenario.
type enqueuer func(ctx context.Context, l *load, api *sqs.Client, shards []shard, dlqARN string, r *result) (int, error)

func queuePath(ctx context.Context, o options, cfg aws.Config, secret string, progress io.Writer) (result, error) {
	// The expiries are all on the queue at once, as Scheduler puts them there at
	// their common deadline; the burst starts when the last is in.
	return runQueue(ctx, o, cfg, secret, progress, func(ctx context.Context, l *load, api *sqs.Client, shards []shard, _ string, _ *result) (int, error) {
		urls := make([]string, len(shards))
		for i, sh := range shards {
			urls[i] = sh.url
		}
		enqueued := time.Now()
		if err := sendAll(ctx, api, urls, l.numbers); err != nil {
			return 0, err
		}
		fmt.Fprintf(progress, "[queue] %d expiries on %d queues in %v\n", len(l.numbers), len(shards), time.Since(enqueued).Round(time.Second))
		return len(l.numbers), nil
	})
}

// runQueue runs the queue path on the expiries enqueue puts on its queues.
func runQueue(ctx context.Context, o options, cfg aws.Config, secret string, progress io.Writer, enqueue enqueuer) (result, error) {
	r := result{name: "queue"}
	l, err := newLoad(o, cfg, secret)
	if err != nil {
		return r, err
	}
	api := sqs.NewFromConfig(cfg)
	name := awstest.UniqueName("expiry")
	dlq, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return r, err
	}
	region, account := awstest.Region, awstest.AccountID
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": fmt.Sprintf("arn:aws:sqs:%s:%s:%s-dlq", region, account, name),
		"maxReceiveCount": strconv.Itoa(o.maxReceive)})
	shards := make([]shard, max(o.shards, 1))
	for i := range shards {
		qn := fmt.Sprintf("%s-%d", name, i)
		q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(qn), Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(6 * o.timeout.Seconds())),
			string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
		}})
		if err != nil {
			return r, err
		}
		shards[i] = shard{aws.ToString(q.QueueUrl), fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, qn)}
	}
	expiries, err := enqueue(ctx, l, api, shards, fmt.Sprintf("arn:aws:sqs:%s:%s:%s-dlq", region, account, name), &r)
	if err != nil {
		return r, err
	}
	r.expiries, l.due = expiries, expiries

	l.begin()
	done := make(chan struct{})
	var receives, invocations, waiting, invoking, copies, receiveCalls, receiveTime, emptyReceives atomic.Int64
	go l.progress(progress, "queue", done, func() string {
		n := max(invocations.Load(), 1)
		return fmt.Sprintf("receives %d, copies %d, outage answered %d, invocations %d (each %v, after waiting %v for a batch; publish %v; ReceiveMessage %v, %d of %d empty)", receives.Load(), copies.Load(), l.sim.Outaged(), invocations.Load(),
			time.Duration(invoking.Load()/n).Round(time.Millisecond), time.Duration(waiting.Load()/n).Round(time.Millisecond),
			time.Duration(publishTime.Load()/max(publishCalls.Load(), 1)).Round(time.Millisecond),
			time.Duration(receiveTime.Load()/max(receiveCalls.Load(), 1)).Round(time.Millisecond), emptyReceives.Load(), receiveCalls.Load())
	})
	// The event source mapping: its pollers receive batches ahead of the
	// instances and delete what they settled afterwards, beside the next
	// invocation, as the mapping does; at most C batches run at once, one per
	// instance.
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type received struct {
		sh   shard
		msgs []sqstypes.Message
	}
	// A shard found empty is left alone for a second: a record made visible
	// again comes back no sooner than that, and every empty receive is moto's
	// time taken from the others.
	emptyUntil := make([]atomic.Int64, len(shards))
	due := newDueQueues(shards)
	// The run ends when every expiry is settled — deleted after an invocation
	// reported it done (and not for a copy put back in its place), or
	// dead-lettered — not when every close has arrived:
	// an outcome the publisher lost must show as a shortfall, not as a run
	// that never ends.
	var deletedMu sync.Mutex
	deleted := map[string]bool{} // message ids
	// poll receives batches from the shards in turn, starting at first.
	poll := func(first int, ready chan<- received) {
		skipped := 0
		for next := first; pollCtx.Err() == nil; next++ {
			i := next % len(shards)
			if d, ok := due.next(time.Now()); ok {
				i, next = d, next-1 // the walk goes on where it was after this one
			} else if time.Now().UnixNano() < emptyUntil[i].Load() {
				if skipped++; skipped >= len(shards) {
					skipped = 0
					time.Sleep(50 * time.Millisecond)
				}
				continue
			}
			skipped = 0
			sh := shards[i]
			asked := time.Now()
			got, err := api.ReceiveMessage(pollCtx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(sh.url), MaxNumberOfMessages: int32(min(o.batch, 10)),
				MessageSystemAttributeNames: recordAttributes, MessageAttributeNames: []string{"All"}})
			receiveCalls.Add(1)
			receiveTime.Add(int64(time.Since(asked)))
			if err != nil || len(got.Messages) == 0 {
				emptyReceives.Add(1)
				emptyUntil[i].Store(time.Now().Add(time.Second).UnixNano())
				continue
			}
			receives.Add(int64(len(got.Messages)))
			select {
			case ready <- received{sh, got.Messages}:
			case <-pollCtx.Done():
			}
		}
	}
	var wg sync.WaitGroup
	for p := range o.instances {
		// As main builds it with the queue's maxReceiveCount as EXPIRY_MAX_RECEIVE_COUNT.
		h := l.instance(true, handler.WithMaxReceiveCount(o.maxReceive), handler.WithRequeuer(&announced{next: &queue.Visibility{API: api}, due: due}),
			handler.WithResender(&counted{next: &queue.Copies{API: api}, sent: &copies, due: due}))
		ready := make(chan received, 2)
		go func() { poll(p*len(shards)/o.instances, ready); close(ready) }()
		wg.Go(func() { // the instance
			idle := time.Now()
			for b := range ready {
				if gap := o.batchGap - time.Since(idle); gap > 0 {
					time.Sleep(gap)
				}
				waiting.Add(int64(time.Since(idle)))
				invocations.Add(1)
				batch := events.SQSEvent{}
				for _, m := range b.msgs {
					batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: b.sh.arn, AWSRegion: region, Attributes: m.Attributes,
						MessageAttributes: messageAttributes(m)})
				}
				payload, _ := json.Marshal(batch)
				ictx, icancel := context.WithTimeout(pollCtx, o.timeout)
				began := time.Now()
				answer, err := h.Invoke(ictx, payload)
				invoking.Add(int64(time.Since(began)))
				idle = time.Now()
				icancel()
				if err != nil {
					continue // a function error: the whole batch comes back after its visibility
				}
				var resp events.SQSEventResponse
				if json.Unmarshal(answer, &resp) != nil {
					continue
				}
				failed := map[string]bool{}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				for i, m := range b.msgs {
					if !failed[aws.ToString(m.MessageId)] {
						del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
					}
				}
				if len(del) > 0 {
					wg.Go(func() {
						out, err := api.DeleteMessageBatch(pollCtx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(b.sh.url), Entries: del})
						if err != nil {
							return
						}
						deletedMu.Lock()
						defer deletedMu.Unlock()
						for _, ok := range out.Successful {
							if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i < len(b.msgs) {
								deleted[aws.ToString(b.msgs[i].MessageId)] = true
							}
						}
					})
				}
			}
		})
	}
	deadLettered := func() int {
		attrs, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		return n
	}
	waitErr := waitSettled(ctx, expiries, o.limit, func() int {
		deletedMu.Lock()
		n := len(deleted)
		deletedMu.Unlock()
		// A record copied back is deleted, its copy still to come.
		return n + deadLettered() - int(copies.Load())
	})
	cancel()
	wg.Wait()
	close(done)
	if waitErr != nil {
		r.gaveUp = o.limit
		fmt.Fprintf(progress, "[queue] %v\n", waitErr)
	}
	r.invocations = int(invocations.Load())
	r.copies = int(copies.Load())
	r.redeliveries = int(receives.Load()) - expiries - r.copies
	r.deadLettered = deadLettered()
	l.finish(&r)
	return r, nil
}

// recordAttributes are what the event source mapping puts in each record.
var recordAttributes = []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount,
	sqstypes.MessageSystemAttributeNameSentTimestamp, sqstypes.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
	sqstypes.MessageSystemAttributeNameSenderId}

// messageAttributes are m's message attributes as the event source mapping
// puts them in a record: the copies' carried counts and first error ride on them.
func messageAttributes(m sqstypes.Message) map[string]events.SQSMessageAttribute {
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	return attrs
}

// counted passes copies on and counts those sent: each stands for a record
// deleted without being settled.
type counted struct {
	next handler.Resender
	sent *atomic.Int64
	due  *dueQueues
}

func (c *counted) ResendLater(ctx context.Context, queueARN string, records map[string]trigger.Copy, after map[string]time.Duration) map[string]error {
	failed := c.next.ResendLater(ctx, queueARN, records, after)
	c.sent.Add(int64(len(records) - len(failed)))
	c.due.mark(queueARN, after)
	return failed
}

// announced tells the pollers when the records it brings back are visible.
type announced struct {
	next handler.Requeuer
	due  *dueQueues
}

func (a *announced) RetrySoon(ctx context.Context, queueARN string, after map[string]time.Duration) map[string]error {
	failed := a.next.RetrySoon(ctx, queueARN, after)
	a.due.mark(queueARN, after)
	return failed
}

// dueQueues knows when a queue will hold a record again — a copy visible
// after its delay, a record whose visibility was shortened — so that a poller
// receives from it then. The mapping's pollers keep asking their one queue and
// take such a record at its time; a poller here walks thousands of queues,
// and a walk over queues found empty takes seconds that AWS would not add to
// a straggler's wait.
type dueQueues struct {
	index map[string]int // queue ARN → shard

	mu sync.Mutex
	at dueHeap // soonest first
}

func newDueQueues(shards []shard) *dueQueues {
	d := &dueQueues{index: map[string]int{}}
	for i, sh := range shards {
		d.index[sh.arn] = i
	}
	return d
}

// mark notes the records of queueARN visible after their delays, which SQS
// counts in whole seconds.
func (d *dueQueues) mark(queueARN string, after map[string]time.Duration) {
	i, ok := d.index[queueARN]
	if !ok || len(after) == 0 {
		return
	}
	soonest := time.Duration(math.MaxInt64)
	for _, a := range after {
		soonest = min(soonest, a)
	}
	t := time.Now().Add(time.Duration(math.Ceil(max(soonest, 0).Seconds()))*time.Second + 100*time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	heap.Push(&d.at, dueShard{t, i})
}

// next takes a shard whose record is due by now.
func (d *dueQueues) next(now time.Time) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.at) == 0 || d.at[0].at.After(now) {
		return 0, false
	}
	return heap.Pop(&d.at).(dueShard).shard, true
}

type dueShard struct {
	at    time.Time
	shard int
}

// dueHeap is a container/heap of shards, the soonest due on top.
type dueHeap []dueShard

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueShard)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// waitSettled waits until settled counts all n expiries, or limit passes.
func waitSettled(ctx context.Context, n int, limit time.Duration, settled func() int) error {
	deadline := time.Now().Add(limit)
	for {
		got := settled()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gave up after %v with %d of %d expiries settled", limit, got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendAll puts one message per recharge on the queues, ten to a call, from
// four senders.
func sendAll(ctx context.Context, api *sqs.Client, urls []string, numbers []string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	type chunk struct {
		url     string
		numbers []string
	}
	chunks := make(chan chunk)
	for range 4 {
		wg.Go(func() {
			for c := range chunks {
				var entries []sqstypes.SendMessageBatchRequestEntry
				for i, no := range c.numbers {
					body := fmt.Sprintf(`{"sub_mchid":%q,"out_recharge_no":%q}`, sub, no)
					entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)})
				}
				if _, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(c.url), Entries: entries}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 0; i < len(numbers); i += 10 {
		chunks <- chunk{urls[i/10%len(urls)], numbers[i:min(i+10, len(numbers))]}
	}
	close(chunks)
	wg.Wait()
	close(errs)
	return <-errs
}

// asyncPath: each expiry is an asynchronous invocation; Lambda runs at most C
// at once (reserved concurrency), retries a failed invocation after 1 minute
// and then 2, and hands it to the on-failure destination after that.
//
// With throttle set, an event that finds all C busy is throttled as Lambda
// documents for asynchronous invocation: it goes back to the internal queue
// and is tried again after 1 s, then after twice as long each time up to 5
// minutes, for up to 6 hours (the maximum event age). AWS documents no jitter;
// each wait is drawn from its second half, which spreads the retries out and so
// flatters this path — without it every throttled event of the burst would
// come back at the same instant. Lambda also "increases the retry interval and
// reduces the rate at which it reads events" when its queue is long; that is
// not modelled either. Without throttle, events wait in line for a free
// instance and are not delayed further: the best case, not what Lambda does.
func asyncPath(throttle bool) func(context.Context, options, aws.Config, string, io.Writer) (result, error) {
	return func(ctx context.Context, o options, cfg aws.Config, secret string, progress io.Writer) (result, error) {
		return runAsync(ctx, o, cfg, secret, progress, throttle)
	}
}

// Lambda's handling of throttled asynchronous events.
const (
	throttleFirst  = time.Second
	throttleMax    = 5 * time.Minute
	maxEventAge    = 6 * time.Hour
	errorRetries   = 2           // after a function error
	errorRetryUnit = time.Minute // the first retry after 1 minute, the second after 2
)

// throttleDelay is how long the k-th throttle (k from 0) of an event holds it
// back: 1 s doubling up to 5 minutes, drawn from the interval's second half.
func throttleDelay(k int, rnd *rand.Rand) time.Duration {
	d := throttleMax
	if k < 9 { // 1 s << 9 > 5 min
		d = min(throttleFirst<<k, throttleMax)
	}
	return d/2 + time.Duration(rnd.Int64N(int64(d/2)+1))
}

func runAsync(ctx context.Context, o options, cfg aws.Config, secret string, progress io.Writer, throttle bool) (result, error) {
	r := result{name: "async"}
	if !throttle {
		r.name = "async, best case"
	}
	l, err := newLoad(o, cfg, secret)
	if err != nil {
		return r, err
	}
	type event struct {
		no        string
		attempt   int // function errors so far
		throttles int
	}
	pending := make(chan event, o.n)
	l.begin()
	for _, no := range l.numbers {
		pending <- event{no: no}
	}
	var invocations, retried, throttled, onFailure, settled atomic.Int64
	done := make(chan struct{})
	go l.progress(progress, r.name, done, func() string {
		return fmt.Sprintf("invocations %d, throttled %d, retries after errors %d, on-failure %d", invocations.Load(), throttled.Load(), retried.Load(), onFailure.Load())
	})
	runCtx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	later := func(d time.Duration, ev event) {
		time.AfterFunc(d, func() { pending <- ev })
	}
	// idle holds the instances not running an invocation: at most C run at once.
	idle := make(chan *handler.Handler, o.instances)
	for range o.instances {
		idle <- l.instance(false)
	}
	invoke := func(h *handler.Handler, ev event) {
		defer func() { idle <- h }()
		invocations.Add(1)
		ictx, icancel := context.WithTimeout(runCtx, o.timeout)
		_, err := h.Invoke(ictx, fmt.Appendf(nil, `{"sub_mchid":%q,"out_recharge_no":%q}`, sub, ev.no))
		icancel()
		switch {
		case err == nil:
			settled.Add(1)
		case ev.attempt < errorRetries:
			retried.Add(1)
			ev.attempt++
			later(time.Duration(ev.attempt)*errorRetryUnit, ev)
		default:
			onFailure.Add(1)
			settled.Add(1)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { // Lambda's poller of the function's asynchronous queue
		rnd := rand.New(rand.NewPCG(1, 2))
		for {
			var ev event
			select {
			case ev = <-pending:
			case <-runCtx.Done():
				return
			}
			var h *handler.Handler
			if throttle {
				select {
				case h = <-idle:
				default: // every instance busy: throttled
					throttled.Add(1)
					d := throttleDelay(ev.throttles, rnd)
					ev.throttles++
					if time.Since(l.start)+d > maxEventAge {
						onFailure.Add(1)
						settled.Add(1)
						continue
					}
					later(d, ev)
					continue
				}
			} else {
				select {
				case h = <-idle:
				case <-runCtx.Done():
					return
				}
			}
			wg.Go(func() { invoke(h, ev) })
		}
	})
	for runCtx.Err() == nil && settled.Load() < int64(o.n) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(done)
	if settled.Load() < int64(o.n) {
		r.gaveUp = o.limit
		fmt.Fprintf(progress, "[%s] gave up after %v with %d of %d events settled\n", r.name, o.limit, settled.Load(), o.n)
	}
	r.invocations = int(invocations.Load())
	r.redeliveries = int(retried.Load())
	r.throttles = int(throttled.Load())
	r.deadLettered = int(onFailure.Load())
	l.finish(&r)
	return r, nil
}

// timed passes outcomes on to EventBridge and adds up how long that took,
// for the progress line.
type timed struct{ next closer.Publisher }

var publishTime, publishCalls atomic.Int64

func (p *timed) Publish(ctx context.Context, evs []closer.Event) []error {
	t0 := time.Now()
	errs := p.next.Publish(ctx, evs)
	publishTime.Add(int64(time.Since(t0)))
	publishCalls.Add(1)
	return errs
}

// The bus and source the instances publish to.
const (
	busName = "close-recharge-outcomes"
	source  = "wechatpay.recharge"
)

// arrivals is the PutEvents endpoint the instances' EventBridge publisher
// posts to. It takes every entry, as EventBridge does, and keeps what arrived.
type arrivals struct {
	bus, source string
	ids         atomic.Int64

	mu        sync.Mutex
	outcomes  map[outcomeKey]map[string]int // each distinct outcome (detail-type and detail) → how often it arrived
	ends      map[string]map[string]bool    // out_recharge_no → the ends its outcomes announced (see endOf)
	closedAt  map[string]time.Time          // out_recharge_no → when its first Recharge Closed arrived
	gaveUp    map[string]bool               // out_recharge_no → a GAVE_UP outcome arrived
	kinds     map[string]map[string]int     // out_recharge_no → detail-type → entries that arrived
	malformed int
}

// outcomeKey is what consumers dedupe on.
type outcomeKey struct{ outRechargeNo, state string }

func newArrivals(bus, source string) *arrivals {
	return &arrivals{bus: bus, source: source, outcomes: map[outcomeKey]map[string]int{}, ends: map[string]map[string]bool{},
		closedAt: map[string]time.Time{}, gaveUp: map[string]bool{}, kinds: map[string]map[string]int{}}
}

// ServeHTTP answers EventBridge's PutEvents.
func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct{ EventBusName, Source, DetailType, Detail string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"__type":"ValidationException"}`, http.StatusBadRequest)
		return
	}
	type entry struct{ EventId string }
	out := struct {
		FailedEntryCount int
		Entries          []entry
	}{}
	at := time.Now()
	a.mu.Lock()
	for _, e := range in.Entries {
		a.take(e.EventBusName, e.Source, e.DetailType, e.Detail, at)
		out.Entries = append(out.Entries, entry{EventId: strconv.FormatInt(a.ids.Add(1), 10)})
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// take notes one entry; mu is held.
func (a *arrivals) take(bus, source, detailType, detail string, at time.Time) {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(detail))
	dec.UseNumber()
	if bus != a.bus || source != a.source || dec.Decode(&d) != nil {
		a.malformed++
		return
	}
	no, _ := d["out_recharge_no"].(string)
	state, _ := d["recharge_state"].(string)
	if no == "" || detailType == outcome.Closed && state != recharge.StateClosed {
		a.malformed++
		return
	}
	// Re-encoded with its keys sorted: the same outcome however it was spelled.
	// A GAVE_UP is the same outcome whatever tries it counts: SQS may deliver
	// a record once more (at least once), and that receive counts one more.
	same := d
	e, _ := d["error"].(map[string]any)
	gaveUp := detailType == outcome.Failed && e["code"] == closer.CodeGaveUp
	if gaveUp {
		same = maps.Clone(d)
		same["error"] = map[string]any{"code": closer.CodeGaveUp}
	}
	canonical, err := json.Marshal(same)
	if err != nil {
		a.malformed++
		return
	}
	k := outcomeKey{no, state}
	if a.outcomes[k] == nil {
		a.outcomes[k] = map[string]int{}
	}
	a.outcomes[k][detailType+"\n"+string(canonical)]++
	if end := endOf(detailType, gaveUp); end != "" {
		if a.ends[no] == nil {
			a.ends[no] = map[string]bool{}
		}
		a.ends[no][end] = true
	}
	if a.kinds[no] == nil {
		a.kinds[no] = map[string]int{}
	}
	a.kinds[no][detailType]++
	if _, seen := a.closedAt[no]; !seen && detailType == outcome.Closed {
		a.closedAt[no] = at
	}
	if gaveUp {
		a.gaveUp[no] = true
	}
}

// endOf is the end of a recharge an outcome announces: CLOSED, SUCCESS
// (Recharge Close Rejected, Recharge Succeeded) or refused while RECHARGING
// (Recharge Close Failed). A GAVE_UP announces none: it says the recharge may
// still be open, which no other outcome contradicts. Keyed by recharge_state
// alone, a close and a refusal of one recharge would never meet.
func endOf(detailType string, gaveUp bool) string {
	switch {
	case detailType == outcome.Closed:
		return recharge.StateClosed
	case detailType == outcome.Rejected, detailType == outcome.Succeeded:
		return recharge.StateSuccess
	case detailType == outcome.Failed && !gaveUp:
		return "REFUSED"
	}
	return ""
}

// gaveUpCount is how many recharges a GAVE_UP outcome arrived for.
func (a *arrivals) gaveUpCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.gaveUp)
}

// kindsOf is how many entries of each detail-type arrived about a recharge.
func (a *arrivals) kindsOf(no string) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.kinds[no])
}

func (a *arrivals) closedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.closedAt)
}

// results: recharges announced closed, outcomes that arrived again,
// recharges with contradictory outcomes (two ends, or one outcome type of
// one state arriving with different details), malformed entries, and the
// time from start to the last first close.
func (a *arrivals) results(start time.Time) (closed, repeats, conflicts, malformed int, drain time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.closedAt {
		drain = max(drain, at.Sub(start))
	}
	conflicted := map[string]bool{}
	for k, distinct := range a.outcomes {
		types := map[string]int{}
		for o, times := range distinct {
			repeats += times - 1
			dt, _, _ := strings.Cut(o, "\n")
			if types[dt]++; types[dt] > 1 {
				conflicted[k.outRechargeNo] = true
			}
		}
	}
	for no, ends := range a.ends {
		if len(ends) > 1 {
			conflicted[no] = true
		}
	}
	return len(a.closedAt), repeats, len(conflicted), a.malformed, drain
}

func (a *arrivals) delays(start time.Time) (p50, p99 time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.closedAt) == 0 {
		return 0, 0
	}
	d := make([]time.Duration, 0, len(a.closedAt))
	for _, at := range a.closedAt {
		d = append(d, at.Sub(start))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)]
}

// writeSecret writes the simulator's merchant secret to a file of its own.
func writeSecret() (string, error) {
	// With the APIv3 key: the notification function reads the same secret.
	s := simulator.SharedKeys().Secret(false)
	s.APIv3Key = simulator.SharedKeys().APIv3Key
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "close-recharge-scale-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "secret.json")
	return path, os.WriteFile(path, b, 0o600)
}

// awsHTTPClient keeps enough connections to moto open for every poller and
// publisher at once.
func awsHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}
