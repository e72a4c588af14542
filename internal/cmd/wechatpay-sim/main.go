// Command wechatpay-sim serves the WeChat Pay simulator on a local address.
//
//	go run ./internal/cmd/wechatpay-sim -listen 127.0.0.1:18080 -state-dir /tmp/sim [-seed recharges.json] [-notify-url URL]
//
// It generates (or reuses) the merchant's and WeChat Pay's keys in -state-dir,
// writes the merchant secret (with its apiv3_key) to DIR/secret.json, and
// serves until stopped.
//
// Recharges with a notify URL are notified when paid or closed, as WeChat Pay
// does; unsigned test routes pay, expire and seed them (see -h).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"close-recharge/internal/simulator"
)

const usage = `  wechatpay-sim -state-dir DIR [-listen 127.0.0.1:18080] [-seed FILE] [-notify-url URL]

Serves WeChat Pay's recharge apply, query and close APIs, verifying every
signature, and writes the merchant secret to DIR/secret.json.

Notifications: a recharge with a notify URL (from its apply request, the seed
file's "notify_url", or -notify-url) is notified when it is paid or closed,
and retried until acknowledged. Unsigned test routes:
  POST /simulator/recharges                             seed: [{sub_mchid,out_recharge_no,amount,state,notify_url,remark}]
  POST /simulator/recharges/{no}/pay?sub_mchid=         RECHARGING → SUCCESS, notified (409 if not RECHARGING)
  POST /simulator/recharges/{no}/expire?sub_mchid=      closed by WeChat Pay itself, notified
  PUT  /simulator/recharges/{no}/notify-url?sub_mchid=  {"notify_url":"http://…"}
  GET  /simulator/notifications                         every notification and how each attempt was answered
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wechatpay-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wechatpay-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18080", "address to serve on")
	stateDir := fs.String("state-dir", "", "directory for the generated keys and secret.json (required)")
	seed := fs.String("seed", "", "JSON file of recharges to preload: [{sub_mchid,out_recharge_no,amount,state,notify_url,remark}]")
	mchid := fs.String("mchid", "1900000100", "platform merchant number, for newly generated keys")
	signWith := fs.String("sign-with", "public-key", "answer-signing key: public-key or certificate")
	rate := fs.Float64("rate", 0, "the merchant's rate limit, requests a second (429 RATELIMIT_EXCEEDED beyond it); 0 for none")
	burst := fs.Int("burst", 0, "requests the rate limit lets through at once (default: a tenth of a second's worth, at least 1)")
	latency := fs.Duration("latency", 0, "added to every request, such as 30ms")
	notifyURL := fs.String("notify-url", "", "where to post the notifications of recharges given no notify_url of their own")
	notifyScale := fs.Duration("notify-time-scale", time.Second, "how long one second of WeChat Pay's notification retry schedule (15s, 15s, 30s, 3m … 24h4m in all) lasts, such as 10ms")
	notifyTwice := fs.Bool("notify-twice", false, "post every notification twice, the same request byte for byte")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of wechatpay-sim:\n%s\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stateDir == "" {
		return errors.New("-state-dir is required")
	}
	var opts []simulator.Option
	switch *signWith {
	case "public-key":
	case "certificate":
		opts = append(opts, simulator.WithSignMode(simulator.SignWithCertificate))
	default:
		return fmt.Errorf("-sign-with must be public-key or certificate, not %q", *signWith)
	}
	switch {
	case *rate < 0 || *burst < 0 || *latency < 0:
		return errors.New("-rate, -burst and -latency must not be negative")
	case *rate > 0:
		if *burst == 0 {
			*burst = max(1, int(*rate/10))
		}
		opts = append(opts, simulator.WithRateLimit(*rate, *burst))
	}
	if *latency > 0 {
		opts = append(opts, simulator.WithLatency(*latency))
	}
	if *notifyScale <= 0 {
		return errors.New("-notify-time-scale must be positive")
	}
	if u, err := url.Parse(*notifyURL); *notifyURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("-notify-url must be an http(s) URL, not %q", *notifyURL)
	}
	opts = append(opts, simulator.WithNotifyURL(*notifyURL), simulator.WithNotifyTimeScale(*notifyScale))
	if *notifyTwice {
		opts = append(opts, simulator.WithNotifyTwice())
	}

	keys, err := simulator.LoadOrCreateKeys(*stateDir, *mchid)
	if err != nil {
		return fmt.Errorf("keys in %s: %w", *stateDir, err)
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	sim := simulator.New(keys, append(opts, simulator.WithLogger(logger))...)
	defer sim.Close()
	if *seed != "" {
		b, err := os.ReadFile(*seed)
		if err != nil {
			return err
		}
		var seeds []simulator.SeedRecharge
		if err := json.Unmarshal(b, &seeds); err != nil {
			return fmt.Errorf("-seed %s: %w", *seed, err)
		}
		if err := sim.Seed(seeds...); err != nil {
			return fmt.Errorf("-seed %s: %w", *seed, err)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ConnState: sim.ConnState, ReadHeaderTimeout: 10 * time.Second}
	secretPath, _ := filepath.Abs(filepath.Join(*stateDir, "secret.json"))
	logger.Info("wechatpay-sim serving", "url", "http://"+ln.Addr().String(), "secret", secretPath, "mchid", keys.MchID)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
