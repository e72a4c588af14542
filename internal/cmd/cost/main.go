// Command cost prints what a million closes cost at list prices, per region
// (us-east-1 in USD, cn-north-1 in CNY), for the function as the template
// deploys it (arm64, 256 MB), on both ways a close arrives:
//
//   - api: an HTTP API call, one invocation per close;
//   - queue: an expiry's one-time schedule puts it on the SQS expiry queue and
//     the event source mapping hands records over in batches, one invocation
//     per batch.
//
// The figures it starts from are measured (CPU time per close from make
// bench, requests and redeliveries per close from make scale, log bytes per
// close from the function's own log under the emulator: -log re-measures them
// from a make demo log) or stated assumptions with a flag each (the round trip
// to WeChat Pay, PutEvents' latency, the cold-start share). Costs that do not
// grow with closes (the secret, custom metrics, alarms, idle polling) are
// listed apart as a month's fixed cost, and the lot is set beside an
// always-on container doing the same work.
//
// Beside the closes it prints a recharge's whole life, per million recharges:
// the expiry request (an event on the requests bus or an HTTP API PUT) and the
// recharge-expiry invocation that creates its schedule; for the share not paid
// before the deadline (-paid), the schedule's invocation and the close through
// the queue; and WeChat Pay's one notification per recharge (RECHARGE.SUCCESS
// or RECHARGE.CLOSED) through the HTTP API to recharge-notify, which reads and
// writes its dedupe mark in DynamoDB, publishes one event and deletes the schedule.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
}

// mbPerVCPU is Lambda's CPU allocation: one vCPU per 1,769 MB, in proportion below.
const mbPerVCPU = 1769

// hoursPerMonth and minutesPerMonth are a 30-day month's; fixed costs are a month's.
const (
	hoursPerMonth   = 730
	minutesPerMonth = 30 * 24 * 60
)

// bytesPerGB: CloudWatch bills ingestion per GB; counted as 2^30 bytes, the larger reading.
const bytesPerGB = 1 << 30

// figures are what the cost is computed from: measured, or assumed and said so.
type figures struct {
	closes   float64 // a month
	memoryMB float64

	cpuMsFullCore    float64 // in-process CPU time of one warm close on a full core
	requestsPerClose float64 // requests to WeChat Pay per recharge closed
	putEventsMs      float64 // one PutEvents call, up to ten entries
	coldShare        float64 // share of invocations that start an instance
	coldExtraMs      float64 // billed INIT time of a cold start (custom runtimes' INIT is billed)
	batch            float64 // records per queue invocation
	redelivered      float64 // share of queued records received again (transient failures)

	logBytesAPI    float64 // the function's own log lines per API close
	logBytesQueued float64 // the function's own log lines per queued record
	platformBytes  float64 // Lambda's START/END/REPORT lines per invocation

	warmInstances float64 // instances kept warm all month, each re-reading the secret every TTL
	secretTTLMin  float64
	customKey     bool    // the secret encrypted with a customer managed KMS key
	metrics       float64 // custom metrics that receive data in a month
	alarmMetrics  float64
	idlePollers   float64 // the event source mapping's long-polling receives while the queue is empty

	pacedInstances, pacedRate float64 // a burst: C instances sharing R requests a second

	fargateTasks, fargateVCPU, fargateGB float64

	paid            float64 // share of recharges paid before their deadline: no close
	schedulerCallMs float64 // one Scheduler API call (GetSchedule, CreateSchedule)
	logBytesExpiry  float64 // recharge-expiry's own log line per request
	logBytesNotify  float64 // recharge-notify's own log line per notification
}

// lifeRecharges is what the whole-life table is for: a million recharges.
const lifeRecharges = 1e6

// measured defaults: see docs/cost.md for where each figure comes from.
func defaults() figures {
	return figures{
		closes:           1e6,
		memoryMB:         256,
		cpuMsFullCore:    2.66,
		requestsPerClose: 1.004,
		putEventsMs:      20,
		coldShare:        0.01,
		coldExtraMs:      150,
		batch:            10,
		redelivered:      0.002,
		logBytesAPI:      1142,
		logBytesQueued:   1372.5,
		platformBytes:    267.5,
		warmInstances:    2,
		secretTTLMin:     5,
		customKey:        true,
		metrics:          50,
		alarmMetrics:     20,
		idlePollers:      5,
		pacedInstances:   10,
		pacedRate:        200,
		fargateTasks:     2,
		fargateVCPU:      0.25,
		fargateGB:        0.5,
		paid:             0.3,
		schedulerCallMs:  20,
		logBytesExpiry:   413.5,
		logBytesNotify:   322.5,
	}
}

