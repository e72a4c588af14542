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

// ContractVersion is the event contract's major version, published in every
// detail as contract_version: within it a published field is never renamed,
// removed or given another JSON type; fields may be added. It changes only
// with the release's major version, and only when the contract breaks.
const ContractVersion = "1"

// IsOwn reports whether detailType is one of the function's own outcome events.
func IsOwn(detailType string) bool {
	return detailType == Closed || detailType == Rejected || detailType == Failed || detailType == Succeeded
}
