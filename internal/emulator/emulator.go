// Package emulator runs a Lambda bootstrap under the AWS Lambda Runtime
// Interface Emulator — the runtime `sam local invoke` runs inside its container —
// and invokes it over the emulator's HTTP API. The demo, the integration tests
// and the benchmarks share it.
package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says what to run.
type Config struct {
	RIE       string   // path of aws-lambda-rie
	Bootstrap string   // path of the function's bootstrap
	Env       []string // the function's environment, KEY=VALUE, on top of a clean base
	Timeout   time.Duration
	Output    io.Writer // the emulator's and the function's output; also kept for Logs
}

// Emulator is one running emulator with its function.
type Emulator struct {
	addr string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	lock *os.File // held while the emulator runs: it binds 127.0.0.1:9001
}

// lockPath is where runs on one machine take turns: every emulator binds
// 127.0.0.1:9001 for its runtime API, so two at once would fail each other.
var lockPath = filepath.Join(os.TempDir(), "close-recharge-emulator-9001.lock")

// takeTurn waits for any other emulator run on this machine to end. It says
// so, once, when it has to wait.
func takeTurn() (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("emulator: lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return f, nil
	}
	fmt.Fprintf(os.Stderr, "emulator: another run holds %s (the emulator binds 127.0.0.1:9001); waiting for it to finish\n", lockPath)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("emulator: lock %s: %w", lockPath, err)
	}
	return f, nil
}

// Start runs the emulator on a free loopback port (never 9001, which it uses
// itself) and waits until it accepts invocations.
func Start(cfg Config) (*Emulator, error) {
	for _, p := range []string{cfg.RIE, cfg.Bootstrap} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
	}
	lock, err := takeTurn()
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:9001")
	if err != nil {
		return nil, errors.New("emulator: 127.0.0.1:9001 is taken by something other than this project's runs; the emulator binds that port for its runtime API")
	}
	ln.Close()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &Emulator{addr: fmt.Sprintf("127.0.0.1:%d", port), logs: &lockedBuffer{}, done: make(chan struct{}), lock: lock}
	e.cmd = exec.Command(cfg.RIE, "--runtime-interface-emulator-address", e.addr, cfg.Bootstrap)
	env := cleanEnv()
	if cfg.Timeout > 0 {
		env = append(env, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(cfg.Timeout.Seconds())))
	}
	e.cmd.Env = append(env, cfg.Env...)
	var out io.Writer = e.logs
	if cfg.Output != nil {
		out = io.MultiWriter(e.logs, cfg.Output)
	}
	e.cmd.Stdout, e.cmd.Stderr = out, out
	// Its own process group, so that Stop ends the function with the emulator.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", e.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			started = true
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("emulator exited at start:\n%s", e.logs.String())
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("emulator did not listen on %s:\n%s", e.addr, e.logs.String())
		}
	}
}

// cleanEnv is this process's environment without anything that configures the
// function or AWS, so that a developer's own settings never leak into a run.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "WECHATPAY_") || strings.HasPrefix(k, "RESULT_EVENT_") ||
			k == "LOG_LEVEL" || k == "METRICS_NAMESPACE" || k == "_LAMBDA_SERVER_PORT" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Response is what an invocation returned. A function error is not a Go
// error: it is ErrorType and ErrorMessage, as the emulator reports it.
type Response struct {
	Status       int // the emulator's HTTP status: 200, or 502 for an init failure
	Body         []byte
	ErrorType    string
	ErrorMessage string
	Duration     time.Duration
}

// Invoke sends one event and waits for the function's answer.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+e.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return Response{}, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, Body: body, Duration: time.Since(start)}
	var fnErr struct {
		Type    *string `json:"errorType"`
		Message string  `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fnErr) == nil && fnErr.Type != nil {
		r.ErrorType, r.ErrorMessage = *fnErr.Type, fnErr.Message
	}
	return r, nil
}

// FunctionPeakRSS is the function process's peak resident set (VmHWM), in
// bytes, read from /proc: the emulator runs the bootstrap as its child.
func (e *Emulator) FunctionPeakRSS() (int64, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := strconv.Itoa(e.cmd.Process.Pid)
	for _, d := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		if f := strings.Fields(rest); len(f) < 2 || f[1] != parent {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("the function process was not found under the emulator")
}

// Logs is everything the emulator and the function printed so far.
func (e *Emulator) Logs() string { return e.logs.String() }

// Stop ends the emulator and its function.
func (e *Emulator) Stop() {
	pgid := -e.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-e.done
	}
	if e.lock != nil {
		e.lock.Close() // closing the file releases the lock
		e.lock = nil
	}
}

func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port != 9001 {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