// line is one priced quantity.
type line struct {
	name     string
	quantity float64
	unit     string // of quantity
	p        price
	per      float64 // units of quantity the price is for (1e6 requests, 1e4 calls, 1 GB …)
}

func (l line) cost() float64 { return l.quantity / l.per * l.p.value }

// path is the cost of f.closes closes arriving one way.
type path struct {
	name          string
	lines         []line
	billedMs      float64 // per invocation
	lambdaOnlyIdx []int   // lines a container doing the same work would not pay
}

func (p path) total() float64 {
	t := 0.0
	for _, l := range p.lines {
		t += l.cost()
	}
	return t
}

func (p path) lambdaOnly() float64 {
	t := 0.0
	for _, i := range p.lambdaOnlyIdx {
		t += p.lines[i].cost()
	}
	return t
}

// cpuMs is one close's CPU time at the configured memory's share of a vCPU.
func (f figures) cpuMs() float64 { return f.cpuMsFullCore * mbPerVCPU / f.memoryMB }

// apiBilledMs is one API invocation: its CPU, its round trips to WeChat Pay,
// its PutEvents call and its share of cold starts, rounded up to the
// millisecond as Lambda bills.
func (f figures) apiBilledMs(rttMs float64) float64 {
	return math.Ceil(f.cpuMs() + rttMs*f.requestsPerClose + f.putEventsMs + f.coldShare*f.coldExtraMs)
}

// queueBilledMs is one batch's invocation: the records are closed side by
// side, so their CPU adds up on the instance's share of a core while their
// round trips to WeChat Pay overlap; their outcomes go out in one PutEvents call.
func (f figures) queueBilledMs(rttMs float64) float64 {
	return math.Ceil(f.batch*f.cpuMs() + rttMs*f.requestsPerClose + f.putEventsMs + f.coldShare*f.coldExtraMs)
}

// pacedBilledMs is a batch in a burst: an instance paced at R/C takes at least
// C/R seconds a close, and Lambda bills the wait.
func (f figures) pacedBilledMs(rttMs float64) float64 {
	return math.Max(f.queueBilledMs(rttMs), math.Ceil(f.batch*f.pacedInstances/f.pacedRate*1000))
}

// expiryBilledMs is one recharge-expiry invocation: a GetSchedule and a
// CreateSchedule, and its share of cold starts; its CPU (decoding one small
// request) is left out.
func (f figures) expiryBilledMs() float64 {
	return math.Ceil(2*f.schedulerCallMs + f.coldShare*f.coldExtraMs)
}

// notifyBilledMs is one recharge-notify invocation, taken as a close without
// the round trip to WeChat Pay: a signature's CPU (verifying and decrypting for
// signing), one PutEvents call and the cold share.
func (f figures) notifyBilledMs() float64 {
	return math.Ceil(f.cpuMs() + f.putEventsMs + f.coldShare*f.coldExtraMs)
}

func (f figures) gbSeconds(invocations, billedMs float64) float64 {
	return invocations * billedMs / 1000 * f.memoryMB / 1024
}

func (f figures) api(pr prices, rttMs float64) path {
	n := f.closes
	ms := f.apiBilledMs(rttMs)
	cold := n * f.coldShare
	return path{
		name: "API (one invocation per close)", billedMs: ms,
		lines: []line{
			{"Lambda requests", n, "requests", pr.lambdaRequests, 1e6},
			{"Lambda duration", f.gbSeconds(n, ms), "GB-s", pr.lambdaGBSecond, 1},
			{"Lambda platform log lines", n * f.platformBytes / bytesPerGB, "GB", pr.logsGB, 1},
			{"API Gateway HTTP API", n, "requests", pr.httpAPI, 1e6},
			{"EventBridge PutEvents (outcome events)", n, "events", pr.events, 1e6},
			{"CloudWatch Logs (summary + EMF lines)", n * f.logBytesAPI / bytesPerGB, "GB", pr.logsGB, 1},
			{"Secrets Manager GetSecretValue (cold starts)", cold, "calls", pr.secretCalls, 1e4},
			{"KMS Decrypt (rides on each secret read)", cold, "requests", pr.kmsRequests, 1e4},
		},
		lambdaOnlyIdx: []int{0, 1, 2, 3},
	}
}

