package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/expiry"
	"close-recharge/internal/notify"
	"close-recharge/internal/outcome"
	"close-recharge/internal/publish"
	"close-recharge/internal/secretstore"
)

// paidFigures are what the paid scenario adds to its table, every one counted
// from what arrived: moto's Scheduler, the simulator's notifications, the
// requests that reached the simulator, the PutEvents endpoint's entries.
type paidFigures struct {
	scheduled     int           // schedules in the group after every recharge's was set
	setTime       time.Duration // how long setting them took
	paid          int           // recharges moved to SUCCESS before the burst
	deleted       int           // paid recharges whose schedule was gone at the deadline
	leftUnpaid    int           // unpaid recharges whose schedule was still there
	notifications int           // the simulator made
	acknowledged  int           // of those, answered SUCCESS
	attempts      int           // posts of them, retries included
	paidRequests  int           // close and query requests about paid recharges
	succeededOnce int           // paid recharges with exactly one Recharge Succeeded on the bus
	paidOther     int           // paid recharges with any other outcome on the bus
}

// Setting, paying and playing Scheduler go side by side in this many calls.
const sideBySide = 8

// paidWave is how many recharges are paid before waiting for their
// notifications to be answered: all at once would put thousands of
// notifications on moto together, and those not answered within WeChat Pay's
// 5 s would be retried 15 s later rather than measured.
const paidWave = 50

// paidPath is the queue path after the recharge's whole life: each recharge's
// expiry is set through the expiry service as a schedule in moto's Scheduler;
// o.paid of them are paid in the simulator, whose notifications reach the
// notification service (deleting their schedules in moto, marking them in
// moto's DynamoDB, publishing to the PutEvents endpoint) and are all answered
// before the burst; at the deadline the tool plays Scheduler, putting every
// schedule still in the group on the queue it targets.
func paidPath(ctx context.Context, o options, cfg aws.Config, secret string, progress io.Writer) (result, error) {
	return runQueue(ctx, o, cfg, secret, progress, func(ctx context.Context, l *load, api *sqs.Client, shards []shard, dlqARN string, r *result) (int, error) {
		return playLife(ctx, o, cfg, l, api, shards, dlqARN, r, progress)
	})
}

