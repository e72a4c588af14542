package wechatpay

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"

	"close-recharge/internal/recharge"
)

var (
	outRechargeNo = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)
	subMchid      = regexp.MustCompile(`^[0-9]{1,32}$`)
)

// FuzzIdentifiers: an identifier validates exactly when it matches WeChat
// Pay's documented form, and one that does cannot change the URL it is put in:
// the path is the one asked for and already clean, the query one parameter.
func FuzzIdentifiers(f *testing.F) {
	for _, s := range []string{"R1", "1900000109", "", "../R1", "R1?x=1", "R1%2F", "R 1", "１２３", strings.Repeat("a", 65), "R1/close", "R1#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ok := recharge.ValidateOutRechargeNo(s) == nil; ok != outRechargeNo.MatchString(s) {
			t.Fatalf("out_recharge_no %q: validated %v", s, ok)
		}
		if ok := recharge.ValidateSubMchid(s) == nil; ok != subMchid.MatchString(s) {
			t.Fatalf("sub_mchid %q: validated %v", s, ok)
		}
		if recharge.ValidateOutRechargeNo(s) == nil {
			c := &Client{base: DefaultBaseURL}
			u, err := url.Parse(c.rechargeURL("1900000109", s, "/close"))
			if err != nil || u.Path != rechargesPath+"/out-recharge-no/"+s+"/close" || path.Clean(u.Path) != u.Path ||
				u.RawQuery != "sub_mchid=1900000109" || u.Fragment != "" || u.Host != "api.mch.weixin.qq.com" {
				t.Fatalf("out_recharge_no %q changed the URL: %v", s, u)
			}
		}
	})
}
