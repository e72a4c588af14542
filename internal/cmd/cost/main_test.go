package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func lineNamed(t *testing.T, p path, name string) line {
	t.Helper()
	for _, l := range p.lines {
		if l.name == name {
			return l
		}
	}
	t.Fatalf("%s has no line %q", p.name, name)
	return line{}
}

// Round inputs whose every cost can be worked out by hand.
func TestKnownInputsGiveKnownCosts(t *testing.T) {
	f := defaults()
	f.memoryMB, f.cpuMsFullCore = 1024, 0 // 1 GB, no CPU: the duration is the round trips alone
	f.requestsPerClose, f.putEventsMs, f.coldShare, f.redelivered = 1, 20, 0, 0
	f.logBytesAPI, f.logBytesQueued, f.platformBytes = bytesPerGB/1e6, bytesPerGB/1e6, 0 // 1 GB a million closes
	r := f.compute(usEast1, 100)

	if r.api.billedMs != 120 || r.queue.billedMs != 120 {
		t.Fatalf("billed ms: API %v, queue batch %v; want 120 and 120", r.api.billedMs, r.queue.billedMs)
	}
	checkLines(t, []lineWant{
		{r.api, "Lambda requests", 1e6, 0.20},
		{r.api, "Lambda duration", 120_000, 120_000 * 0.0000133334}, // 1e6 × 0.12 s × 1 GB
		{r.api, "API Gateway HTTP API", 1e6, 1.00},
		{r.api, "CloudWatch Logs (summary + EMF lines)", 1, 0.50},
		{r.queue, "Lambda requests", 1e5, 0.02},
		{r.queue, "Lambda duration", 12_000, 12_000 * 0.0000133334},
		{r.queue, "SQS requests", 1.2e6, 0.48}, // send 1M, receive 100k, delete 100k
		{r.queue, "EventBridge Scheduler invocations", 1e6, 1.00},
		{r.queue, "EventBridge PutEvents (outcome events)", 1e6, 1.00},
	})
}

// The template's figures: 2.66 ms of a full core is 18.4 ms at 256 MB; a
// batch of ten adds its records' CPU but shares one round trip's wait.
func TestBilledDurationAtTheTemplatesMemory(t *testing.T) {
	f := defaults()
	if got := f.cpuMs(); math.Abs(got-18.38) > 0.01 {
		t.Errorf("CPU ms at 256 MB = %.3f, want 18.38", got)
	}
	// 18.38 + 200 × 1.004 + 20 + 1 % × 150 = 240.7 → 241; with ten records' CPU 406.1 → 407.
	if got := f.apiBilledMs(200); got != 241 {
		t.Errorf("API invocation billed %v ms, want 241", got)
	}
	if got := f.queueBilledMs(200); got != 407 {
		t.Errorf("queue batch billed %v ms, want 407", got)
	}
	// Paced at 200/s over 10 instances, each close holds its instance 50 ms.
	if got := f.pacedBilledMs(200); got != 500 {
		t.Errorf("paced batch billed %v ms, want 500", got)
	}
}

func TestQueuePathPaysLambdaRequestsPerBatchNotPerClose(t *testing.T) {
	f := defaults()
	for _, pr := range []prices{usEast1, cnNorth1} {
		r := f.compute(pr, 100)
		api, queue := lineNamed(t, r.api, "Lambda requests"), lineNamed(t, r.queue, "Lambda requests")
		if !(queue.cost() < api.cost()) {
			t.Errorf("%s: queue path's Lambda requests %v not cheaper than the API path's %v", pr.region, queue.cost(), api.cost())
		}
		if want := api.cost() * (1 + f.redelivered) / f.batch; !near(queue.cost(), want) {
			t.Errorf("%s: queue path's Lambda requests %v, want %v (one per batch of %v, redeliveries included)", pr.region, queue.cost(), want, f.batch)
		}
	}
}

func TestDoublingClosesDoublesVariableCostNotFixed(t *testing.T) {
	one := defaults()
	two := defaults()
	two.closes = 2 * one.closes
	for _, pr := range []prices{usEast1, cnNorth1} {
		a, b := one.compute(pr, 200), two.compute(pr, 200)
		if !near(b.api.total(), 2*a.api.total()) || !near(b.queue.total(), 2*a.queue.total()) {
			t.Errorf("%s: doubling closes took API %v → %v, queue %v → %v; want both doubled",
				pr.region, a.api.total(), b.api.total(), a.queue.total(), b.queue.total())
		}
		if sum(a.fixed) != sum(b.fixed) || a.container != b.container {
			t.Errorf("%s: doubling closes moved the fixed cost %v → %v or the container's %v → %v",
				pr.region, sum(a.fixed), sum(b.fixed), a.container, b.container)
		}
		if sum(a.fixed) <= 0 {
			t.Errorf("%s: no fixed cost", pr.region)
		}
	}
}