func playLife(ctx context.Context, o options, cfg aws.Config, l *load, api *sqs.Client, shards []shard, dlqARN string, r *result, progress io.Writer) (int, error) {
	sched := scheduler.NewFromConfig(cfg)
	group := awstest.UniqueName("expiries")
	if _, err := sched.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(group)}); err != nil {
		return 0, err
	}
	// One service per queue: the schedules spread over the shards, as the
	// burst's messages are today.
	services := make([]*expiry.Service, len(shards))
	for i, sh := range shards {
		services[i] = expiry.New(sched, api, expiry.Stack{Group: group, RoleARN: "arn:aws:iam::" + awstest.AccountID + ":role/close-recharge-scheduler",
			QueueARN: sh.arn, QueueURL: sh.url, DeadLetterARN: dlqARN}, nil)
	}
	deadline := time.Now().Add(time.Hour).Format(time.RFC3339)
	began := time.Now()
	err := sideBySideDo(len(l.numbers), func(i int) error {
		res, err := services[i%len(services)].Set(ctx, expiry.Request{SubMchid: sub, OutRechargeNo: l.numbers[i], ExpireTime: deadline})
		if err == nil && res.State != expiry.Scheduled {
			err = fmt.Errorf("expiry of %s: %s, want %s", l.numbers[i], res.State, expiry.Scheduled)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	l.paidFigures.setTime = time.Since(began)
	set, err := listSchedules(ctx, sched, group)
	if err != nil {
		return 0, err
	}
	l.paidFigures.scheduled = len(set)
	fmt.Fprintf(progress, "[paid] %d expiry schedules set in %v (%.0f/s); %d in the group\n", len(l.numbers),
		l.paidFigures.setTime.Round(100*time.Millisecond), float64(len(l.numbers))/l.paidFigures.setTime.Seconds(), len(set))

	if err := payBeforeDeadline(ctx, o, cfg, l, sched, group, progress); err != nil {
		return 0, err
	}

	// The deadline: Scheduler puts each remaining schedule's input on its target.
	remaining, err := listSchedules(ctx, sched, group)
	if err != nil {
		return 0, err
	}
	left := map[string]bool{}
	for _, name := range remaining {
		left[name] = true
	}
	for _, no := range l.paid {
		if !left[expiry.ScheduleName(sub, no)] {
			l.paidFigures.deleted++
		}
	}
	for _, no := range l.numbers {
		if !l.isPaid[no] && left[expiry.ScheduleName(sub, no)] {
			l.paidFigures.leftUnpaid++
		}
	}
	began = time.Now()
	n, err := fire(ctx, sched, api, group, remaining, shards)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(progress, "[paid] %d schedules left at the deadline; their inputs on %d queues in %v\n", len(remaining), len(shards),
		time.Since(began).Round(time.Second))
	return n, nil
}

// payBeforeDeadline pays o.paid of the recharges, wave by wave, and waits
// until WeChat Pay's every notification of them has been answered SUCCESS by
// the notification service.
func payBeforeDeadline(ctx context.Context, o options, cfg aws.Config, l *load, sched *scheduler.Client, group string, progress io.Writer) error {
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.UniqueName("notifications")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(notify.AttrID), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(notify.AttrID), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		return err
	}
	keys := secretstore.NewCache(&secretstore.File{Path: l.secret}, 5*time.Minute)
	// As functions/recharge-notify builds it.
	svc := notify.New(keys,
		&publish.EventBridge{API: eventbridge.NewFromConfig(l.events), Bus: busName, Source: source, Keys: keys},
		&notify.Scheduler{API: sched, Group: group},
		&notify.Table{API: db, Name: table, Now: time.Now})
	ep := &notifyEndpoint{svc: svc}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ep, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer l.sim.Close() // no retries left over to reach a closed endpoint
	url := "http://" + ln.Addr().String() + "/notifications"

	k := int(o.paid*float64(len(l.numbers)) + 0.5)
	for _, i := range rand.New(rand.NewPCG(5, 6)).Perm(len(l.numbers))[:k] {
		l.paid = append(l.paid, l.numbers[i])
		l.isPaid[l.numbers[i]] = true
		l.sim.SetNotifyURL(sub, l.numbers[i], url)
	}
	began := time.Now()
	for w := 0; w < len(l.paid); w += paidWave {
		wave := l.paid[w:min(w+paidWave, len(l.paid))]
		for _, no := range wave {
			if _, err := l.sim.Pay(sub, no); err != nil {
				return fmt.Errorf("pay %s: %w", no, err)
			}
		}
		// Answered either way; one not acknowledged is retried on WeChat Pay's schedule.
		for wait := time.Now().Add(30 * time.Second); ep.answered.Load() < int64(w+len(wave)) && time.Now().Before(wait); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Every notification answered SUCCESS before the burst, retries included.
	for limit := time.Now().Add(3 * time.Minute); ; {
		f := &l.paidFigures
		f.notifications, f.acknowledged, f.attempts = 0, 0, 0
		for _, nt := range l.sim.Notifications() {
			f.notifications++
			f.attempts += len(nt.Attempts)
			if nt.Delivered {
				f.acknowledged++
			}
		}
		if f.notifications == len(l.paid) && f.acknowledged == f.notifications {
			break
		}
		if time.Now().After(limit) || ctx.Err() != nil {
			return fmt.Errorf("before the burst: %d of %d notifications acknowledged, for %d recharges paid", f.acknowledged, f.notifications, len(l.paid))
		}
		time.Sleep(500 * time.Millisecond)
	}
	l.paidFigures.paid = len(l.paid)
	fmt.Fprintf(progress, "[paid] %d recharges paid, %d notifications acknowledged (%d posts) in %v\n", len(l.paid),
		l.paidFigures.acknowledged, l.paidFigures.attempts, time.Since(began).Round(100*time.Millisecond))
	return nil
}

// notifyEndpoint is the notification function's route: the body and headers
// as WeChat Pay posted them, to the real service.
type notifyEndpoint struct {
	svc      *notify.Service
	answered atomic.Int64
}

func (e *notifyEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer e.answered.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, notify.MaxBody+1))
	if err != nil {
		http.Error(w, `{"code":"FAIL","message":"body not read"}`, http.StatusBadRequest)
		return
	}
	res := e.svc.Handle(r.Context(), notify.Request{Header: r.Header, Body: body})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
}

