package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/awstest"
	"close-recharge/internal/emulator"
	"close-recharge/internal/expiry"
	"close-recharge/internal/notify"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
	"close-recharge/internal/simulator"
	"close-recharge/internal/trigger"
)

// The recharges of the whole life: one paid before its deadline, one left to expire.
const (
	lifeSub      = "1900000109"
	lifePaid     = "RCLIFEPAID1"
	lifeExpires  = "RCLIFEEXPIRES1"
	lifeLeadTime = 2 * time.Hour // how far ahead both expiries are asked for
)

// life is the whole-life part of the demo: the three functions, moto for AWS,
// the simulator for WeChat Pay, and the demo itself standing in for API
// Gateway (the notify listener) and for Scheduler and the event source
// mapping, which moto does not run.
type life struct {
	rie                            string
	closeFn, notifyFn, expiryFn    string // bootstraps
	template                       string
	moto                           string
	sim                            *simulator.Server
	simURL                         string
	requests                       *requestLog
	secret                         any // the merchant secret, with its APIv3 key
	log                            io.Writer
	out                            io.Writer
	aws                            aws.Config
	group, queueURL, queueARN, dlq string
	table, secretARN               string
	bus                            *awstest.Bus
	listener                       *notifyListener
	notifyURL                      string
}

// outcomeLine is one check of the story.
type outcomeLine struct {
	ok   bool
	text string
}