func (f figures) queue(pr prices, rttMs float64, billedMs float64) path {
	n := f.closes
	records := n * (1 + f.redelivered)
	inv := records / f.batch
	cold := inv * f.coldShare
	return path{
		name: "queue (Scheduler → SQS → batches)", billedMs: billedMs,
		lines: []line{
			{"Lambda requests", inv, "requests", pr.lambdaRequests, 1e6},
			{"Lambda duration", f.gbSeconds(inv, billedMs), "GB-s", pr.lambdaGBSecond, 1},
			{"Lambda platform log lines", inv * f.platformBytes / bytesPerGB, "GB", pr.logsGB, 1},
			{"EventBridge Scheduler invocations", n, "invocations", pr.scheduler, 1e6},
			// SendMessage by the schedule; one receive and one batch delete per
			// batch; a ChangeMessageVisibility for each record sent back.
			{"SQS requests", n + 2*inv + n*f.redelivered, "requests", pr.sqs, 1e6},
			{"EventBridge PutEvents (outcome events)", n, "events", pr.events, 1e6},
			{"CloudWatch Logs (summary + EMF lines)", records * f.logBytesQueued / bytesPerGB, "GB", pr.logsGB, 1},
			{"Secrets Manager GetSecretValue (cold starts)", cold, "calls", pr.secretCalls, 1e4},
			{"KMS Decrypt (rides on each secret read)", cold, "requests", pr.kmsRequests, 1e4},
		},
		lambdaOnlyIdx: []int{0, 1, 2},
	}
}

// lifeClosesLine is the whole life's line for the closes of the recharges
// not paid in time, each costing what the queue path's close does.
const lifeClosesLine = "Closes at the deadline of the unpaid (queue path above, Scheduler invocation included)"

// life is a million recharges' whole life, the expiry asked for by an event on
// the requests bus (byAPI false) or an HTTP API PUT (byAPI true); queue is the
// queue path's cost of f.closes closes.
func (f figures) life(pr prices, queue path, byAPI bool) path {
	n := lifeRecharges
	unpaid := n * (1 - f.paid)
	cold := n * f.coldShare
	request := line{"Expiry request: PutEvents on the requests bus", n, "events", pr.events, 1e6}
	name := "whole life, expiry asked by event"
	if byAPI {
		request = line{"Expiry request: HTTP API PUT …/expiry", n, "requests", pr.httpAPI, 1e6}
		name = "whole life, expiry asked by API"
	}
	perMillionCloses := price{queue.total() / f.closes * 1e6, "per 1M closes", "", ""}
	return path{
		name: name,
		lines: []line{
			request,
			{"recharge-expiry: Lambda requests", n, "requests", pr.lambdaRequests, 1e6},
			{"recharge-expiry: Lambda duration", f.gbSeconds(n, f.expiryBilledMs()), "GB-s", pr.lambdaGBSecond, 1},
			{"recharge-expiry: log lines (its own + START/END/REPORT)", n * (f.logBytesExpiry + f.platformBytes) / bytesPerGB, "GB", pr.logsGB, 1},
			// GetSchedule and CreateSchedule by recharge-expiry, DeleteSchedule by recharge-notify.
			{"Scheduler API calls (Get/CreateSchedule, DeleteSchedule)", 3 * n, "calls", pr.schedulerAPI, 1e6},
			{lifeClosesLine, unpaid, "closes", perMillionCloses, 1e6},
			{"Notification: HTTP API POST to NotifyUrl", n, "requests", pr.httpAPI, 1e6},
			{"recharge-notify: Lambda requests", n, "requests", pr.lambdaRequests, 1e6},
			{"recharge-notify: Lambda duration", f.gbSeconds(n, f.notifyBilledMs()), "GB-s", pr.lambdaGBSecond, 1},
			{"recharge-notify: log lines (its own + START/END/REPORT)", n * (f.logBytesNotify + f.platformBytes) / bytesPerGB, "GB", pr.logsGB, 1},
			{"DynamoDB read (dedupe check, strongly consistent)", n, "RRU", pr.ddbRead, 1e6},
			{"DynamoDB write (dedupe mark)", n, "WRU", pr.ddbWrite, 1e6},
			{"EventBridge PutEvents (Recharge Succeeded / Closed)", n, "events", pr.events, 1e6},
			{"Secrets Manager GetSecretValue (recharge-notify's cold starts)", cold, "calls", pr.secretCalls, 1e4},
			{"KMS Decrypt (rides on each secret read)", cold, "requests", pr.kmsRequests, 1e4},
		},
	}
}