// At the crossover volume a month of Lambda's own lines costs what the
// container does; at half of it Lambda is cheaper, at twice it dearer.
func TestCrossoverIsWhereLambdaCostsWhatTheContainerDoes(t *testing.T) {
	f := defaults()
	r := f.compute(usEast1, 200)
	// 2 tasks × (0.25 × 0.03238 + 0.5 × 0.00356) × 730 h.
	if want := 2 * (0.25*0.03238 + 0.5*0.00356) * 730; !near(r.container, want) {
		t.Fatalf("container a month %v, want %v", r.container, want)
	}
	for _, c := range []struct {
		cross, monthly float64
		via            func(figures) path
	}{
		{r.crossQueue, r.container, func(g figures) path { return g.compute(usEast1, 200).queue }},
		{r.crossAPI, r.container + r.albMonth, func(g figures) path { return g.compute(usEast1, 200).api }},
	} {
		g := defaults()
		g.closes = c.cross
		if got := c.via(g).lambdaOnly(); !near(got, c.monthly) {
			t.Errorf("at %v closes Lambda's own lines cost %v, want the container's %v", c.cross, got, c.monthly)
		}
		g.closes = c.cross / 2
		if got := c.via(g).lambdaOnly(); got >= c.monthly {
			t.Errorf("at half the crossover Lambda costs %v, not less than %v", got, c.monthly)
		}
	}
	if !(r.crossAPI < r.crossQueue) {
		t.Errorf("API path crosses at %v, not below the queue path's %v though it pays Lambda per close", r.crossAPI, r.crossQueue)
	}
}

// A log as make demo writes it: the emulator's own lines are not counted,
// Lambda's START/END/REPORT lines are per invocation, the function's JSON
// lines per close.
func TestMeasureLogCountsTheLinesLambdaShips(t *testing.T) {
	apiSummary := `{"msg":"close recharge","trigger":"http-api"}`
	emf := `{"_aws":{"Timestamp":1}}`
	sqs1 := `{"msg":"close recharge","trigger":"sqs","n":1}`
	sqs2 := `{"msg":"close recharge","trigger":"sqs","n":22}`
	start, end, report := "START RequestId: a Version: $LATEST", "END RequestId: a", "REPORT RequestId: a\tDuration: 1 ms"
	log := strings.Join([]string{
		"03 Dec 2026 12:05:55,572 [INFO] (rapid) exec 'build/local/bootstrap'",
		start, "03 Dec 2026 12:05:55,576 [INFO] (rapid) INIT START", apiSummary, emf, end, report,
		start, sqs1, emf, sqs2, emf, end, report,
	}, "\n") + "\n"
	m, err := measureLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	l := func(s string) float64 { return float64(len(s) + 1) }
	want := logFigures{
		api:      l(apiSummary) + l(emf),
		queued:   (l(sqs1) + l(sqs2) + 2*l(emf)) / 2,
		platform: l(start) + l(end) + l(report),
	}
	if m != want {
		t.Errorf("measured %+v, want %+v", m, want)
	}
	if _, err := measureLog(strings.NewReader(start + "\n" + apiSummary + "\n" + end + "\n" + report + "\n")); err == nil {
		t.Error("a log without a queued batch measured without error")
	}
}

func TestRunPrintsBothRegionsAndTheAnswer(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-closes", "2000000"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## us-east-1 (prices in USD)", "## cn-north-1 (prices in CNY)", "per 2000000 closes", "## The answer"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if err := run([]string{"-batch", "0"}, &out); err == nil {
		t.Error("a batch of 0 accepted")
	}
}

