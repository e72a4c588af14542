package notify

import (
	"crypto/sha256"
	"encoding/hex"
)

// ScheduleName is the name of a recharge's expiry schedule: unique per
// recharge, within Scheduler's 64 characters of [0-9A-Za-z-_.], and the same
// wherever it is computed, so that the schedule can be found from a
// notification alone.
func ScheduleName(subMchid, outRechargeNo string) string {
	name := "close-" + subMchid + "-" + outRechargeNo
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(subMchid + "/" + outRechargeNo))
	return "close-" + hex.EncodeToString(sum[:])[:58]
}