// fixed is a month's cost that does not grow with closes.
func (f figures) fixed(pr prices) []line {
	refreshes := f.warmInstances * minutesPerMonth / f.secretTTLMin
	ls := []line{
		{"Secrets Manager secret", 1, "secret", pr.secret, 1},
		{"Secrets Manager reads every TTL by warm instances", refreshes, "calls", pr.secretCalls, 1e4},
		{"KMS Decrypt for those reads", refreshes, "requests", pr.kmsRequests, 1e4},
		{"CloudWatch custom metrics (EMF)", f.metrics, "metrics", pr.metric, 1},
		{"CloudWatch alarms (template)", f.alarmMetrics, "alarm metrics", pr.alarmMetric, 1},
		// Each idle poller long-polls for 20 s: three empty receives a minute.
		{"SQS empty receives while idle", f.idlePollers * 3 * minutesPerMonth, "requests", pr.sqs, 1e6},
	}
	if f.customKey {
		ls = append(ls, line{"KMS customer managed key", 1, "key", pr.kmsKey, 1})
	}
	return ls
}

func sum(ls []line) float64 {
	t := 0.0
	for _, l := range ls {
		t += l.cost()
	}
	return t
}

// container is a month of always-on Fargate tasks doing the closes instead of
// Lambda; the API path's would also need a load balancer in API Gateway's place.
func (f figures) container(pr prices) float64 {
	return f.fargateTasks * (f.fargateVCPU*pr.fargateVCPUHour.value + f.fargateGB*pr.fargateGBHour.value) * hoursPerMonth
}

// crossover is the closes a month at which the container's fixed cost equals
// what Lambda adds per close; below it Lambda is cheaper.
func crossover(monthly float64, p path, closes float64) float64 {
	perClose := p.lambdaOnly() / closes
	if perClose <= 0 {
		return math.Inf(1)
	}
	return monthly / perClose
}

// report is one region's result, for the table and the one-line answer.
type report struct {
	pr           prices
	rttMs        float64
	api, queue   path
	paced        path
	fixed        []line
	container    float64
	albMonth     float64
	crossQueue   float64
	crossAPI     float64
	largestQueue [2]string // the queue path's two costliest lines
	lifeEvent    path      // a million recharges' whole life, expiry asked by event
	lifeAPI      path      // the same, asked by HTTP API PUT
}

func (f figures) compute(pr prices, rttMs float64) report {
	r := report{pr: pr, rttMs: rttMs}
	r.api = f.api(pr, rttMs)
	r.queue = f.queue(pr, rttMs, f.queueBilledMs(rttMs))
	r.paced = f.queue(pr, rttMs, f.pacedBilledMs(rttMs))
	r.fixed = f.fixed(pr)
	r.container = f.container(pr)
	r.albMonth = pr.albHour.value * hoursPerMonth
	r.crossQueue = crossover(r.container, r.queue, f.closes)
	r.crossAPI = crossover(r.container+r.albMonth, r.api, f.closes)
	ls := append([]line(nil), r.queue.lines...)
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].cost() > ls[j].cost() })
	r.largestQueue = [2]string{ls[0].name, ls[1].name}
	r.lifeEvent = f.life(pr, r.queue, false)
	r.lifeAPI = f.life(pr, r.queue, true)
	return r
}

