package trigger

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"unicode/utf8"

	"close-recharge/internal/fault"
)

var (
	safeID     = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)
	safeSubMch = regexp.MustCompile(`^[0-9]{1,32}$`)
)

// FuzzDecode: whatever arrives, Decode either yields identifiers that are safe
// to put in a URL or an invalid-input error; it never panics.
func FuzzDecode(f *testing.F) {
	paths, _ := filepath.Glob("../../events/*.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"sub_mchid":"1900000109","out_recharge_no":"R1","out_recharge_no":"R2"}`,
		`{"sub_mchid":1900000109,"out_recharge_no":"R1"}`,
		`{"detail-type":"Recharge Expired","detail":"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R1\"}"}`,
		v2 + `,"body":"eyJzdWJfbWNoaWQiOiIxOTAwMDAwMTA5In0=","isBase64Encoded":true}`,
		v1 + `,"queryStringParameters":{"sub_mchid":"1900000109"},"body":"{\"sub_mchid\":\"1900000108\"}"}`,
		`{"sub_mchid":"1900000109","out_recharge_no":"../R1"}`,
		"{\"sub_mchid\":\"1900000109\",\"out_recharge_no\":\"R\xff\"}",
		`[[[[[[[[[[]]]]]]]]]]`,
		`{"sub_mchid":"1900000109","SUB_MCHID":"1","out_recharge_no":"R1"}`,
		`{"detail-type":"Recharge Closed","detail":{"sub_mchid":"1900000109","out_recharge_no":"R1"}}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := Decode(payload)
		if err != nil {
			if fault.KindOf(err) != fault.InvalidInput {
				t.Fatalf("error of kind %s: %v", fault.KindOf(err), err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error message is not UTF-8: %q", err.Error())
			}
			return
		}
		if req.Kind == SQS {
			// A batch is accepted whole; each body is judged on its own.
			for _, r := range req.Records {
				if rec, err := DecodeRecord(r.Body); err == nil {
					checkIDs(t, rec)
				} else if fault.KindOf(err) != fault.InvalidInput {
					t.Fatalf("record error of kind %s: %v", fault.KindOf(err), err)
				}
			}
			return
		}
		checkIDs(t, req)
	})
}

func checkIDs(t *testing.T, req Request) {
	t.Helper()
	if !safeID.MatchString(req.OutRechargeNo) {
		t.Fatalf("accepted out_recharge_no %q", req.OutRechargeNo)
	}
	if !safeSubMch.MatchString(req.SubMchid) {
		t.Fatalf("accepted sub_mchid %q", req.SubMchid)
	}
}
