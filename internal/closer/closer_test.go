package closer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"close-recharge/internal/closer"
	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

const sub = "1900000109"

func testKeys() *simulator.Keys { return simulator.SharedKeys() }

// secretSource is the merchant secret held in memory, changeable by a test.
type secretSource struct {
	mu     sync.Mutex
	secret merchant.Secret
}

func (s *secretSource) Read(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.secret)
}

func (s *secretSource) Name() string { return "secret test" }

type published struct {
	detailType string
	detail     []byte
}

// recorder is an in-memory publisher; fail makes it refuse.
type recorder struct {
	events []published
	fail   error
}

func (r *recorder) Publish(_ context.Context, events []closer.Event) []error {
	errs := make([]error, len(events))
	for i, e := range events {
		if r.fail != nil {
			errs[i] = r.fail
			continue
		}
		b, _ := json.Marshal(e.Detail)
		r.events = append(r.events, published{e.DetailType, b})
	}
	return errs
}

type env struct {
	sim    *simulator.Server
	source *secretSource
	cache  *secretstore.Cache
	pub    *recorder
	svc    *closer.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{sim: simulator.New(testKeys()), source: &secretSource{secret: testKeys().Secret(false)}, pub: &recorder{}}
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	e.cache = secretstore.NewCache(e.source, time.Hour)
	pool := wechatpay.NewPool(wechatpay.WithBaseURL(srv.URL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()))
	e.svc = closer.New(e.cache, pool, e.pub)
	return e
}

func (e *env) seed(t *testing.T, no, state string) {
	t.Helper()
	if err := e.sim.Seed(simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: no, State: state}); err != nil {
		t.Fatal(err)
	}
}

func TestOutcomesArePublished(t *testing.T) {
	tests := []struct {
		name       string
		state      string
		want       closer.Outcome
		wantDetail string
	}{
		{"recharging is closed", "RECHARGING", closer.Closed, outcome.Closed},
		{"closed stays closed", "CLOSED", closer.Closed, outcome.Closed},
		{"paid is not closable", "SUCCESS", closer.NotClosable, outcome.Rejected},
		{"unknown is refused", "", closer.Refused, outcome.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.state != "" {
				e.seed(t, "R1", tt.state)
			}
			res, err := e.svc.Close(context.Background(), sub, "R1")
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want || !res.Published || len(e.pub.events) != 1 || e.pub.events[0].detailType != tt.wantDetail {
				t.Fatalf("result %+v, events %+v", res, e.pub.events)
			}
			var detail struct {
				OutRechargeNo string `json:"out_recharge_no"`
				SubMchid      string `json:"sub_mchid"`
				Error         *closer.ErrorBody
			}
			_ = json.Unmarshal(e.pub.events[0].detail, &detail)
			if detail.OutRechargeNo != "R1" || detail.SubMchid != sub {
				t.Errorf("detail = %s", e.pub.events[0].detail)
			}
			if tt.want == closer.Refused && (detail.Error == nil || detail.Error.Code != "ORDER_NOT_EXIST") {
				t.Errorf("failure detail = %s", e.pub.events[0].detail)
			}
		})
	}
}

func TestPublishFailureIsTransient(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "R1", "RECHARGING")
	e.pub.fail = fault.Wrap(fault.Transient, fault.CodePublish, errors.New("boom"), "cannot publish")
	res, err := e.svc.Close(context.Background(), sub, "R1")
	if fault.KindOf(err) != fault.Transient || res.Outcome != "" {
		t.Fatalf("result %+v, err %v: a publish failure must fail the close", res, err)
	}
}

func TestNoPublisherReturnsOnly(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "R1", "RECHARGING")
	pool := wechatpay.NewPool(wechatpay.WithBaseURL(serverURL(t, e.sim)))
	res, err := closer.New(e.cache, pool, nil).Close(context.Background(), sub, "R1")
	if err != nil || res.Outcome != closer.Closed || res.Published {
		t.Fatalf("result %+v, %v", res, err)
	}
}