func run(args []string, stdout io.Writer) error {
	f := defaults()
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.Float64Var(&f.closes, "closes", f.closes, "closes a month")
	fs.Float64Var(&f.cpuMsFullCore, "cpu-ms", f.cpuMsFullCore, "in-process CPU time of a warm close on a full core, ms (README Performance)")
	rttUS := fs.Float64("rtt-us", 200, "round trip us-east-1 → WeChat Pay (api.mch.weixin.qq.com), ms")
	rttCN := fs.Float64("rtt-cn", 50, "round trip cn-north-1 → WeChat Pay, ms")
	fs.Float64Var(&f.requestsPerClose, "requests-per-close", f.requestsPerClose, "WeChat Pay requests per recharge (make scale)")
	fs.Float64Var(&f.putEventsMs, "putevents-ms", f.putEventsMs, "one PutEvents call, ms")
	fs.Float64Var(&f.coldShare, "cold-share", f.coldShare, "share of invocations that start an instance")
	fs.Float64Var(&f.coldExtraMs, "cold-ms", f.coldExtraMs, "billed INIT time of a cold start, ms")
	fs.Float64Var(&f.batch, "batch", f.batch, "records per queue invocation (ExpiryBatchSize)")
	fs.Float64Var(&f.redelivered, "redelivered", f.redelivered, "share of queued records received again (make scale)")
	fs.Float64Var(&f.warmInstances, "warm-instances", f.warmInstances, "instances warm all month (each re-reads the secret every TTL)")
	fs.Float64Var(&f.metrics, "metrics", f.metrics, "custom metrics receiving data in a month")
	fs.BoolVar(&f.customKey, "customer-key", f.customKey, "the secret is encrypted with a customer managed KMS key")
	fs.Float64Var(&f.pacedInstances, "paced-instances", f.pacedInstances, "a burst's instances C (make scale's SCALE_C)")
	fs.Float64Var(&f.pacedRate, "paced-rate", f.pacedRate, "a burst's WeChat Pay rate R, requests a second (make scale's SCALE_R)")
	fs.Float64Var(&f.fargateTasks, "fargate-tasks", f.fargateTasks, "always-on container tasks compared (two for availability)")
	fs.Float64Var(&f.paid, "paid", f.paid, "share of recharges paid before their deadline, so never closed (make scale's paid scenario, SCALE_PAID)")
	fs.Float64Var(&f.schedulerCallMs, "scheduler-ms", f.schedulerCallMs, "one Scheduler API call, ms")
	logPath := fs.String("log", "", "re-measure log bytes per close from a make demo log (its path is printed by make demo)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.closes <= 0 || f.batch < 1 || f.memoryMB <= 0 || f.pacedRate <= 0 || f.secretTTLMin <= 0 {
		return errors.New("-closes, -batch and -paced-rate must be positive")
	}
	if !(f.paid >= 0 && f.paid <= 1) {
		return errors.New("-paid is a share, from 0 to 1")
	}
	if *logPath != "" {
		b, err := os.ReadFile(*logPath)
		if err != nil {
			return err
		}
		m, err := measureLog(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", *logPath, err)
		}
		f.logBytesAPI, f.logBytesQueued, f.platformBytes = m.api, m.queued, m.platform
	}
	us := f.compute(usEast1, *rttUS)
	cn := f.compute(cnNorth1, *rttCN)
	w := &errWriter{w: stdout}
	printFigures(w, f, *logPath)
	printRegion(w, f, us)
	printRegion(w, f, cn)
	printLife(w, f, us)
	printLife(w, f, cn)
	fmt.Fprintf(w, "## The answer\n\n%s\n\n%s\n", answer(f, us, cn), lifeAnswer(f, us, cn))
	return w.err
}

// answer is the README's one line.
func answer(f figures, us, cn report) string {
	return fmt.Sprintf("About $%.2f per %s closes in us-east-1 and ¥%.2f (≈ $%.2f) in cn-north-1 through the expiry queue "+
		"($%.2f and ¥%.2f by API call), plus about $%.2f and ¥%.2f a month fixed; mostly %s and %s.",
		us.queue.total(), count(f.closes), cn.queue.total(), cn.queue.total()/cnyPerUSD,
		us.api.total(), cn.api.total(), sum(us.fixed), sum(cn.fixed), us.largestQueue[0], us.largestQueue[1])
}

// lifeAnswer is the whole life's one line.
func lifeAnswer(f figures, us, cn report) string {
	return fmt.Sprintf("About $%.2f per million recharges in their whole life in us-east-1 and ¥%.2f (≈ $%.2f) in cn-north-1, "+
		"expiries asked by event ($%.2f and ¥%.2f by API PUT), with %.0f %% paid before the deadline: "+
		"$%.2f for the expiry requests and schedules, $%.2f for the closes of the %.0f %% unpaid, $%.2f for the notifications.",
		us.lifeEvent.total(), cn.lifeEvent.total(), cn.lifeEvent.total()/cnyPerUSD, us.lifeAPI.total(), cn.lifeAPI.total(), f.paid*100,
		lifePart(us.lifeEvent, expiryPart), lifePart(us.lifeEvent, closesPart), (1-f.paid)*100, lifePart(us.lifeEvent, notifyPart))
}

