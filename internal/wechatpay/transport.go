package wechatpay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// MaxResponseBytes caps what is read of any WeChat Pay answer. A recharge is
// well under 4 KiB; anything near the cap is not WeChat Pay.
const MaxResponseBytes = 1 << 20

var errResponseTooLarge = fmt.Errorf("response body larger than %d bytes", MaxResponseBytes)

// NewHTTPClient returns the HTTP client the WeChat Pay client should share across
// warm invocations: connections kept alive, dials bounded, redirects refused (a
// signed request must never be replayed elsewhere), and bodies read in full,
// with a cap, inside the round trip, so that a body cut off mid-way is a
// transport error rather than something the SDK's verifier sees.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	t.IdleConnTimeout = 5 * time.Minute
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ForceAttemptHTTP2 = true
	return &http.Client{
		Transport: bufferedBody{t},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type bufferedBody struct{ next http.RoundTripper }

func (b bufferedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	// A signed request goes out once. Go's transport resends a request it
	// deems replayable — a GET without a body — when a kept-alive connection
	// breaks before the first byte of the answer, with the same Authorization:
	// a nonce and signature WeChat Pay may already have seen, and a repeated
	// nonce is refused as a replay (401 SIGN_ERROR), which would turn a network
	// fault into a configuration error. A body that is there but empty makes
	// the request not replayable (the transport finds it empty and sends none);
	// the client's own retry signs anew. POSTs carry their body and are not
	// replayed in the first place.
	if req.Body == nil || req.Body == http.NoBody {
		req = req.Clone(req.Context())
		req.Body, req.GetBody = emptyBody{}, nil
	}
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxResponseBytes {
		return nil, errResponseTooLarge
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// emptyBody is a request body with nothing in it that the transport cannot
// ask for again.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// ValidateBaseURL checks a WeChat Pay API origin: https, or http only for a
// development origin (the simulator): a loopback host, or host.docker.internal,
// which is the developer's machine as `sam local invoke`'s container sees it.
// No path, query, fragment or credentials.
func ValidateBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute URL such as https://api.mch.weixin.qq.com")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("must be an origin (scheme and host only, no path, query or credentials)")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) || u.Hostname() == DockerHost {
			return nil
		}
		return errors.New("may use http:// only for a loopback host or " + DockerHost + "; use https://")
	}
	return errors.New("must use https://")
}

// DockerHost names the machine that runs Docker, from inside a container.
const DockerHost = "host.docker.internal"

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
