// Package awstest gives tests real AWS APIs on loopback: moto_server's Secrets
// Manager, EventBridge and SQS, a counting proxy in front of them, and the
// resources the function needs (a secret, a bus routed to a queue).
package awstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and the static credentials every test uses against moto.
const (
	Region    = "us-east-1"
	AccessKey = "testing"
	SecretKey = "testing"
	AccountID = "123456789012"
)

// Env is what a process needs to reach endpoint as the test account.
func Env(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Config is an SDK configuration pointed at endpoint.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// ErrNoMoto means moto_server is neither running (MOTO_ENDPOINT) nor installed.
var ErrNoMoto = errors.New("moto_server is not installed and MOTO_ENDPOINT is not set")

// StartMoto returns MOTO_ENDPOINT when set, or starts moto_server on a free
// loopback port; stop ends what it started.
func StartMoto() (endpoint string, stop func(), err error) {
	if ep := os.Getenv("MOTO_ENDPOINT"); ep != "" {
		return ep, func() {}, waitHTTP(ep, 5*time.Second)
	}
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return "", nil, ErrNoMoto
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}
	endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(endpoint, 30*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return endpoint, stop, nil
}

func waitHTTP(endpoint string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto at %s did not answer: %w", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Proxy forwards to an AWS endpoint and counts the calls by operation
// ("secretsmanager.GetSecretValue", "AWSEvents.PutEvents", …) and the TCP
// connections it accepted. It can also be told to fail an operation.
type Proxy struct {
	URL string

	mu     sync.Mutex
	calls  map[string]int
	conns  int
	canned map[string]canned // operation → the answer to give instead of forwarding
	srv    *httptest.Server
}

// NewProxy starts a proxy to target; Close it when done.
func NewProxy(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	p := &Proxy{calls: map[string]int{}, canned: map[string]canned{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		p.mu.Lock()
		p.calls[op]++
		c, ok := p.canned[op]
		p.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(c.status)
			_, _ = io.WriteString(w, c.body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
		}
	}
	p.srv.Start()
	p.URL = p.srv.URL
	return p
}

type canned struct {
	status int
	body   string
}

// Calls is how many requests for op went through, op being the X-Amz-Target.
func (p *Proxy) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// Connections is how many TCP connections the proxy accepted.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// Answer makes the proxy answer op with status and a JSON body instead of
// forwarding it, e.g. 400 {"__type":"ThrottlingException"}.
func (p *Proxy) Answer(op string, status int, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canned[op] = canned{status, body}
}

// Forward makes the proxy forward op again.
func (p *Proxy) Forward(op string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.canned, op)
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// UniqueName makes a resource name unlikely to collide across tests sharing one moto.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(prefix), time.Now().UnixNano())
}

// Ctx is a context bounded for one AWS test call.
func Ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// MotoForTest returns a moto endpoint for t: MOTO_ENDPOINT, or a moto_server
// started for t and stopped after it. Without moto, t is skipped — or fails
// when CI is set (to anything), where moto is required.
func MotoForTest(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: moto is left to the full suite (make test)")
	}
	endpoint, stop, err := StartMoto()
	if errors.Is(err, ErrNoMoto) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return endpoint
}
