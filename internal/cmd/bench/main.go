// Command bench prints the performance table of docs/performance.md ("The table"):
// warm invocation beside the SDK peer and the crypto+round-trip floor, cold
// start under the Runtime Interface Emulator beside a hello-world bootstrap,
// connections, Secrets Manager reads, binary size and peak RSS. Every figure is
// a median over repeated runs and every comparison a ratio within this run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/awstest"
	"close-recharge/internal/bench"
	"close-recharge/internal/emulator"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	rie       string
	template  string
	rounds    int
	coldRuns  int
	warmCalls int
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.rie, "rie", "bin/aws-lambda-rie", "the Runtime Interface Emulator")
	fs.StringVar(&o.template, "template", "template.yaml", "the SAM template whose fixed environment the function runs with")
	fs.IntVar(&o.rounds, "rounds", 9, "rounds of the in-process benchmarks")
	fs.IntVar(&o.coldRuns, "cold", 31, "fresh starts per bootstrap")
	fs.IntVar(&o.warmCalls, "warm", 100, "warm invocations for the connection, read and memory figures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "close-recharge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(out, "close-recharge performance — %s/%s, %d CPUs, %s, %s\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), cpuModel())
	var t table
	if err := warm(o, out, &t); err != nil {
		return err
	}
	bootstraps, err := build(tmp, out)
	if err != nil {
		return err
	}
	if err := underEmulator(o, bootstraps, out, &t); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe table of docs/performance.md:\n\n")
	t.print(out)
	return nil
}

// table collects the figures in the form docs/performance.md's table shows them.
type table struct{ rows [][3]string }

func (t *table) add(figure, value, target string) {
	t.rows = append(t.rows, [3]string{figure, value, target})
}

func (t *table) print(w io.Writer) {
	fmt.Fprintln(w, "| figure | value | target |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
}

func warm(o options, out io.Writer, t *table) error {
	benchmarks := []struct {
		name string
		fn   func(*testing.B)
	}{{"invocation", bench.Invocation}, {"peer: wechatpay-go Post", bench.Peer}, {"floor: sign+verify+round trip", bench.Floor}}
	ns := make([][]float64, len(benchmarks))
	bytes := make([][]float64, len(benchmarks))
	allocs := make([][]float64, len(benchmarks))
	bench.Shared()
	for range o.rounds {
		// Interleaved, so that a noisy neighbour hurts all three alike.
		for i, b := range benchmarks {
			r := testing.Benchmark(b.fn)
			ns[i] = append(ns[i], float64(r.NsPerOp()))
			bytes[i] = append(bytes[i], float64(r.AllocedBytesPerOp()))
			allocs[i] = append(allocs[i], float64(r.AllocsPerOp()))
		}
	}
	fmt.Fprintf(out, "1. Warm invocation in process (median of %d rounds)\n", o.rounds)
	fmt.Fprintf(out, "   %-32s %12s %10s %10s\n", "", "µs/op", "B/op", "allocs/op")
	for i, b := range benchmarks {
		fmt.Fprintf(out, "   %-32s %12.1f %10.0f %10.0f\n", b.name, median(ns[i])/1e3, median(bytes[i]), median(allocs[i]))
	}
	// Ratios are taken round by round, each against its baseline measured
	// beside it, and summarised by their median: a neighbour that slows one
	// round slows both sides of its ratio.
	paired := func(base int) (mid, lo, hi float64) {
		r := make([]float64, len(ns[0]))
		for k := range r {
			r[k] = ns[0][k] / ns[base][k]
		}
		return median(r), quantile(r, 0.25), quantile(r, 0.75)
	}
	peer, peerLo, peerHi := paired(1)
	floor, floorLo, floorHi := paired(2)
	fmt.Fprintf(out, "   invocation / peer  = %.3f   (target ≤ 1.10; median of %d paired ratios, quartiles %.3f–%.3f)\n", peer, o.rounds, peerLo, peerHi)
	fmt.Fprintf(out, "   invocation / floor = %.3f   (target ≤ 1.30; quartiles %.3f–%.3f)\n\n", floor, floorLo, floorHi)
	cost := func(i int) string {
		return fmt.Sprintf("%.2f ms, %.1f KB, %.0f allocs", median(ns[i])/1e6, median(bytes[i])/1e3, median(allocs[i]))
	}
	t.add("warm invocation in process (decode → cached keys → sign → HTTP → verify → result → publish)", cost(0), "")
	t.add("— ÷ bare wechatpay-go `core.Client.Post` of the same close ("+cost(1)+")", fmt.Sprintf("%.2f (quartiles %.2f–%.2f)", peer, peerLo, peerHi), "≤ 1.10")
	t.add(fmt.Sprintf("— ÷ floor: one SHA256-RSA2048 sign + one verify + one round trip (%.2f ms)", median(ns[2])/1e6),
		fmt.Sprintf("%.2f (quartiles %.2f–%.2f)", floor, floorLo, floorHi), "≤ 1.30")
	return nil
}

type bootstraps struct{ closer, hello, arm64 string }

func build(dir string, out io.Writer) (bootstraps, error) {
	b := bootstraps{
		closer: filepath.Join(dir, "local", "bootstrap"),
		hello:  filepath.Join(dir, "hello", "bootstrap"),
		arm64:  filepath.Join(dir, "arm64", "bootstrap"),
	}
	for _, t := range []struct{ out, arch, pkg string }{
		{b.closer, runtime.GOARCH, "./functions/close-recharge"},
		{b.hello, runtime.GOARCH, "./internal/bench/hello"},
		{b.arm64, "arm64", "./functions/close-recharge"},
	} {
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", t.out, t.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.arch)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("building %s: %v\n%s", t.pkg, err, msg)
		}
	}
	return b, nil
}

var initDuration = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

func underEmulator(o options, b bootstraps, out io.Writer, t *table) error {
	moto, stop, err := awstest.StartMoto()
	if err != nil {
		return err
	}
	defer stop()
	cfg := awstest.Config(moto)
	world := bench.Shared()
	proxy := awstest.NewProxy(moto)
	defer proxy.Close()
	secretARN, err := awstest.PutSecret(cfg, awstest.UniqueName("wechatpay/bench"), world.Keys.Secret(false))
	if err != nil {
		return err
	}
	// A bus with no rules: what is measured is the function, not moto's delivery.
	bus, err := awstest.CreateBus(cfg)
	if err != nil {
		return err
	}
	fixed, err := emulator.TemplateEnv(o.template, "CloseRechargeFunction")
	if err != nil {
		return err
	}
	fnEnv := append([]string{"WECHATPAY_SECRET_ID=" + secretARN, "WECHATPAY_BASE_URL=" + world.URL, "RESULT_EVENT_BUS=" + bus}, fixed...)
	// Cold starts talk to moto directly; the warm instance goes through the
	// counting proxy, whose extra hop is not the function's.
	direct, counted := append(awstest.Env(moto), fnEnv...), append(awstest.Env(proxy.URL), fnEnv...)

	// 2. Cold starts: process start to the first completed invocation. The
	// bootstraps start in turn, so that drift on a shared machine hits all alike.
	// hello-world runs as it is, and again with the environment the template
	// fixes for the function, so that the table shows what that setting is worth.
	type cold struct{ total, init []float64 }
	once := func(c *cold, bootstrap string, env []string, payload []byte, want string) error {
		start := time.Now()
		em, err := emulator.Start(emulator.Config{RIE: o.rie, Bootstrap: bootstrap, Env: env, Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		resp, err := em.Invoke(context.Background(), payload)
		elapsed := time.Since(start)
		logs := em.Logs()
		em.Stop()
		if err != nil {
			return err
		}
		if !strings.Contains(string(resp.Body), want) {
			return fmt.Errorf("cold invocation answered %s", resp.Body)
		}
		c.total = append(c.total, ms(elapsed))
		if m := initDuration.FindStringSubmatch(logs); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			c.init = append(c.init, v)
		}
		return nil
	}
	var closeCold, helloCold, helloFixed cold
	var ratios, fixedRatios []float64
	last := func(c cold) float64 { return c.total[len(c.total)-1] }
	hello := []byte(`{"hello":"world"}`)
	for range o.coldRuns {
		if err := once(&closeCold, b.closer, direct, event(world.Recharges(1)[0]), `"CLOSED"`); err != nil {
			return err
		}
		if err := once(&helloCold, b.hello, nil, hello, "world"); err != nil {
			return err
		}
		if err := once(&helloFixed, b.hello, fixed, hello, "world"); err != nil {
			return err
		}
		ratios = append(ratios, last(closeCold)/last(helloCold))
		fixedRatios = append(fixedRatios, last(closeCold)/last(helloFixed))
	}
	fmt.Fprintf(out, "2. Cold start under the Runtime Interface Emulator (median of %d fresh starts; process start → first answer)\n", o.coldRuns)
	fmt.Fprintf(out, "   the function's environment fixed by %s: %s\n", o.template, strings.Join(fixed, " "))
	fmt.Fprintf(out, "   %-44s %10s %10s\n", "", "total ms", "INIT ms")
	fmt.Fprintf(out, "   %-44s %10.1f %10s\n", "close-recharge (first close)", median(closeCold.total), medianOrDash(closeCold.init))
	fmt.Fprintf(out, "   %-44s %10.1f %10s\n", "hello-world aws-lambda-go", median(helloCold.total), medianOrDash(helloCold.init))
	fmt.Fprintf(out, "   %-44s %10.1f %10s\n", "hello-world with the same fixed environment", median(helloFixed.total), medianOrDash(helloFixed.init))
	fmt.Fprintf(out, "   close-recharge / hello-world = %.2f   (target ≤ 2.0; median of the %d paired ratios, quartiles %.2f–%.2f)\n",
		median(ratios), len(ratios), quantile(ratios, 0.25), quantile(ratios, 0.75))
	fmt.Fprintf(out, "   close-recharge / hello-world with the same environment = %.2f   (quartiles %.2f–%.2f)\n\n",
		median(fixedRatios), quantile(fixedRatios, 0.25), quantile(fixedRatios, 0.75))
	t.add("cold start under the emulator, process start → first close answered",
		fmt.Sprintf("%.1f ms (INIT %s ms)", median(closeCold.total), medianOrDash(closeCold.init)), "")
	t.add(fmt.Sprintf("— ÷ hello-world aws-lambda-go bootstrap (%.1f ms, INIT %s ms)", median(helloCold.total), medianOrDash(helloCold.init)),
		fmt.Sprintf("%.2f (quartiles %.2f–%.2f)", median(ratios), quantile(ratios, 0.25), quantile(ratios, 0.75)), "≤ 2.0")
	t.add(fmt.Sprintf("— ÷ hello-world given the same fixed environment (%.1f ms)", median(helloFixed.total)),
		fmt.Sprintf("%.2f (quartiles %.2f–%.2f)", median(fixedRatios), quantile(fixedRatios, 0.25), quantile(fixedRatios, 0.75)), "")

	// 3–5. One warm instance: connections, reads, memory.
	coldReads := proxy.Calls("secretsmanager.GetSecretValue")
	em, err := emulator.Start(emulator.Config{RIE: o.rie, Bootstrap: b.closer, Env: counted, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer em.Stop()
	invoke := func(no string) error {
		resp, err := em.Invoke(context.Background(), event(no))
		if err == nil && !strings.Contains(string(resp.Body), `"CLOSED"`) {
			err = fmt.Errorf("answer %s", resp.Body)
		}
		return err
	}
	if err := invoke(world.Recharges(1)[0]); err != nil {
		return err
	}
	simConns, awsConns := world.Sim.Connections(), proxy.Connections()
	reads := proxy.Calls("secretsmanager.GetSecretValue")
	for _, no := range world.Recharges(o.warmCalls) {
		if err := invoke(no); err != nil {
			return err
		}
	}
	rss, rssErr := em.FunctionPeakRSS()
	fmt.Fprintf(out, "3. Connections opened during %d warm invocations (after one warm-up)\n", o.warmCalls)
	fmt.Fprintf(out, "   to WeChat Pay (counted at the simulator): %d\n", world.Sim.Connections()-simConns)
	fmt.Fprintf(out, "   to AWS (counted at a proxy in front of moto): %d\n\n", proxy.Connections()-awsConns)

	arm, err := os.Stat(b.arm64)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "4. Size and memory\n")
	fmt.Fprintf(out, "   bootstrap, linux/arm64, stripped: %d bytes (%.2f MiB; target ≤ 12 MiB)\n", arm.Size(), float64(arm.Size())/(1<<20))
	if rssErr != nil {
		fmt.Fprintf(out, "   peak RSS: not measured (%v)\n\n", rssErr)
	} else {
		fmt.Fprintf(out, "   peak RSS of the bootstrap after %d invocations: %.1f MiB (target ≤ 40 MiB)\n\n", o.warmCalls+1, float64(rss)/(1<<20))
	}
	fmt.Fprintf(out, "5. Secrets Manager reads over %d invocations of one instance (default TTL 5m): %d (%d of them during the %d warm ones)\n",
		o.warmCalls+1, proxy.Calls("secretsmanager.GetSecretValue")-coldReads, proxy.Calls("secretsmanager.GetSecretValue")-reads, o.warmCalls)
	t.add(fmt.Sprintf("new connections to WeChat Pay / to AWS over %d warm invocations", o.warmCalls),
		fmt.Sprintf("%d / %d", world.Sim.Connections()-simConns, proxy.Connections()-awsConns), "0")
	t.add("bootstrap, linux/arm64, stripped", fmt.Sprintf("%.2f MiB", float64(arm.Size())/(1<<20)), "≤ 12 MiB")
	if rssErr == nil {
		t.add(fmt.Sprintf("peak RSS of the bootstrap over %d invocations", o.warmCalls+1), fmt.Sprintf("%.1f MiB", float64(rss)/(1<<20)), "≤ 40 MiB")
	}
	t.add(fmt.Sprintf("Secrets Manager reads over %d invocations of one instance (TTL 5m)", o.warmCalls+1),
		fmt.Sprint(proxy.Calls("secretsmanager.GetSecretValue")-coldReads), "1")
	return nil
}

func event(no string) []byte {
	b, _ := json.Marshal(map[string]string{"sub_mchid": "1900000109", "out_recharge_no": no})
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile is the q-quantile of v, nearest rank.
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func medianOrDash(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", median(v))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