func serverURL(t *testing.T, sim *simulator.Server) string {
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestInvalidIdentifiersSendNothing(t *testing.T) {
	e := newEnv(t)
	for _, ids := range [][2]string{{"", "R1"}, {sub, ""}, {sub, "../x"}, {"1x", "R1"}} {
		if _, err := e.svc.Close(context.Background(), ids[0], ids[1]); fault.KindOf(err) != fault.InvalidInput {
			t.Errorf("Close(%q, %q) = %v, want invalid input", ids[0], ids[1], err)
		}
	}
	if e.cache.Reads() != 0 || e.sim.Calls("close") != 0 || len(e.pub.events) != 0 {
		t.Error("invalid input reached the secret, WeChat Pay or the bus")
	}
}

func TestRotationRereadsKeysOnce(t *testing.T) {
	next, err := simulator.GenerateKeys(testKeys().MchID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("merchant key", func(t *testing.T) {
		e := newEnv(t)
		e.seed(t, "R1", "RECHARGING")
		e.seed(t, "R2", "RECHARGING")
		if _, err := e.svc.Close(context.Background(), sub, "R1"); err != nil {
			t.Fatal(err)
		}
		rotated := testKeys().Secret(false)
		rotated.MerchantSerialNo, rotated.MerchantPrivateKey = next.MerchantSerialNo, simulator.PrivateKeyPEM(next.MerchantKey)
		e.source.secret = rotated
		e.sim.AcceptMerchantKey(next.MerchantSerialNo, &next.MerchantKey.PublicKey)
		e.sim.RevokeMerchantKey(testKeys().MerchantSerialNo)
		if res, err := e.svc.Close(context.Background(), sub, "R2"); err != nil || res.Outcome != closer.Closed {
			t.Fatalf("after rotation: %+v, %v", res, err)
		}
		if e.cache.Reads() != 2 {
			t.Errorf("reads = %d, want 2", e.cache.Reads())
		}
	})
	t.Run("WeChat Pay public key", func(t *testing.T) {
		e := newEnv(t)
		e.seed(t, "R1", "RECHARGING")
		rotated := testKeys().Secret(false)
		rotated.WechatPayPublicKeyID, rotated.WechatPayPublicKey = next.PublicKeyID, simulator.PublicKeyPEM(&next.PlatformKey.PublicKey)
		if _, err := e.cache.Keys(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.source.secret = rotated
		e.sim.RotatePlatformKey(next.PublicKeyID, next.PlatformKey)
		if res, err := e.svc.Close(context.Background(), sub, "R1"); err != nil || res.Outcome != closer.Closed {
			t.Fatalf("after rotation: %+v, %v", res, err)
		}
		if e.cache.Reads() != 2 {
			t.Errorf("reads = %d, want 2", e.cache.Reads())
		}
	})
	t.Run("signature still rejected after re-reading", func(t *testing.T) {
		e := newEnv(t)
		e.seed(t, "R1", "RECHARGING")
		e.sim.RevokeMerchantKey(testKeys().MerchantSerialNo)
		_, err := e.svc.Close(context.Background(), sub, "R1")
		if fault.KindOf(err) != fault.Configuration || e.cache.Reads() != 2 || e.sim.Calls("close") != 2 {
			t.Errorf("err %v after %d reads and %d closes, want a configuration error after 2 and 2", err, e.cache.Reads(), e.sim.Calls("close"))
		}
	})
	t.Run("answer still unverifiable after re-reading", func(t *testing.T) {
		e := newEnv(t)
		e.seed(t, "R1", "RECHARGING")
		// The first close is applied but unverifiable; the second is refused as a
		// re-close, and the query that settles it is unverifiable too.
		e.sim.Inject(simulator.Fault{Kind: simulator.FaultBadSignature, Times: 3})
		_, err := e.svc.Close(context.Background(), sub, "R1")
		if fault.KindOf(err) != fault.Transient || !errors.Is(err, wechatpay.ErrUnverified) || e.cache.Reads() != 2 {
			t.Errorf("err %v after %d reads, want a transient verification failure after 2", err, e.cache.Reads())
		}
		if len(e.pub.events) != 0 {
			t.Error("an unverified answer was published")
		}
	})
}
