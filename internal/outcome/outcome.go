// Package outcome names the events that announce how a close ended. The close
// use-case publishes them; trigger decoding refuses them as requests, so that
// the function never takes its own output for input, whatever rule routes it.
package outcome

// Detail types of the published events.
const (
	Closed   = "Recharge Closed"         // the recharge is CLOSED; detail = the recharge
	Rejected = "Recharge Close Rejected" // the recharge is SUCCESS; detail = the recharge
	Failed   = "Recharge Close Failed"   // WeChat Pay's final refusal; detail = the failure result
	// Succeeded is published by the notification function on WeChat Pay's
	// RECHARGE.SUCCESS; detail = the notified recharge.
	Succeeded = "Recharge Succeeded"
)

// IsOwn reports whether detailType is one of the function's own outcome events.
func IsOwn(detailType string) bool {
	return detailType == Closed || detailType == Rejected || detailType == Failed || detailType == Succeeded
}
