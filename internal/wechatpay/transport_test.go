package wechatpay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"close-recharge/internal/wechatpay"
)

// A GET made not replayable still goes out as a GET without a body: no
// Content-Length, no chunked encoding, nothing after the headers — over HTTP/1.1
// and HTTP/2 alike.
func TestQueriesGoOutWithoutABody(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		var got struct {
			proto, te, body string
			length          int64
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got.proto, got.te, got.body, got.length = r.Proto, strings.Join(r.TransferEncoding, ","), string(b), r.ContentLength
		}))
		srv.EnableHTTP2 = h2
		if h2 {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		c := wechatpay.NewHTTPClient()
		if h2 {
			c.Transport = wechatpay.WithTransport(srv.Client().Transport)
		}
		resp, err := c.Get(srv.URL + "/v3/x")
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; got.proto != want || got.te != "" || got.body != "" || got.length > 0 {
			t.Errorf("%+v: want %s, no transfer encoding, no body", got, want)
		}
	}
}