// The whole life's three parts, by line: the expiry request and its schedule,
// the closes of the unpaid, the notification.
const (
	expiryPart = iota
	closesPart
	notifyPart
)

func lifePart(p path, part int) float64 {
	t := 0.0
	in := expiryPart
	for _, l := range p.lines {
		switch {
		case l.name == lifeClosesLine:
			in = closesPart
		case in == closesPart:
			in = notifyPart
		}
		if in == part {
			t += l.cost()
		}
	}
	return t
}

func count(n float64) string {
	if n == 1e6 {
		return "million"
	}
	return fmt.Sprintf("%.0f", n)
}

func printFigures(w io.Writer, f figures, logPath string) {
	logSource := "measured under the emulator (make demo, 2026-12-03)"
	if logPath != "" {
		logSource = "measured from " + logPath
	}
	fmt.Fprintf(w, "# What %s closes cost at list prices (arm64, %.0f MB)\n\n", qty(f.closes), f.memoryMB)
	fmt.Fprintln(w, "| figure | value | from |")
	fmt.Fprintln(w, "|---|---|---|")
	rows := [][3]string{
		{"CPU time of a warm close, full core", fmt.Sprintf("%.2f ms", f.cpuMsFullCore), "make bench (README Performance)"},
		{"— at " + fmt.Sprintf("%.0f MB (%.3f vCPU)", f.memoryMB, f.memoryMB/mbPerVCPU), fmt.Sprintf("%.1f ms", f.cpuMs()), "Lambda: 1 vCPU per 1,769 MB"},
		{"WeChat Pay requests per close", fmt.Sprintf("%.3f", f.requestsPerClose), "make scale, healthy burst"},
		{"queued records received again", fmt.Sprintf("%.1f %%", f.redelivered*100), "make scale (41 redeliveries in 20,000)"},
		{"PutEvents call", fmt.Sprintf("%.0f ms", f.putEventsMs), "assumed (-putevents-ms)"},
		{"cold starts", fmt.Sprintf("%.1f %% of invocations, %.0f ms billed INIT each", f.coldShare*100, f.coldExtraMs), "assumed (-cold-share, -cold-ms)"},
		{"records per queue invocation", fmt.Sprintf("%.0f", f.batch), "ExpiryBatchSize"},
		{"function log per API close", fmt.Sprintf("%.0f bytes", f.logBytesAPI), logSource},
		{"function log per queued record", fmt.Sprintf("%.0f bytes", f.logBytesQueued), logSource},
		{"Lambda's START/END/REPORT lines per invocation", fmt.Sprintf("%.0f bytes", f.platformBytes), logSource},
		{"recharges paid before their deadline (no close)", fmt.Sprintf("%.0f %%", f.paid*100), "assumed (-paid; make scale's paid scenario)"},
		{"Scheduler API call", fmt.Sprintf("%.0f ms", f.schedulerCallMs), "assumed (-scheduler-ms)"},
		{"billed per recharge-expiry invocation", fmt.Sprintf("%.0f ms", f.expiryBilledMs()), "GetSchedule + CreateSchedule, the cold share"},
		{"billed per recharge-notify invocation", fmt.Sprintf("%.0f ms", f.notifyBilledMs()), "a close without the round trip to WeChat Pay"},
		{"recharge-expiry's log per request", fmt.Sprintf("%.0f bytes", f.logBytesExpiry), "measured under the emulator (make demo's whole life, 2026-12-03)"},
		{"recharge-notify's log per notification", fmt.Sprintf("%.0f bytes", f.logBytesNotify), "measured under the emulator (make demo's whole life, 2026-12-03)"},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	fmt.Fprintln(w)
}

func printRegion(w io.Writer, f figures, r report) {
	pr := r.pr
	fmt.Fprintf(w, "## %s (prices in %s)\n\n", pr.region, pr.currency)
	fmt.Fprintf(w, "Round trip to WeChat Pay %.0f ms. Billed per invocation: API %.0f ms; queue batch of %.0f %.0f ms (%.1f ms a close).\n\n",
		r.rttMs, r.api.billedMs, f.batch, r.queue.billedMs, r.queue.billedMs/f.batch)
	src := &sourceList{}
	ref := src.ref
	printPaths(w, pr, r.api, r.queue, [2]string{"API", "queue"}, false, src)
	fmt.Fprintf(w, "| **per %s closes** | | | **%s** | | **%s** | |\n\n", count(f.closes), money(pr, r.api.total()), money(pr, r.queue.total()))
	if pr.currency != "USD" {
		fmt.Fprintf(w, "At %.1f CNY a USD: API ≈ $%.2f, queue ≈ $%.2f.\n\n", cnyPerUSD, r.api.total()/cnyPerUSD, r.queue.total()/cnyPerUSD)
	}
	fmt.Fprintf(w, "In a paced burst (%.0f instances sharing %.0f requests a second) a batch of %.0f takes at least %.0f ms: "+
		"Lambda duration %s instead of %s, queue path %s.\n\n",
		f.pacedInstances, f.pacedRate, f.batch, r.paced.billedMs, money(pr, r.paced.lines[1].cost()), money(pr, r.queue.lines[1].cost()), money(pr, r.paced.total()))

	fmt.Fprintln(w, "Fixed, a month:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| line | price | quantity | cost | source |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, l := range r.fixed {
		fmt.Fprintf(w, "| %s | %s%s %s | %s %s | %s | [%d] |\n", l.name, pr.symbol, num(l.p.value), l.p.unit, qty(l.quantity), l.unit, money(pr, l.cost()), ref(l.p))
	}
	fmt.Fprintf(w, "| **a month** | | | **%s** | |\n\n", money(pr, sum(r.fixed)))

	fmt.Fprintf(w, "Always-on container instead: %.0f Fargate tasks, %.2f vCPU / %.1f GB Linux/ARM, %s a month %s "+
		"(plus %s for a load balancer in API Gateway's place [%d]); SQS, Scheduler, EventBridge, the function's log lines and the fixed costs stay. "+
		"Lambda is cheaper below %s closes a month through the queue, %s by API call.\n\n",
		f.fargateTasks, f.fargateVCPU, f.fargateGB, money(pr, r.container), refs(ref(pr.fargateVCPUHour), ref(pr.fargateGBHour)),
		money(pr, r.albMonth), ref(pr.albHour), qty(r.crossQueue), qty(r.crossAPI))

	src.print(w)
}

// sourceList numbers the sources of one region's tables.
type sourceList []price

func (s *sourceList) ref(p price) int {
	for i, q := range *s {
		if q.source == p.source && q.read == p.read {
			return i + 1
		}
	}
	*s = append(*s, p)
	return len(*s)
}

func (s sourceList) print(w io.Writer) {
	fmt.Fprintln(w, "Sources:")
	fmt.Fprintln(w)
	for i, p := range s {
		fmt.Fprintf(w, "%d. %s — %s\n", i+1, p.source, p.read)
	}
	fmt.Fprintln(w)
}

// printPaths prints two paths side by side, a line each path has in one row,
// the lines only the second has after the first's (interleave false) or after
// the second's line before them (interleave true). A price without a source is
// computed from a table above.
func printPaths(w io.Writer, pr prices, a, b path, heads [2]string, interleave bool, src *sourceList) {
	fmt.Fprintf(w, "| line | price | %[1]s: quantity | %[1]s: cost | %[2]s: quantity | %[2]s: cost | source |\n", heads[0], heads[1])
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	byName := map[string][2]*line{}
	var order []string
	for k, pth := range []path{a, b} {
		at := 0
		for i := range pth.lines {
			l := &pth.lines[i]
			e, ok := byName[l.name]
			if !ok {
				if !interleave {
					at = len(order)
				}
				order = slices.Insert(order, at, l.name)
			}
			at = slices.Index(order, l.name) + 1
			e[k] = l
			byName[l.name] = e
		}
	}
	for _, name := range order {
		e := byName[name]
		p := e[0]
		if p == nil {
			p = e[1]
		}
		cells := [4]string{"—", "—", "—", "—"}
		for k, l := range e {
			if l != nil {
				cells[2*k] = fmt.Sprintf("%s %s", qty(l.quantity), l.unit)
				cells[2*k+1] = money(pr, l.cost())
			}
		}
		priceCell := fmt.Sprintf("%s%s %s", pr.symbol, num(p.p.value), p.p.unit)
		source := "above"
		if p.p.source != "" {
			source = fmt.Sprintf("[%d]", src.ref(p.p))
		} else {
			priceCell = fmt.Sprintf("%s %s", money(pr, p.p.value), p.p.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", name, priceCell, cells[0], cells[1], cells[2], cells[3], source)
	}
}

// printLife prints a region's whole-life table: a million recharges, each
// asked for, closed if unpaid, notified.
func printLife(w io.Writer, f figures, r report) {
	pr := r.pr
	fmt.Fprintf(w, "## The whole life in %s: per million recharges (prices in %s)\n\n", pr.region, pr.currency)
	fmt.Fprintf(w, "Per million *recharges*, not closes: every recharge's expiry request and schedule, the close of the %.0f %% not paid "+
		"before the deadline (their schedules fire; the paid ones' are deleted and never fire), and WeChat Pay's one notification each. "+
		"Billed per invocation: recharge-expiry %.0f ms, recharge-notify %.0f ms. Scheduler bills invocations, not API calls.\n\n",
		(1-f.paid)*100, f.expiryBilledMs(), f.notifyBilledMs())
	src := &sourceList{}
	printPaths(w, pr, r.lifeEvent, r.lifeAPI, [2]string{"expiry by event", "expiry by API PUT"}, true, src)
	fmt.Fprintf(w, "| **per million recharges, %.0f %% paid** | | | **%s** | | **%s** | |\n\n", f.paid*100, money(pr, r.lifeEvent.total()), money(pr, r.lifeAPI.total()))
	if pr.currency != "USD" {
		fmt.Fprintf(w, "At %.1f CNY a USD: by event ≈ $%.2f, by API PUT ≈ $%.2f.\n\n", cnyPerUSD, r.lifeEvent.total()/cnyPerUSD, r.lifeAPI.total()/cnyPerUSD)
	}
	src.print(w)
}

// refs prints source numbers once each.
func refs(a, b int) string {
	if a == b {
		return fmt.Sprintf("[%d]", a)
	}
	return fmt.Sprintf("[%d][%d]", a, b)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func money(pr prices, v float64) string {
	if v != 0 && math.Abs(v) < 0.01 {
		return fmt.Sprintf("%s%.4f", pr.symbol, v)
	}
	return fmt.Sprintf("%s%.2f", pr.symbol, v)
}

func qty(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// logFigures are log bytes per close measured from the emulator's output.
type logFigures struct {
	api, queued, platform float64
}

// measureLog reads what make demo writes (the emulator's and the function's
// output): per invocation, Lambda's START, END and REPORT lines and the
// function's JSON lines (its summary line per close and its EMF document per
// close). The emulator's own "(rapid)" lines are not what Lambda ships.
func measureLog(r io.Reader) (logFigures, error) {
	type invocation struct {
		platform, app, closes float64
		trigger               string
	}
	var (
		cur  *invocation
		done []invocation
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		n := float64(len(text) + 1)
		switch {
		case strings.HasPrefix(text, "START RequestId:"):
			cur = &invocation{platform: n}
		case cur == nil:
		case strings.HasPrefix(text, "END RequestId:"):
			cur.platform += n
		case strings.HasPrefix(text, "REPORT RequestId:"):
			cur.platform += n
			done = append(done, *cur)
			cur = nil
		case strings.HasPrefix(text, "{"):
			var l struct {
				Msg     string `json:"msg"`
				Trigger string `json:"trigger"`
			}
			if json.Unmarshal([]byte(text), &l) != nil {
				continue
			}
			cur.app += n
			if l.Msg == "close recharge" {
				cur.closes++
				cur.trigger = l.Trigger
			}
		}
	}
	if err := sc.Err(); err != nil {
		return logFigures{}, err
	}
	var api, queued, platform struct{ bytes, n float64 }
	for _, inv := range done {
		platform.bytes += inv.platform
		platform.n++
		switch inv.trigger {
		case "http-api":
			api.bytes += inv.app
			api.n += inv.closes
		case "sqs":
			queued.bytes += inv.app
			queued.n += inv.closes
		}
	}
	if api.n == 0 || queued.n == 0 {
		return logFigures{}, errors.New("no http-api and sqs invocations found (run make demo, which invokes every events/*.json)")
	}
	return logFigures{api: api.bytes / api.n, queued: queued.bytes / queued.n, platform: platform.bytes / platform.n}, nil
}

// errWriter keeps the first write error, so printing needs no check per line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