// A million recharges with round inputs: 1 GB, no CPU, 10 ms a Scheduler call,
// 20 ms a PutEvents call, no cold starts; 1 GB of each function's log lines.
func TestWholeLifeKnownInputsGiveKnownCosts(t *testing.T) {
	f := defaults()
	f.memoryMB, f.cpuMsFullCore, f.coldShare, f.putEventsMs, f.schedulerCallMs = 1024, 0, 0, 20, 10
	f.logBytesExpiry, f.logBytesNotify, f.platformBytes = bytesPerGB/1e6, bytesPerGB/1e6, 0
	f.paid = 0.3
	r := f.compute(usEast1, 100)
	if f.expiryBilledMs() != 20 || f.notifyBilledMs() != 20 {
		t.Fatalf("billed ms: expiry %v, notify %v; want 20 and 20", f.expiryBilledMs(), f.notifyBilledMs())
	}
	perClose := r.queue.total() / f.closes
	checkLines(t, []lineWant{
		{r.lifeEvent, "Expiry request: PutEvents on the requests bus", 1e6, 1.00},
		{r.lifeAPI, "Expiry request: HTTP API PUT …/expiry", 1e6, 1.00},
		{r.lifeEvent, "recharge-expiry: Lambda requests", 1e6, 0.20},
		{r.lifeEvent, "recharge-expiry: Lambda duration", 20_000, 20_000 * 0.0000133334}, // 1e6 × 0.02 s × 1 GB
		{r.lifeEvent, "recharge-expiry: log lines (its own + START/END/REPORT)", 1, 0.50},
		{r.lifeEvent, "Scheduler API calls (Get/CreateSchedule, DeleteSchedule)", 3e6, 0},
		{r.lifeEvent, lifeClosesLine, 700_000, 700_000 * perClose},
		{r.lifeEvent, "Notification: HTTP API POST to NotifyUrl", 1e6, 1.00},
		{r.lifeEvent, "recharge-notify: Lambda requests", 1e6, 0.20},
		{r.lifeEvent, "recharge-notify: Lambda duration", 20_000, 20_000 * 0.0000133334},
		{r.lifeEvent, "recharge-notify: log lines (its own + START/END/REPORT)", 1, 0.50},
		{r.lifeEvent, "DynamoDB read (dedupe check, strongly consistent)", 1e6, 0.125},
		{r.lifeEvent, "DynamoDB write (dedupe mark)", 1e6, 0.625},
		{r.lifeEvent, "EventBridge PutEvents (Recharge Succeeded / Closed)", 1e6, 1.00},
	})
	// Expiry: 1 + 0.2 + 0.266668 + 0.5; closes 0.7 × the queue path; notification: 1 + 0.2 + 0.266668 + 0.5 + 0.125 + 0.625 + 1.
	wantExpiry, wantNotify := 1+0.2+20_000*0.0000133334+0.5, 1+0.2+20_000*0.0000133334+0.5+0.125+0.625+1
	for _, p := range []path{r.lifeEvent, r.lifeAPI} {
		if got := lifePart(p, expiryPart); !near(got, wantExpiry) {
			t.Errorf("%s: expiry part %v, want %v", p.name, got, wantExpiry)
		}
		if got := lifePart(p, notifyPart); !near(got, wantNotify) {
			t.Errorf("%s: notification part %v, want %v", p.name, got, wantNotify)
		}
		if want := wantExpiry + 0.7*r.queue.total() + wantNotify; !near(p.total(), want) {
			t.Errorf("%s: %v per million recharges, want %v", p.name, p.total(), want)
		}
	}
}

// Every recharge paid in time: no schedule fires, no close, only the request
// and the notification. None paid: every recharge costs a close on top.
func TestWholeLifePaidShareDecidesTheCloses(t *testing.T) {
	for _, pr := range []prices{usEast1, cnNorth1} {
		paid, unpaid := defaults(), defaults()
		paid.paid, unpaid.paid = 1, 0
		a, b := paid.compute(pr, 200), unpaid.compute(pr, 200)
		for _, p := range []path{a.lifeEvent, a.lifeAPI} {
			if l := lineNamed(t, p, lifeClosesLine); l.quantity != 0 || l.cost() != 0 {
				t.Errorf("%s, %s, all paid: %v closes costing %v, want none", pr.region, p.name, l.quantity, l.cost())
			}
			if got, want := p.total(), lifePart(p, expiryPart)+lifePart(p, notifyPart); !near(got, want) || lifePart(p, notifyPart) <= 0 {
				t.Errorf("%s, %s, all paid: %v, want the request and the notification's %v alone", pr.region, p.name, got, want)
			}
		}
		for i, p := range []path{b.lifeEvent, b.lifeAPI} {
			if l := lineNamed(t, p, lifeClosesLine); l.quantity != 1e6 || !near(l.cost(), b.queue.total()) {
				t.Errorf("%s, %s, none paid: %v closes costing %v, want 1e6 costing the queue path's %v", pr.region, p.name, l.quantity, l.cost(), b.queue.total())
			}
			allPaid := []path{a.lifeEvent, a.lifeAPI}[i]
			if got := p.total() - allPaid.total(); !near(got, b.queue.total()) {
				t.Errorf("%s, %s: none paid costs %v more than all paid, want a million closes' %v", pr.region, p.name, got, b.queue.total())
			}
		}
	}
	var out bytes.Buffer
	if err := run([]string{"-paid", "1.5"}, &out); err == nil {
		t.Error("a paid share of 1.5 accepted")
	}
	if err := run([]string{"-paid", "0"}, &out); err != nil || !strings.Contains(out.String(), "per million recharges, 0 % paid") {
		t.Errorf("-paid 0: %v, or no whole-life total printed", err)
	}
}

// lineWant is one line of a path's bill: its quantity and cost.
type lineWant struct {
	p    path
	name string
	qty  float64
	cost float64
}

// checkLines holds each named line of its path to its quantity and cost.
func checkLines(t *testing.T, want []lineWant) {
	t.Helper()
	for _, c := range want {
		l := lineNamed(t, c.p, c.name)
		if !near(l.quantity, c.qty) || !near(l.cost(), c.cost) {
			t.Errorf("%s / %s: %v units costing %v; want %v costing %v", c.p.name, c.name, l.quantity, l.cost(), c.qty, c.cost)
		}
	}
}
