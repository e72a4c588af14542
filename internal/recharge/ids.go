package recharge

import "close-recharge/internal/fault"

// ValidateOutRechargeNo checks the platform's recharge number: 1–64 ASCII
// letters and digits. It runs before any URL is built.
func ValidateOutRechargeNo(s string) error {
	if s == "" {
		return fault.New(fault.InvalidInput, "out_recharge_no is required")
	}
	if len(s) > 64 || !all(s, isAlnum) {
		return fault.New(fault.InvalidInput, "out_recharge_no must be 1-64 ASCII letters and digits")
	}
	return nil
}

// ValidateSubMchid checks the secondary merchant number: 1–32 ASCII digits.
func ValidateSubMchid(s string) error {
	if s == "" {
		return fault.New(fault.InvalidInput, "sub_mchid is required")
	}
	if len(s) > 32 || !all(s, isDigit) {
		return fault.New(fault.InvalidInput, "sub_mchid must be 1-32 ASCII digits")
	}
	return nil
}

// all reports whether every byte of s satisfies ok. Bytes, not runes: any
// non-ASCII input fails, whatever it encodes.
func all(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