// listSchedules is the names of every schedule in the group, page by page.
func listSchedules(ctx context.Context, sched *scheduler.Client, group string) ([]string, error) {
	var names []string
	pages := scheduler.NewListSchedulesPaginator(sched, &scheduler.ListSchedulesInput{GroupName: aws.String(group), MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Schedules {
			names = append(names, aws.ToString(s.Name))
		}
	}
	return names, nil
}

// fire does what Scheduler does when the schedules' time comes: puts each
// one's target input on the queue its target names, ten to a call. A list
// gives only the target's ARN, so each schedule is read for its input.
func fire(ctx context.Context, sched *scheduler.Client, api *sqs.Client, group string, names []string, shards []shard) (int, error) {
	urlOf := map[string]string{}
	for _, sh := range shards {
		urlOf[sh.arn] = sh.url
	}
	var mu sync.Mutex
	inputs := map[string][]string{} // queue URL → message bodies
	err := sideBySideDo(len(names), func(i int) error {
		s, err := sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(names[i]), GroupName: aws.String(group)})
		if err != nil {
			return err
		}
		if s.Target == nil || urlOf[aws.ToString(s.Target.Arn)] == "" {
			return fmt.Errorf("schedule %s targets no queue of the burst", names[i])
		}
		mu.Lock()
		defer mu.Unlock()
		url := urlOf[aws.ToString(s.Target.Arn)]
		inputs[url] = append(inputs[url], aws.ToString(s.Target.Input))
		return nil
	})
	if err != nil {
		return 0, err
	}
	type chunk struct {
		url    string
		bodies []string
	}
	var chunks []chunk
	for url, bodies := range inputs {
		for i := 0; i < len(bodies); i += 10 {
			chunks = append(chunks, chunk{url, bodies[i:min(i+10, len(bodies))]})
		}
	}
	err = sideBySideDo(len(chunks), func(i int) error {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j, b := range chunks[i].bodies {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(b)})
		}
		out, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(chunks[i].url), Entries: entries})
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("%d messages not sent: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		return err
	})
	return len(names), err
}

// sideBySideDo runs do(0) … do(n-1), sideBySide at a time, and returns the
// first error.
func sideBySideDo(n int, do func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, sideBySide)
	var wg sync.WaitGroup
	for range sideBySide {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// finishPaid counts, after the burst, what reached WeChat Pay and the bus
// about the paid recharges.
func (l *load) finishPaid() {
	f := &l.paidFigures
	f.paidRequests = l.asked.about(l.paid)
	for _, no := range l.paid {
		kinds := l.bus.kindsOf(no)
		if kinds[outcome.Succeeded] == 1 {
			f.succeededOnce++
		}
		delete(kinds, outcome.Succeeded)
		if len(kinds) > 0 {
			f.paidOther++
		}
	}
}

// rows are the paid scenario's figures for its table.
func (f paidFigures) rows(n int) [][2]string {
	return [][2]string{
		{"expiry schedules set (in the group) / time to set them", fmt.Sprintf("%d / %v (%.0f/s)", f.scheduled, f.setTime.Round(100*time.Millisecond),
			float64(n)/max(f.setTime.Seconds(), 1e-9))},
		{"paid before the deadline / their schedules deleted", fmt.Sprintf("%d / %d", f.paid, f.deleted)},
		{"unpaid schedules left at the deadline", strconv.Itoa(f.leftUnpaid)},
		{"notifications made / acknowledged (posts)", fmt.Sprintf("%d / %d (%d)", f.notifications, f.acknowledged, f.attempts)},
		{"paid: Recharge Succeeded once / any other outcome", fmt.Sprintf("%d / %d", f.succeededOnce, f.paidOther)},
		{"requests about paid recharges at the deadline", strconv.Itoa(f.paidRequests)},
	}
}
