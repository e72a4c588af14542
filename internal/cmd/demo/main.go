// Command demo runs the function end to end on this machine, with no AWS account
// and no WeChat Pay credentials: the WeChat Pay simulator holds a recharge for
// every fixture in events/, the bootstrap runs under the Lambda Runtime Interface
// Emulator with the simulator's secret file, and every fixture is invoked. It
// exits non-zero if any outcome is not the expected one.
//
// Then, when moto is at hand (MOTO_ENDPOINT, or moto_server on PATH), it
// tells a recharge's whole life through the three functions against the
// stack's resources in moto: two expiries requested, one recharge paid before
// its deadline (its schedule deleted on WeChat Pay's notification, no close
// sent), the other expired (closed, and announced by the close function and
// by WeChat Pay's notification alike). It checks each and exits non-zero if
// any is not as expected. Without moto it says so and skips that part.
//
// With -event FILE it invokes that one event and prints the function's answer,
// as `sam local invoke -e FILE` would; it exits non-zero when that answer is an
// error, a refusal, an HTTP error status or a batch that kept records.
//
// Each run writes the function's log to a file of its own, named on stdout
// and kept after the run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"close-recharge/internal/awstest"
	"close-recharge/internal/emulator"
	"close-recharge/internal/simulator"
	"close-recharge/internal/trigger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// check is one invocation and what must come of it.
