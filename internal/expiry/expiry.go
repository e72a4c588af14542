// Package expiry turns "close this recharge at T unless it is paid" into what
// closes it at T: the one EventBridge Scheduler schedule per recharge, in the
// stack's group, that puts the recharge on the expiry queue when T comes — or,
// for a T already past, the message on the queue at once. The schedule's name
// follows from the recharge alone, so that any component can find it again to
// move or delete it. It holds no WeChat Pay key and closes nothing itself.
package expiry

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"close-recharge/internal/fault"
	"close-recharge/internal/recharge"
	"close-recharge/internal/trigger"
)

// RequestedDetailType is the detail-type of the EventBridge event by which a
// platform asks for an expiry.
// Trigger decoding refuses it as a close request.
const RequestedDetailType = trigger.ExpiryRequested

// MaxAhead is how far after the request an expiry may lie: WeChat Pay closes
// an unpaid recharge by itself after some days, so a later deadline is a
// mistake on the platform's side, not a wish to honour.
const MaxAhead = 7 * 24 * time.Hour

// QueueWithin is how close to now an expiry goes straight onto the queue,
// delayed by SQS until its time, instead of into a schedule that could be
// created after its own time had passed.
const QueueWithin = time.Minute

// maxNameLen is Scheduler's limit on a schedule's name.
const maxNameLen = 64

// ScheduleName is the name of a recharge's expiry schedule: readable
// (close-SUBMCHID-OUTRECHARGENO) when it fits Scheduler's 64 characters, else
// close- and 58 hex digits of a SHA-256 of both. The identifiers must be
// valid (digits; letters and digits), which keeps the readable form within
// [0-9A-Za-z-_.] and one recharge's name apart from every other's: the
// readable form has a second '-' right after the digits of sub_mchid, the
// hashed one none.
func ScheduleName(subMchid, outRechargeNo string) string {
	name := "close-" + subMchid + "-" + outRechargeNo
	if len(name) <= maxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(subMchid + "/" + outRechargeNo))
	return "close-" + hex.EncodeToString(sum[:])[:maxNameLen-len("close-")]
}

// Request asks that a recharge be closed at ExpireTime (RFC 3339 with an
// offset) unless it is paid by then. RequestedAt is when it was asked, as its
// trigger says (zero: now): it orders the requests for one recharge, which
// retries can deliver late and out of order.
type Request struct {
	SubMchid      string    `json:"sub_mchid"`
	OutRechargeNo string    `json:"out_recharge_no"`
	ExpireTime    string    `json:"expire_time"`
	RequestedAt   time.Time `json:"requested_at,omitzero"`
}

// noOffsetLayout is an RFC 3339 time without its offset: a wall clock of no
// known zone, refused rather than guessed.
const noOffsetLayout = "2006-01-02T15:04:05"

// Validate checks the identifiers and the expire time as of now, and returns
// the time. Every problem is an invalid-input *fault.Error naming the field.
func (r Request) Validate(now time.Time) (time.Time, error) {
	if err := r.validateIDs(); err != nil {
		return time.Time{}, err
	}
	if r.ExpireTime == "" {
		return time.Time{}, fault.New(fault.InvalidInput, "expire_time is required")
	}
	at, err := time.Parse(time.RFC3339, r.ExpireTime)
	if err != nil {
		if _, werr := time.Parse(noOffsetLayout, trimFraction(r.ExpireTime)); werr == nil {
			return time.Time{}, fault.New(fault.InvalidInput,
				"expire_time %q has no UTC offset: write it as RFC 3339 with one, such as 2026-12-01T10:00:00+08:00", r.ExpireTime)
		}
		return time.Time{}, fault.New(fault.InvalidInput, "expire_time must be RFC 3339 with a UTC offset, such as 2026-12-01T10:00:00+08:00")
	}
	if limit := now.Add(MaxAhead); at.After(limit) {
		return time.Time{}, fault.New(fault.InvalidInput,
			"expire_time must be at most 7 days after the request (until %s): WeChat Pay closes an unpaid recharge by itself before then",
			limit.UTC().Format(time.RFC3339))
	}
	return at, nil
}

func (r Request) validateIDs() error {
	if err := recharge.ValidateSubMchid(r.SubMchid); err != nil {
		return err
	}
	return recharge.ValidateOutRechargeNo(r.OutRechargeNo)
}

// trimFraction drops a fractional second, which the no-offset layout does not take.
func trimFraction(s string) string {
	if len(s) > len(noOffsetLayout) && s[len(noOffsetLayout)] == '.' {
		return s[:len(noOffsetLayout)]
	}
	return s
}
