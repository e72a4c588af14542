package wechatpay

import (
	"regexp"

	"close-recharge/internal/fault"
)

var (
	outRechargeNoPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)
	subMchidPattern      = regexp.MustCompile(`^[0-9]{1,32}$`)
)

// ValidateOutRechargeNo checks the platform's recharge number: 1–64 ASCII
// letters and digits. It runs before any URL is built.
func ValidateOutRechargeNo(s string) error {
	if s == "" {
		return fault.New(fault.InvalidInput, "out_recharge_no is required")
	}
	if !outRechargeNoPattern.MatchString(s) {
		return fault.New(fault.InvalidInput, "out_recharge_no must be 1-64 ASCII letters and digits")
	}
	return nil
}

// ValidateSubMchid checks the secondary merchant number: 1–32 ASCII digits.
func ValidateSubMchid(s string) error {
	if s == "" {
		return fault.New(fault.InvalidInput, "sub_mchid is required")
	}
	if !subMchidPattern.MatchString(s) {
		return fault.New(fault.InvalidInput, "sub_mchid must be 1-32 ASCII digits")
	}
	return nil
}
