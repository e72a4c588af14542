package wechatpay

import "net/http"

// WithTransport wraps t as NewHTTPClient wraps its own transport, for tests
// that need a transport of their own (one that trusts a test certificate).
func WithTransport(t http.RoundTripper) http.RoundTripper { return bufferedBody{t} }
