package trigger

import (
	"encoding/json"
	"regexp"
	"strconv"
)

// A record the function puts back on its queue goes as a delayed copy: a new
// message, which SQS counts from no receives again, so it carries what the
// expiry's earlier messages went through as message attributes (read here,
// written by internal/queue).

// Copy is a record to put back, with what its copy carries.
type Copy struct {
	Record  Record
	Carried Carried
}

// Carried is what a copy carries from the messages of its expiry before it.
type Carried struct {
	// Receives is how many receives of the earlier messages counted as tries:
	// with this message's own receive count, the expiry's receive budget.
	Receives int
	// Copies is how many copies of the expiry were put back before this one.
	Copies int
	// FirstError is the code of the expiry's first failure, when it was seen
	// on a receive that put a copy back; "" when none was.
	FirstError string
}

// The message attributes that carry Carried, and the one that carries when
// the original was sent (FirstSentAttribute).
const (
	ReceivesAttribute   = "ExpiryReceives"
	CopiesAttribute     = "ExpiryCopies"
	FirstErrorAttribute = "ExpiryFirstError"
)

// MaxCarried bounds a carried count: SQS's maxReceiveCount is at most 1,000.
const MaxCarried = 1000

// errorCode is what a carried first error must look like: one of WeChat Pay's
// codes or this project's (SYSTEM_ERROR, RATELIMIT_EXCEEDED, NETWORK_ERROR, …).
var errorCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// CarriedIn reads what each record of an SQS event carries, by message id; a
// record that carries nothing (an original) is absent. Attributes that do not
// parse count as absent: at worst the record gets a fresh budget.
func CarriedIn(payload []byte) map[string]Carried {
	var e struct {
		Records []struct {
			MessageID  string `json:"messageId"`
			Attributes map[string]struct {
				StringValue *string `json:"stringValue"`
			} `json:"messageAttributes"`
		} `json:"Records"`
	}
	if json.Unmarshal(payload, &e) != nil {
		return nil
	}
	out := map[string]Carried{}
	for _, r := range e.Records {
		value := func(name string) string {
			if a, ok := r.Attributes[name]; ok && a.StringValue != nil {
				return *a.StringValue
			}
			return ""
		}
		// Whoever may send to the queue may set attributes too: a count is
		// bounded by the most receives a queue allows, and the first error is
		// kept only when it reads as an error code, so that a forged one can
		// neither inflate the GAVE_UP event past what EventBridge takes nor
		// carry text into it.
		count := func(name string) int {
			n, err := strconv.Atoi(value(name))
			if err != nil || n < 0 {
				return 0
			}
			return min(n, MaxCarried)
		}
		first := value(FirstErrorAttribute)
		if !errorCode.MatchString(first) {
			first = ""
		}
		c := Carried{Receives: count(ReceivesAttribute), Copies: count(CopiesAttribute), FirstError: first}
		if c != (Carried{}) {
			out[r.MessageID] = c
		}
	}
	return out
}
