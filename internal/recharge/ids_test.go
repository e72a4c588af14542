package recharge

import (
	"strings"
	"testing"

	"close-recharge/internal/fault"
)

func TestValidateOutRechargeNo(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"R1", true},
		{"20261127abcXYZ", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"../R1", false},
		{"R1/../../v3/x", false},
		{"R1?sub_mchid=1", false},
		{"R1%2Fclose", false},
		{"R1/close", false},
		{"R 1", false},
		{"R1\n", false},
		{"R-1", false},
		{"R_1", false},
		{"１２３", false}, // full-width digits
		{"Ｒ1", false},
		{"é1", false},
	}
	for _, tt := range tests {
		err := ValidateOutRechargeNo(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateOutRechargeNo(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && (fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "out_recharge_no")) {
			t.Errorf("ValidateOutRechargeNo(%q) error %v does not name out_recharge_no as invalid input", tt.in, err)
		}
	}
}

func TestValidateSubMchid(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"1900000109", true},
		{strings.Repeat("9", 32), true},
		{strings.Repeat("9", 33), false},
		{"", false},
		{"19000001a9", false},
		{"-1", false},
		{"１９００", false},
		{"1900 0109", false},
		{"1900000109&sub_mchid=2", false},
	}
	for _, tt := range tests {
		err := ValidateSubMchid(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateSubMchid(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "sub_mchid") {
			t.Errorf("ValidateSubMchid(%q) error %v does not name sub_mchid", tt.in, err)
		}
	}
}