// run tells the whole life and returns an error when any check failed.
//
// The functions run one after another, each stopped before the next starts,
// rather than side by side: the emulator package runs one at a time (its
// runtime API port is fixed), and the only overlap the story needs — the
// notification function up while WeChat Pay posts — is had by holding the
// simulator's notifications while another function runs and releasing them
// once the notification function is up again. The simulator then posts them
// for real, with its retries, to the listener.
func (l *life) run(ctx context.Context) error {
	l.aws = awstest.Config(l.moto)
	if err := l.createStack(ctx); err != nil {
		return fmt.Errorf("the stack in moto: %w", err)
	}
	l.listener = &notifyListener{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l.listener, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	l.notifyURL = "http://" + ln.Addr().String() + "/wechatpay/notifications"
	for _, no := range []string{lifePaid, lifeExpires} {
		if err := l.sim.Seed(simulator.SeedRecharge{SubMchid: lifeSub, OutRechargeNo: no, Amount: 20000, NotifyURL: l.notifyURL}); err != nil {
			return err
		}
	}
	fmt.Fprintf(l.out, "AWS in moto (%s), WeChat Pay's notifications to %s\n\n", l.moto, l.notifyURL)

	// 1. Two expiries requested, one by each of the expiry function's triggers.
	expireAt := time.Now().Add(lifeLeadTime).Truncate(time.Second)
	if err := l.requestExpiries(ctx, expireAt); err != nil {
		return err
	}
	requested, err := l.schedules(ctx)
	if err != nil {
		return err
	}
	for _, s := range requested {
		fmt.Fprintf(l.out, "     schedule %s: %s %s → %s\n", s.name, s.expression, s.timezone, s.input)
	}
	if len(requested) != 2 {
		return fmt.Errorf("%d schedules in %s after two expiry requests, want 2", len(requested), l.group)
	}

	// 2. RCLIFEPAID1 is paid: WeChat Pay posts RECHARGE.SUCCESS.
	notifyFn, err := l.start("RechargeNotifyFunction", l.notifyFn)
	if err != nil {
		return err
	}
	if _, err := l.sim.Pay(lifeSub, lifePaid); err != nil {
		notifyFn.Stop()
		return err
	}
	fmt.Fprintf(l.out, "2. %s paid in WeChat Pay\n", lifePaid)
	err = l.awaitNotification(lifePaid, simulator.EventRechargeSuccess)
	l.listener.attach(nil)
	notifyFn.Stop()
	if err != nil {
		return err
	}
	paidScheduled, err := l.scheduled(ctx, lifePaid)
	if err != nil {
		return err
	}

	// 3. The deadline passes. What WeChat Pay posts while the close function
	// runs waits for the notification function.
	l.sim.HoldNotifications()
	before := l.sim.Closes()
	now := expireAt.Add(time.Minute)
	fmt.Fprintf(l.out, "3. the deadline passes (the demo's clock: %s)\n", now.UTC().Format(time.RFC3339))
	due, err := l.schedules(ctx)
	if err != nil {
		return err
	}
	fired, err := l.fire(ctx, due, now)
	if err != nil {
		return err
	}
	if err := l.closeQueued(ctx, fired); err != nil {
		return err
	}
	closes := l.sim.Closes() - before
	notifyFn, err = l.start("RechargeNotifyFunction", l.notifyFn)
	if err != nil {
		return err
	}
	l.sim.ReleaseNotifications()
	err = l.awaitNotification(lifeExpires, simulator.EventRechargeClosed)
	l.listener.attach(nil)
	notifyFn.Stop()
	if err != nil {
		return err
	}

	// 4. What came of it.
	published, err := l.bus.Drain()
	if err != nil {
		return err
	}
	expiresRC, _ := l.sim.Recharge(lifeSub, lifeExpires)
	lines := lifeChecks(published, l.requests.of(lifePaid), paidScheduled, closes, expiresRC.RechargeState)
	fmt.Fprintln(l.out, "4. what came of it")
	failed := 0
	for _, c := range lines {
		mark := "ok  "
		if !c.ok {
			mark, failed = "FAIL", failed+1
		}
		fmt.Fprintf(l.out, "%s %s\n", mark, c.text)
	}
	fmt.Fprintf(l.out, "\n%d checks of the whole life, %d as expected, %d not\n", len(lines), len(lines)-failed, failed)
	if failed > 0 {
		return errors.New("the whole life did not go as expected; see the log")
	}
	return nil
}

// lifeChecks are the story's checks: the paid recharge cost WeChat Pay
// nothing at its deadline, its success was published once and its schedule
// is gone; the expired one was closed once, and both functions said so with
// one state.
func lifeChecks(published []awstest.Event, paidRequests int, paidScheduled bool, closes int, expiresState string) []outcomeLine {
	type fact struct{ detailType, state, notificationID string }
	facts := map[string][]fact{}
	for _, e := range published {
		var d struct {
			State          string `json:"recharge_state"`
			NotificationID string `json:"notification_id"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		facts[e.OutRechargeNo()] = append(facts[e.OutRechargeNo()], fact{e.DetailType, d.State, d.NotificationID})
	}
	succeeded := 0
	for _, f := range facts[lifePaid] {
		if f.detailType == outcome.Succeeded {
			succeeded++
		}
	}
	fromClose, fromNotify := 0, 0
	states := map[string]bool{}
	for _, f := range facts[lifeExpires] {
		if f.detailType != outcome.Closed {
			continue
		}
		states[f.state] = true
		if f.notificationID == "" {
			fromClose++
		} else {
			fromNotify++
		}
	}
	var seen []string
	for s := range states {
		seen = append(seen, s)
	}
	return []outcomeLine{
		{paidRequests == 0, fmt.Sprintf("%s: %d close or query requests to WeChat Pay at its deadline (want 0)", lifePaid, paidRequests)},
		{succeeded == 1, fmt.Sprintf("%s: Recharge Succeeded published %d time(s) (want 1)", lifePaid, succeeded)},
		{!paidScheduled, fmt.Sprintf("%s: expiry schedule pending after the payment: %v (want false)", lifePaid, paidScheduled)},
		{closes == 1 && expiresState == recharge.StateClosed, fmt.Sprintf("%s: %d close(s) in WeChat Pay's books, now %s (want 1, CLOSED)", lifeExpires, closes, expiresState)},
		{fromClose == 1 && fromNotify == 1, fmt.Sprintf("%s: Recharge Closed from the close function %d, from the notification %d (want 1 and 1)", lifeExpires, fromClose, fromNotify)},
		{len(seen) == 1 && seen[0] == recharge.StateClosed, fmt.Sprintf("%s: recharge_state in those events: %v (want one: CLOSED)", lifeExpires, seen)},
	}
}

// createStack makes in moto what the stack would: the merchant secret, the
// result bus (routed to a queue the demo reads back), the schedule group,
// the expiry queue and the schedules' dead-letter queue, and the
// notification function's table.
func (l *life) createStack(ctx context.Context) error {
	var err error
	if l.secretARN, err = awstest.PutSecret(l.aws, awstest.UniqueName("wechatpay/merchant"), l.secret); err != nil {
		return err
	}
	if l.bus, err = awstest.NewBus(l.aws); err != nil {
		return err
	}
	l.group = awstest.UniqueName("expiries")
	if _, err := scheduler.NewFromConfig(l.aws).CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(l.group)}); err != nil {
		return err
	}
	if l.queueURL, l.queueARN, err = l.newQueue(ctx, "expiry"); err != nil {
		return err
	}
	if _, l.dlq, err = l.newQueue(ctx, "schedule-dlq"); err != nil {
		return err
	}
	l.table = awstest.UniqueName("notifications")
	_, err = dynamodb.NewFromConfig(l.aws).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(l.table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(notify.AttrID), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(notify.AttrID), KeyType: ddbtypes.KeyTypeHash}},
	})
	return err
}

// newQueue creates a queue and returns its URL and ARN.
func (l *life) newQueue(ctx context.Context, prefix string) (url, arn string, err error) {
	name := awstest.UniqueName(prefix)
	out, err := sqs.NewFromConfig(l.aws).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.QueueUrl), fmt.Sprintf("arn:aws:sqs:%s:%s:%s", awstest.Region, awstest.AccountID, name), nil
}

// start runs one function under the emulator with its template's fixed
// environment and the stack's, and attaches the notification function to
// the listener.
func (l *life) start(function, bootstrap string) (*emulator.Emulator, error) {
	env, err := emulator.TemplateEnv(l.template, function)
	if err != nil {
		return nil, err
	}
	env = append(env, awstest.Env(l.moto)...)
	switch function {
	case "RechargeExpiryFunction":
		env = append(env, "SCHEDULE_GROUP="+l.group, "SCHEDULER_ROLE_ARN=arn:aws:iam::"+awstest.AccountID+":role/close-recharge-scheduler",
			"EXPIRY_QUEUE_ARN="+l.queueARN, "EXPIRY_QUEUE_URL="+l.queueURL, "SCHEDULE_DLQ_ARN="+l.dlq)
	case "RechargeNotifyFunction":
		env = append(env, "WECHATPAY_SECRET_ID="+l.secretARN, "RESULT_EVENT_BUS="+l.bus.Name,
			"SCHEDULE_GROUP="+l.group, "NOTIFICATION_TABLE="+l.table)
	default:
		env = append(env, "WECHATPAY_SECRET_ID="+l.secretARN, "WECHATPAY_BASE_URL="+l.simURL, "RESULT_EVENT_BUS="+l.bus.Name)
	}
	em, err := emulator.Start(emulator.Config{RIE: l.rie, Bootstrap: bootstrap, Env: env, Timeout: 30 * time.Second, Output: l.log})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", function, err)
	}
	if function == "RechargeNotifyFunction" {
		l.listener.attach(em)
	}
	return em, nil
}

// requestExpiries asks for RCLIFEPAID1's expiry by the API route and for
// RCLIFEEXPIRES1's by the event, as a platform's backend would.
func (l *life) requestExpiries(ctx context.Context, at time.Time) error {
	em, err := l.start("RechargeExpiryFunction", l.expiryFn)
	if err != nil {
		return err
	}
	defer em.Stop()
	expireTime := at.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
	put, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "PUT /recharges/{out_recharge_no}/expiry", RawPath: "/recharges/" + lifePaid + "/expiry",
		RawQueryString: "sub_mchid=" + lifeSub, QueryStringParameters: map[string]string{"sub_mchid": lifeSub},
		PathParameters: map[string]string{"out_recharge_no": lifePaid},
		Headers:        map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "demo-expiry-put", AccountID: awstest.AccountID,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPut, Path: "/recharges/" + lifePaid + "/expiry"}},
		Body: `{"expire_time":"` + expireTime + `"}`,
	})
	detail, _ := json.Marshal(expiry.Request{SubMchid: lifeSub, OutRechargeNo: lifeExpires, ExpireTime: expireTime})
	event, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "demo-expiry-event", DetailType: trigger.ExpiryRequested,
		Source: "platform.recharges", AccountID: awstest.AccountID, Time: time.Now().UTC(), Region: awstest.Region, Detail: detail})
	fmt.Fprintf(l.out, "1. expiries requested for %s\n", expireTime)
	for _, c := range []struct {
		label   string
		payload []byte
		want    string
	}{
		{lifePaid + " by PUT /recharges/" + lifePaid + "/expiry", put, "HTTP 200 scheduled"},
		{lifeExpires + ` by "` + trigger.ExpiryRequested + `"`, event, "scheduled"},
	} {
		resp, err := em.Invoke(ctx, c.payload)
		if err != nil {
			return err
		}
		got := expiryAnswer(resp)
		fmt.Fprintf(l.out, "     %-58s → %s\n", c.label, got)
		if got != c.want {
			return fmt.Errorf("the expiry function answered %s, want %s: %s", got, c.want, resp.Body)
		}
	}
	return nil
}

// expiryAnswer reduces the expiry function's answer to its state, after the
// API status when it came by the route.
func expiryAnswer(resp emulator.Response) string {
	if resp.ErrorType != "" {
		return "error " + resp.ErrorType
	}
	body, prefix := resp.Body, ""
	var api events.APIGatewayV2HTTPResponse
	if json.Unmarshal(resp.Body, &api) == nil && api.StatusCode != 0 {
		body, prefix = []byte(api.Body), fmt.Sprintf("HTTP %d ", api.StatusCode)
	}
	var res expiry.Result
	if json.Unmarshal(body, &res) != nil || res.State == "" {
		return prefix + string(body)
	}
	return prefix + res.State
}

// schedule is one pending schedule of the group, as Scheduler holds it.
type schedule struct {
	name, expression, timezone, input string
}

// schedules lists the group's schedules with their targets' input.
func (l *life) schedules(ctx context.Context) ([]schedule, error) {
	api := scheduler.NewFromConfig(l.aws)
	var out []schedule
	pages := scheduler.NewListSchedulesPaginator(api, &scheduler.ListSchedulesInput{GroupName: aws.String(l.group)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Schedules {
			got, err := api.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: s.Name, GroupName: aws.String(l.group)})
			if err != nil {
				return nil, err
			}
			in := ""
			if got.Target != nil {
				in = aws.ToString(got.Target.Input)
			}
			out = append(out, schedule{aws.ToString(got.Name), aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone), in})
		}
	}
	return out, nil
}

// scheduled reports whether the recharge's expiry schedule is still pending.
func (l *life) scheduled(ctx context.Context, no string) (bool, error) {
	_, err := scheduler.NewFromConfig(l.aws).GetSchedule(ctx, &scheduler.GetScheduleInput{
		Name: aws.String(expiry.ScheduleName(lifeSub, no)), GroupName: aws.String(l.group)})
	var absent *schedtypes.ResourceNotFoundException
	if errors.As(err, &absent) {
		return false, nil
	}
	return err == nil, err
}

// fire plays Scheduler at now: each schedule due by then sends its input to
// the expiry queue and, being a one-time schedule that deletes itself after
// completion, is deleted. It returns how many fired.
func (l *life) fire(ctx context.Context, schedules []schedule, now time.Time) (int, error) {
	q, api := sqs.NewFromConfig(l.aws), scheduler.NewFromConfig(l.aws)
	fired := 0
	for _, s := range schedules {
		at, err := dueAt(s.expression, s.timezone)
		if err != nil {
			return fired, fmt.Errorf("schedule %s: %w", s.name, err)
		}
		if at.After(now) {
			continue
		}
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(l.queueURL), MessageBody: aws.String(s.input)}); err != nil {
			return fired, err
		}
		// Gone already is fine: a notification may delete it in between, as it may at Scheduler.
		_, err = api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(s.name), GroupName: aws.String(l.group)})
		var absent *schedtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &absent) {
			return fired, err
		}
		fired++
		fmt.Fprintf(l.out, "     Scheduler fires %s: %s to the expiry queue\n", s.name, s.input)
	}
	return fired, nil
}

// dueAt is when a one-time schedule fires: at(yyyy-mm-ddThh:mm:ss) in its time zone.
func dueAt(expression, timezone string) (time.Time, error) {
	inner, ok := strings.CutPrefix(expression, "at(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return time.Time{}, fmt.Errorf("%q is not a one-time schedule", expression)
	}
	loc := time.UTC
	if timezone != "" {
		var err error
		if loc, err = time.LoadLocation(timezone); err != nil {
			return time.Time{}, err
		}
	}
	return time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSuffix(inner, ")"), loc)
}

// closeQueued plays the event source mapping: the expiry queue's messages go
// to the close function as one SQS batch, and those it did not keep (list in
// batchItemFailures) are deleted.
func (l *life) closeQueued(ctx context.Context, want int) error {
	q := sqs.NewFromConfig(l.aws)
	var batch events.SQSEvent
	for deadline := time.Now().Add(20 * time.Second); len(batch.Records) < want; {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d expiries reached the queue within 20 s", len(batch.Records), want)
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(l.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			return err
		}
		for _, m := range out.Messages {
			attrs := map[string]events.SQSMessageAttribute{}
			for k, v := range m.MessageAttributes {
				attrs[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue}
			}
			batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, MessageAttributes: attrs,
				EventSource: "aws:sqs", EventSourceARN: l.queueARN, AWSRegion: awstest.Region})
		}
	}
	em, err := l.start("CloseRechargeFunction", l.closeFn)
	if err != nil {
		return err
	}
	defer em.Stop()
	payload, _ := json.Marshal(batch)
	resp, err := em.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	got, detail := describe(resp)
	fmt.Fprintf(l.out, "     close function, %d record(s) → %s (%s)\n", len(batch.Records), got, detail)
	var answer events.SQSEventResponse
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &answer) != nil {
		return fmt.Errorf("the close function answered %s: %s", got, resp.Body)
	}
	return awstest.DeleteSettled(ctx, q, l.queueURL, batch, answer)
}

// awaitNotification waits until WeChat Pay's notification of the recharge
// was acknowledged, and tells how it went.
func (l *life) awaitNotification(no, eventType string) error {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, n := range l.sim.Notifications() {
			if n.OutRechargeNo != no || n.EventType != eventType || !n.Delivered {
				continue
			}
			last := n.Attempts[len(n.Attempts)-1]
			fmt.Fprintf(l.out, "     WeChat Pay posts %s of %s: %d attempt(s), answered %d %s\n", eventType, no, len(n.Attempts), last.Status, strings.TrimSpace(last.Answer))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s of %s was not acknowledged within 30 s", eventType, no)
		}
	}
}

// invoker is what the listener hands requests to: the notification function
// under the emulator.
type invoker interface {
	Invoke(ctx context.Context, payload []byte) (emulator.Response, error)
}

// notifyListener is the notify URL, standing in for API Gateway's public
// route: each POST becomes the HTTP API (payload 2.0) event the function
// gets, and the function's answer is the HTTP answer, so that WeChat Pay
// retries exactly when it would.
type notifyListener struct {
	mu sync.Mutex
	fn invoker // nil while the notification function is not running
}

func (n *notifyListener) attach(fn invoker) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fn = fn
}

func (n *notifyListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	fn := n.fn
	n.mu.Unlock()
	if fn == nil {
		// As API Gateway answers when its integration cannot be reached.
		http.Error(w, `{"message":"Service Unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := fn.Invoke(r.Context(), apiEvent(r, body))
	var answer events.APIGatewayV2HTTPResponse
	if err != nil || resp.ErrorType != "" || json.Unmarshal(resp.Body, &answer) != nil || answer.StatusCode == 0 {
		// API Gateway's answer to a function that failed.
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	for k, v := range answer.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(answer.StatusCode)
	_, _ = io.WriteString(w, answer.Body)
}

// apiEvent is the event API Gateway's HTTP API makes of a request: header
// names lowercased, several values joined by commas, the body in base64.
func apiEvent(r *http.Request, body []byte) []byte {
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	event, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.Method + " " + r.URL.Path, RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
		Headers: headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{AccountID: awstest.AccountID, RequestID: r.Header.Get("Request-ID"),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, SourceIP: hostOf(r.RemoteAddr), UserAgent: r.UserAgent()}},
		Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
	})
	return event
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// requestLog counts WeChat Pay requests about each recharge (queries and
// closes name it in their path) as they reach the simulator.
type requestLog struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, rest, ok := strings.Cut(r.URL.Path, "/out-recharge-no/"); ok {
		no, _, _ := strings.Cut(rest, "/")
		l.mu.Lock()
		l.n[no]++
		l.mu.Unlock()
	}
	l.next.ServeHTTP(w, r)
}

func (l *requestLog) of(no string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[no]
}
