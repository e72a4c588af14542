package wechatpay

import (
	"testing"
)

func TestRechargeURLEscapesAnyway(t *testing.T) {
	c := &Client{base: "https://api.mch.weixin.qq.com"}
	got := c.rechargeURL("19 00", "a/b?c", "/close")
	want := "https://api.mch.weixin.qq.com/v3/platsolution/ecommerce/recharges/out-recharge-no/a%2Fb%3Fc/close?sub_mchid=19+00"
	if got != want {
		t.Errorf("rechargeURL = %s, want %s", got, want)
	}
}

func TestValidateBaseURL(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"https://api.mch.weixin.qq.com", true},
		{"https://api2.mch.weixin.qq.com/", true},
		{"http://127.0.0.1:18080", true},
		{"http://localhost:18080", true},
		{"http://[::1]:18080", true},
		{"http://host.docker.internal:18080", true},
		{"http://host.docker.internal.example.com", false},
		{"http://docker.internal", false},
		{"http://api.mch.weixin.qq.com", false},
		{"http://10.0.0.1", false},
		{"https://api.mch.weixin.qq.com/v3", false},
		{"https://api.mch.weixin.qq.com?x=1", false},
		{"https://user:pw@api.mch.weixin.qq.com", false},
		{"ftp://api.mch.weixin.qq.com", false},
		{"api.mch.weixin.qq.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := ValidateBaseURL(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidateBaseURL(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
