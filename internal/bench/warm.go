// Package bench measures a warm invocation in process beside two baselines
// measured the same way against the same simulator: the peer (a bare
// wechatpay-go core.Client.Post of the same close, what a user would write
// with the official SDK) and the floor (the client-side crypto alone — one
// SHA256-RSA2048 sign and one verify — plus one loopback round trip).
package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"close-recharge/internal/closer"
	"close-recharge/internal/handler"
	"close-recharge/internal/metrics"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

const sub = "1900000109"

// World is the simulator every benchmark talks to, over loopback.
type World struct {
	Keys   *simulator.Keys
	Sim    *simulator.Server
	URL    string
	secret []byte
	next   int
	mu     sync.Mutex
}

var (
	worldOnce sync.Once
	world     *World
)

// Shared returns the one World of this process.
func Shared() *World {
	worldOnce.Do(func() {
		keys := simulator.SharedKeys()
		sim := simulator.New(keys)
		srv := httptest.NewUnstartedServer(sim)
		srv.Config.ConnState = sim.ConnState
		srv.Start()
		secret, _ := json.Marshal(keys.Secret(false))
		world = &World{Keys: keys, Sim: sim, URL: srv.URL, secret: secret}
	})
	return world
}

// Recharges seeds n RECHARGING recharges and returns their numbers.
func (w *World) Recharges(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	nos := make([]string, n)
	seeds := make([]simulator.SeedRecharge, n)
	for i := range nos {
		w.next++
		nos[i] = "BENCH" + strconv.Itoa(w.next)
		seeds[i] = simulator.SeedRecharge{SubMchid: sub, OutRechargeNo: nos[i], Amount: 100}
	}
	if err := w.Sim.Seed(seeds...); err != nil {
		panic(err)
	}
	return nos
}

type memorySecret []byte

func (m memorySecret) Read(context.Context) ([]byte, error) { return m, nil }
func (memorySecret) Name() string                           { return "secret bench" }

type memoryPublisher struct{ n int }

func (p *memoryPublisher) Publish(_ context.Context, events []closer.Event) []error {
	errs := make([]error, len(events))
	for i, e := range events {
		if _, errs[i] = json.Marshal(e.Detail); errs[i] == nil {
			p.n++
		}
	}
	return errs
}

// NewHandler builds the function's handler as main does, with the secret in
// memory and an in-memory publisher.
func (w *World) NewHandler() *handler.Handler {
	pool := wechatpay.NewPool(wechatpay.WithBaseURL(w.URL), wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()))
	svc := closer.New(secretstore.NewCache(memorySecret(w.secret), 5*time.Minute), pool, &memoryPublisher{})
	return handler.New(svc, slog.New(slog.DiscardHandler), metrics.NewEMF(io.Discard, metrics.DefaultNamespace, nil))
}

// Invocation is one full warm invocation: decode, cached keys, sign, HTTP,
// verify, result, publish.
func Invocation(b *testing.B) {
	w := Shared()
	h := w.NewHandler()
	ctx := context.Background()
	warm := w.Recharges(1)
	if _, err := h.Invoke(ctx, directEvent(warm[0])); err != nil {
		b.Fatal(err)
	}
	payloads := make([][]byte, b.N)
	for i, no := range w.Recharges(b.N) {
		payloads[i] = directEvent(no)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		out, err := h.Invoke(ctx, payloads[i])
		if err != nil || !bytes.Contains(out, []byte(`"CLOSED"`)) {
			b.Fatalf("invocation: %s %v", out, err)
		}
	}
}

func directEvent(no string) []byte {
	return []byte(`{"sub_mchid":"` + sub + `","out_recharge_no":"` + no + `"}`)
}

// Peer is the same close with the official SDK and nothing else.
func Peer(b *testing.B) {
	w := Shared()
	k := w.Keys
	client, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(k.MchID, k.MerchantSerialNo, k.MerchantKey, k.PublicKeyID, &k.PlatformKey.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	nos := w.Recharges(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := client.Post(context.Background(), w.URL+"/v3/platsolution/ecommerce/recharges/out-recharge-no/"+nos[i]+"/close?sub_mchid="+sub, map[string]any{})
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Response.Body)
		res.Response.Body.Close()
	}
}

// Floor is the least any client must do: sign the request, one round trip,
// verify the answer.
func Floor(b *testing.B) {
	w := Shared()
	k := w.Keys
	httpClient := &http.Client{}
	nos := w.Recharges(b.N)
	body := []byte("{}")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		uri := "/v3/platsolution/ecommerce/recharges/out-recharge-no/" + nos[i] + "/close?sub_mchid=" + sub
		ts, nonce := time.Now().Unix(), strconv.Itoa(i)+"N"+strconv.FormatInt(time.Now().UnixNano(), 36)
		sum := sha256.Sum256(simulator.RequestMessage("POST", uri, ts, nonce, body))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k.MerchantKey, crypto.SHA256, sum[:])
		req, _ := http.NewRequest("POST", w.URL+uri, bytes.NewReader(body))
		req.Header.Set("Authorization", fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",timestamp="%d",serial_no="%s",signature="%s"`,
			k.MchID, nonce, ts, k.MerchantSerialNo, base64.StdEncoding.EncodeToString(sig)))
		resp, err := httpClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		rts, _ := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
		if resp.StatusCode != 200 || simulator.VerifySignature(&k.PlatformKey.PublicKey,
			simulator.ResponseMessage(rts, h.Get("Wechatpay-Nonce"), answer), h.Get("Wechatpay-Signature")) != nil {
			b.Fatalf("floor: %d %s", resp.StatusCode, answer)
		}
	}
}