type check struct {
	label   string
	payload []byte
	want    string // as describe prints it
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	rie := fs.String("rie", "bin/aws-lambda-rie", "the Runtime Interface Emulator")
	bootstrap := fs.String("bootstrap", "build/local/bootstrap", "the function's bootstrap, built for this machine")
	eventsDir := fs.String("events", "events", "directory of trigger fixtures")
	event := fs.String("event", "", "invoke only this event file and print the function's answer")
	template := fs.String("template", "template.yaml", "the SAM template whose fixed environment the function runs with, as sam local invoke would")
	notifyBootstrap := fs.String("notify-bootstrap", "build/local/notify/bootstrap", "the notification function's bootstrap, for the whole life")
	expiryBootstrap := fs.String("expiry-bootstrap", "build/local/recharge-expiry/bootstrap", "the expiry function's bootstrap, for the whole life")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp("", "close-recharge-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	keys, err := simulator.LoadOrCreateKeys(stateDir, "1900000100")
	if err != nil {
		return err
	}
	sim := simulator.New(keys)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	requests := &requestLog{next: sim, n: map[string]int{}}
	srv := &http.Server{Handler: requests, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer sim.Close()
	simURL := "http://" + ln.Addr().String()

	var checks []check
	if *event != "" {
		// The event goes to the function as it is; a recharge is seeded only for
		// identifiers the function would accept, so that a bad event gets the
		// function's own answer.
		payload, err := os.ReadFile(*event)
		if err != nil {
			return err
		}
		if req, err := trigger.Decode(payload); err == nil {
			for _, c := range req.Closes() {
				if err := sim.Seed(simulator.SeedRecharge{SubMchid: c.SubMchid, OutRechargeNo: c.OutRechargeNo, Amount: 10000}); err != nil {
					return err
				}
			}
		}
		checks = []check{{label: *event, payload: payload}}
	} else {
		paths, err := filepath.Glob(filepath.Join(*eventsDir, "*.json"))
		if err != nil || len(paths) == 0 {
			return fmt.Errorf("no fixtures in %s", *eventsDir)
		}
		sort.Strings(paths)
		if checks, err = fixtureChecks(paths, sim); err != nil {
			return err
		}
		more, err := outcomeChecks(sim, paths[0])
		if err != nil {
			return err
		}
		checks = append(checks, more...)
	}

	logFile, err := os.CreateTemp("", "close-recharge-demo-*.log")
	if err != nil {
		return err
	}
	defer logFile.Close()
	logPath := logFile.Name()
	fixed, err := emulator.TemplateEnv(*template, "CloseRechargeFunction")
	if err != nil {
		return err
	}
	em, err := emulator.Start(emulator.Config{
		RIE:       *rie,
		Bootstrap: *bootstrap,
		Env: append(fixed,
			"WECHATPAY_SECRET_FILE="+filepath.Join(stateDir, "secret.json"),
			"WECHATPAY_BASE_URL="+simURL,
		),
		Timeout: 30 * time.Second,
		Output:  logFile,
	})
	if err != nil {
		return err
	}
	defer em.Stop()

	if *event != "" {
		resp, err := em.Invoke(ctx, checks[0].payload)
		if err != nil {
			return err
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, resp.Body, "", "  ") != nil {
			pretty.Write(resp.Body)
		}
		fmt.Fprintln(stdout, pretty.String())
		fmt.Fprintf(stdout, "\n(the function's log: %s)\n", logPath)
		if got, detail := describe(resp); !succeeded(got) {
			return fmt.Errorf("the function answered %s: %s", got, detail)
		}
		return nil
	}

	fmt.Fprintf(stdout, "WeChat Pay simulator on %s; the function under the Runtime Interface Emulator (log: %s)\n\n", simURL, logPath)
	failed := 0
	for _, c := range checks {
		resp, err := em.Invoke(ctx, c.payload)
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		got, detail := describe(resp)
		mark := "ok  "
		if got != c.want {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s %-46s → %-22s %s (%d ms)\n", mark, c.label, got, detail, resp.Duration.Milliseconds())
		if got != c.want {
			fmt.Fprintf(stdout, "     want %s; answer: %s\n", c.want, resp.Body)
		}
	}
	fmt.Fprintf(stdout, "\n%d invocations, %d as expected, %d not\n", len(checks), len(checks)-failed, failed)
	if failed > 0 {
		return errors.New("some outcomes were not the expected ones; see the log")
	}
	em.Stop()

	// The whole life needs AWS, which moto gives; without it the part above
	// is the demo.
	moto, stopMoto, err := awstest.StartMoto()
	if errors.Is(err, awstest.ErrNoMoto) {
		fmt.Fprintln(stdout, "\nThe whole life (expiry, payment, notifications) needs moto: pip install 'moto[server]'; skipped.")
		return nil
	}
	if err != nil {
		return err
	}
	defer stopMoto()
	secret, err := os.ReadFile(filepath.Join(stateDir, "secret.json"))
	if err != nil {
		return err
	}
	// A log of its own: the one above is what make cost measures a close's log lines from.
	lifeLog, err := os.CreateTemp("", "close-recharge-demo-life-*.log")
	if err != nil {
		return err
	}
	defer lifeLog.Close()
	fmt.Fprintf(stdout, "\nThe whole life: the three functions' log: %s\n", lifeLog.Name())
	l := &life{rie: *rie, closeFn: *bootstrap, notifyFn: *notifyBootstrap, expiryFn: *expiryBootstrap, template: *template,
		moto: moto, sim: sim, simURL: simURL, requests: requests, secret: json.RawMessage(secret), log: lifeLog, out: stdout}
	return l.run(ctx)
}

// fixtureChecks seeds the simulator with a RECHARGING recharge for every
// fixture, each of which must then close.
func fixtureChecks(paths []string, sim *simulator.Server) ([]check, error) {
	var checks []check
	for _, p := range paths {
		payload, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		req, err := trigger.Decode(payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, c := range req.Closes() {
			if err := sim.Seed(simulator.SeedRecharge{SubMchid: c.SubMchid, OutRechargeNo: c.OutRechargeNo, Amount: 10000}); err != nil {
				return nil, err
			}
		}
		want := "CLOSED"
		switch {
		case req.IsAPI():
			want = "HTTP 200 CLOSED"
		case req.Kind == trigger.SQS:
			want = "batch: none kept"
		}
		checks = append(checks, check{label: p + " (" + string(req.Kind) + ")", payload: payload, want: want})
	}
	return checks, nil
}

// outcomeChecks show the other outcomes: closing again, a paid recharge, an
// unknown one, and a malformed identifier.
func outcomeChecks(sim *simulator.Server, first string) ([]check, error) {
	again, err := os.ReadFile(first)
	if err != nil {
		return nil, err
	}
	if err := sim.Seed(simulator.SeedRecharge{SubMchid: "1900000109", OutRechargeNo: "RCDEMOPAID1", Amount: 8800, State: "SUCCESS"}); err != nil {
		return nil, err
	}
	return []check{
		{"again: " + first + " (already closed)", again, "CLOSED"},
		{"a recharge whose money arrived first", []byte(`{"sub_mchid":"1900000109","out_recharge_no":"RCDEMOPAID1"}`), "SUCCESS"},
		{"a recharge WeChat Pay does not know", []byte(`{"sub_mchid":"1900000109","out_recharge_no":"RCDEMONONE"}`), "error REFUSED"},
		{"a malformed identifier", []byte(`{"sub_mchid":"1900000109","out_recharge_no":"../close"}`), "error INVALID_INPUT"},
	}, nil
}

// describe reduces an answer to its outcome: the recharge state, an API
// status with the state or error code, or the function error's type.
func describe(resp emulator.Response) (outcome, detail string) {
	if resp.ErrorType != "" {
		return "error " + resp.ErrorType, resp.ErrorMessage
	}
	var api struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	body := resp.Body
	prefix := ""
	if json.Unmarshal(resp.Body, &api) == nil && api.StatusCode != 0 {
		prefix, body = fmt.Sprintf("HTTP %d ", api.StatusCode), []byte(api.Body)
	}
	var batch struct {
		Failures *[]struct {
			ID string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if json.Unmarshal(body, &batch) == nil && batch.Failures != nil {
		if len(*batch.Failures) == 0 {
			return "batch: none kept", "every record settled"
		}
		return fmt.Sprintf("batch: %d kept", len(*batch.Failures)), string(body)
	}
	var r struct {
		State         string `json:"recharge_state"`
		OutRechargeNo string `json:"out_recharge_no"`
		Code          string `json:"code"`
		Message       string `json:"message"`
		Error         *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Sprintf("HTTP %d from the emulator", resp.Status), string(resp.Body)
	}
	if r.Code != "" {
		return prefix + r.Code, r.Message
	}
	if r.Error != nil { // a refusal, published and returned as a failure result
		return prefix + "refused " + r.Error.Code, r.Error.Message
	}
	return prefix + r.State, r.OutRechargeNo
}

// succeeded says whether an outcome, as describe gives it, is one the
// function settled: closed, or not closable (paid), and a batch that kept nothing.
func succeeded(outcome string) bool {
	switch outcome {
	case "CLOSED", "SUCCESS", "HTTP 200 CLOSED", "HTTP 409 SUCCESS", "batch: none kept":
		return true
	}
	return false
}
