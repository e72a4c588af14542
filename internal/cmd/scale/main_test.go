package main

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"close-recharge/internal/awstest"
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

// A small burst through all three paths: every recharge closed, once, and the
// figures each path is judged by add up.
func TestEveryPathClosesEveryRecharge(t *testing.T) {
	moto := awstest.MotoForTest(t)
	secret, err := writeSecret()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(secret)) })
	o := options{n: 300, rate: 200, latency: 5 * time.Millisecond, instances: 3, batch: 10, timeout: 30 * time.Second,
		maxReceive: 10, limit: 2 * time.Minute, shards: 4}
	cfg := awstest.Config(moto)
	for _, path := range []struct {
		name string
		run  func(context.Context, options, aws.Config, string, io.Writer) (result, error)
	}{{"queue", queuePath}, {"async", asyncPath(true)}, {"async-best", asyncPath(false)}} {
		t.Run(path.name, func(t *testing.T) {
			r, err := path.run(context.Background(), o, cfg, secret, t.Output())
			if err != nil {
				t.Fatal(err)
			}
			if r.gaveUp != 0 || r.closed != o.n || r.lost != 0 || r.duplicates != 0 || r.deadLettered != 0 {
				t.Fatalf("%+v: want all %d closed once, none lost, none dead-lettered", r, o.n)
			}
			if r.requests < o.n || r.p50 > r.p99 || r.p99 > r.drain {
				t.Fatalf("%+v: requests, p50 ≤ p99 ≤ drain", r)
			}
			switch path.name {
			case "queue":
				// Paced at R / C per instance: WeChat Pay never had to refuse one.
				if r.throttled != 0 || r.invocations < o.n/o.batch || r.throttles != 0 {
					t.Fatalf("%+v: want no 429 and at least %d batches", r, o.n/o.batch)
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
