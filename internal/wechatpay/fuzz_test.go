package wechatpay

import (
	"net/url"
	"strings"
	"testing"

	"close-recharge/internal/recharge"
)

// FuzzIdentifiers: an identifier that validates is its own path and query
// escape, so it cannot change the URL it is put in.
func FuzzIdentifiers(f *testing.F) {
	for _, s := range []string{"R1", "1900000109", "", "../R1", "R1?x=1", "R1%2F", "R 1", "１２３", strings.Repeat("a", 65), "R1/close", "R1#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if recharge.ValidateOutRechargeNo(s) == nil {
			if url.PathEscape(s) != s || len(s) == 0 || len(s) > 64 {
				t.Fatalf("out_recharge_no %q validated", s)
			}
			c := &Client{base: DefaultBaseURL}
			u, err := url.Parse(c.rechargeURL("1900000109", s, "/close"))
			if err != nil || u.Path != rechargesPath+"/out-recharge-no/"+s+"/close" || u.Query().Get("sub_mchid") != "1900000109" {
				t.Fatalf("out_recharge_no %q changed the URL: %v", s, u)
			}
		}
		if recharge.ValidateSubMchid(s) == nil {
			if url.QueryEscape(s) != s || len(s) == 0 || len(s) > 32 || strings.Trim(s, "0123456789") != "" {
				t.Fatalf("sub_mchid %q validated", s)
			}
		}
	})
}
