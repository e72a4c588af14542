package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"close-recharge/internal/trigger"
)

// SendAPI is the one call Copies makes.
type SendAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Copies puts delayed copies of records on the queue they came from. A copy
// is a new message: SQS counts its receives from none again, so it carries
// what the expiry's earlier messages went through (Carried) as message
// attributes.
type Copies struct{ API SendAPI }

// Copy is a record to put back, with what its copy carries.
type Copy struct {
	Record  trigger.Record
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
// the original was sent (trigger.FirstSentAttribute).
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

// maxDelay is SQS's longest DelaySeconds.
const maxDelay = 15 * time.Minute

// ResendLater sends each record of the queue, by message id, as a new message
// with its body, visible after its delay (whole seconds, rounded up; at most
// SQS's 15 minutes), ten to a call, the calls side by side. A copy carries
// when its original was first sent, so that how long the expiry has waited
// stays known, and its Carried. It returns the records it could not copy,
// with why.
func (c *Copies) ResendLater(ctx context.Context, queueARN string, copies map[string]Copy, after map[string]time.Duration) map[string]error {
	return inCalls(queueARN, slices.Sorted(maps.Keys(copies)), func(u string, chunk []string) map[string]error {
		return c.send(ctx, u, queueARN, chunk, copies, after)
	})
}

// send is one SendMessageBatch call for chunk; it returns the records it
// could not copy. A copy whose answer is missing counts as not sent: the
// original is then kept, and at worst the recharge is closed twice.
func (c *Copies) send(ctx context.Context, u, queueARN string, chunk []string, copies map[string]Copy, after map[string]time.Duration) map[string]error {
	failed := map[string]error{}
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(chunk))
	for i, id := range chunk {
		secs := int32(min(max(math.Ceil(after[id].Seconds()), 0), maxDelay.Seconds()))
		cp := copies[id]
		attrs := map[string]sqstypes.MessageAttributeValue{}
		number := func(name string, v int64) {
			attrs[name] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatInt(v, 10))}
		}
		if sent := cp.Record.SentAt; !sent.IsZero() {
			number(trigger.FirstSentAttribute, sent.UnixMilli())
		}
		number(ReceivesAttribute, int64(cp.Carried.Receives))
		number(CopiesAttribute, int64(cp.Carried.Copies))
		if cp.Carried.FirstError != "" {
			attrs[FirstErrorAttribute] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(cp.Carried.FirstError)}
		}
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(cp.Record.Body),
			DelaySeconds: secs, MessageAttributes: attrs}
	}
	out, err := c.API.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries})
	if err != nil {
		for _, id := range chunk {
			failed[id] = fmt.Errorf("send a copy to %s: %w", queueARN, err)
		}
		return failed
	}
	sent := map[int]bool{}
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil {
			sent[i] = true
		}
	}
	for i, id := range chunk {
		if !sent[i] {
			failed[id] = fmt.Errorf("send a copy to %s: not taken", queueARN)
		}
	}
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(chunk) {
			failed[chunk[i]] = fmt.Errorf("send a copy to %s: %s: %s", queueARN, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return failed
}
