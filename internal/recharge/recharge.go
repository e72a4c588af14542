// Package recharge is the domain both sides of the function share: a WeChat
// Pay platform-solution recharge as WeChat Pay writes it, its states, and the
// rules its identifiers follow. It knows no transport: trigger decoding, the
// WeChat Pay client, the close use-case and the simulator all build on it.
package recharge

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// Exchange is what it took to hear WeChat Pay's answer about a recharge, for
// the invocation's log line and metrics: requests sent (closes and queries
// alike), WeChat Pay's Request-ID of the last answer, how many answers said
// the merchant's rate limit was exceeded, and how long requests waited for
// their paced turn.
type Exchange struct {
	Attempts    int
	RequestID   string
	RateLimited int
	PaceWait    time.Duration
}

// Add counts another exchange about the same recharge into x.
func (x *Exchange) Add(o Exchange) {
	x.Attempts += o.Attempts
	x.RateLimited += o.RateLimited
	x.PaceWait += o.PaceWait
	if o.RequestID != "" {
		x.RequestID = o.RequestID
	}
}

// Recharge states. WeChat Pay treats its enums as open sets: other values may appear.
const (
	StateSuccess    = "SUCCESS"
	StateRecharging = "RECHARGING"
	StateClosed     = "CLOSED"
)

// Recharge is a secondary-merchant recharge as WeChat Pay returns it. Fields
// WeChat Pay adds later are kept in Extra and written back out unchanged.
type Recharge struct {
	SpMchid           string                     `json:"sp_mchid,omitempty"`
	SubMchid          string                     `json:"sub_mchid,omitempty"`
	RechargeID        string                     `json:"recharge_id,omitempty"`
	OutRechargeNo     string                     `json:"out_recharge_no,omitempty"`
	RechargeChannel   string                     `json:"recharge_channel,omitempty"`
	AccountType       string                     `json:"account_type,omitempty"`
	RechargeState     string                     `json:"recharge_state,omitempty"`
	RechargeScene     string                     `json:"recharge_scene,omitempty"`
	RechargeStateDesc string                     `json:"recharge_state_desc,omitempty"`
	RechargeAmount    *Amount                    `json:"recharge_amount,omitempty"`
	BankTransferInfo  *BankTransferInfo          `json:"bank_transfer_info,omitempty"`
	QRRechargeInfo    *QRRechargeInfo            `json:"qr_recharge_info,omitempty"`
	AcceptTime        Time                       `json:"accept_time,omitzero"`
	SuccessTime       Time                       `json:"success_time,omitzero"`
	CloseTime         Time                       `json:"close_time,omitzero"`
	Extra             map[string]json.RawMessage `json:"-"`
}

// Amount is money in fen (1/100 CNY).
type Amount struct {
	Amount   int64                      `json:"amount"`
	Currency string                     `json:"currency,omitempty"`
	Extra    map[string]json.RawMessage `json:"-"`
}

// BankTransferInfo describes a recharge paid by bank transfer.
type BankTransferInfo struct {
	BillNo       string                     `json:"bill_no,omitempty"`
	Memo         string                     `json:"memo,omitempty"`
	ReturnTime   Time                       `json:"return_time,omitzero"`
	ReturnReason string                     `json:"return_reason,omitempty"`
	BankName     string                     `json:"bank_name,omitempty"`
	BankCardTail string                     `json:"bank_card_tail,omitempty"`
	Extra        map[string]json.RawMessage `json:"-"`
}

// QRRechargeInfo describes a recharge paid by scanning a QR code.
type QRRechargeInfo struct {
	Openid string                     `json:"openid,omitempty"`
	Extra  map[string]json.RawMessage `json:"-"`
}

// The four types share one way of keeping unknown fields: decode the known
// ones through an alias type, keep the rest raw, and splice them back on output.
type (
	rechargeFields         Recharge
	amountFields           Amount
	bankTransferInfoFields BankTransferInfo
	qrRechargeInfoFields   QRRechargeInfo
)

func (r *Recharge) UnmarshalJSON(b []byte) error {
	return unmarshalKeeping(b, (*rechargeFields)(r), &r.Extra)
}

func (r Recharge) MarshalJSON() ([]byte, error) {
	return marshalKeeping((*rechargeFields)(&r), r.Extra)
}

func (a *Amount) UnmarshalJSON(b []byte) error {
	return unmarshalKeeping(b, (*amountFields)(a), &a.Extra)
}

func (a Amount) MarshalJSON() ([]byte, error) { return marshalKeeping((*amountFields)(&a), a.Extra) }

func (i *BankTransferInfo) UnmarshalJSON(b []byte) error {
	return unmarshalKeeping(b, (*bankTransferInfoFields)(i), &i.Extra)
}

func (i BankTransferInfo) MarshalJSON() ([]byte, error) {
	return marshalKeeping((*bankTransferInfoFields)(&i), i.Extra)
}

func (i *QRRechargeInfo) UnmarshalJSON(b []byte) error {
	return unmarshalKeeping(b, (*qrRechargeInfoFields)(i), &i.Extra)
}

func (i QRRechargeInfo) MarshalJSON() ([]byte, error) {
	return marshalKeeping((*qrRechargeInfoFields)(&i), i.Extra)
}

var knownKeysCache sync.Map // reflect.Type → map[string]bool

func knownKeys(t reflect.Type) map[string]bool {
	if v, ok := knownKeysCache.Load(t); ok {
		return v.(map[string]bool)
	}
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	knownKeysCache.Store(t, keys)
	return keys
}

func unmarshalKeeping(b []byte, known any, extra *map[string]json.RawMessage) error {
	if err := json.Unmarshal(b, known); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	keys := knownKeys(reflect.TypeOf(known).Elem())
	*extra = nil
	for k, v := range all {
		if !keys[k] {
			if *extra == nil {
				*extra = map[string]json.RawMessage{}
			}
			(*extra)[k] = v
		}
	}
	return nil
}

func marshalKeeping(known any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	keys := knownKeys(reflect.TypeOf(known).Elem())
	names := make([]string, 0, len(extra))
	for k := range extra {
		if !keys[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range names {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Time is an RFC 3339 time as WeChat Pay writes it (e.g. 2015-05-20T13:29:35+08:00).
// An empty string or null decodes to the zero Time, which is left out on output.
type Time struct{ time.Time }

func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" || string(b) == `""` {
		t.Time = time.Time{}
		return nil
	}
	return t.Time.UnmarshalJSON(b)
}
