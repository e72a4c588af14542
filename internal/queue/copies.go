package queue

import (
	"context"
	"fmt"
	"maps"
	"math"
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
// what the expiry's earlier messages went through (trigger.Carried) as message
// attributes.
type Copies struct{ API SendAPI }

// maxDelay is SQS's longest DelaySeconds.
const maxDelay = 15 * time.Minute

// ResendLater sends each record of the queue, by message id, as a new message
// with its body, visible after its delay (whole seconds, rounded up; at most
// SQS's 15 minutes), ten to a call, the calls side by side. A copy carries
// when its original was first sent, so that how long the expiry has waited
// stays known, and what it carries. It returns the records it could not copy,
// with why.
func (c *Copies) ResendLater(ctx context.Context, queueARN string, copies map[string]trigger.Copy, after map[string]time.Duration) map[string]error {
	return inCalls(queueARN, slices.Sorted(maps.Keys(copies)), func(u string, chunk []string) map[string]error {
		return c.send(ctx, u, queueARN, chunk, copies, after)
	})
}

// send is one SendMessageBatch call for chunk; it returns the records it
// could not copy. A copy whose answer is missing counts as not sent: the
// original is then kept, and at worst the recharge is closed twice.
func (c *Copies) send(ctx context.Context, u, queueARN string, chunk []string, copies map[string]trigger.Copy, after map[string]time.Duration) map[string]error {
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
		number(trigger.ReceivesAttribute, int64(cp.Carried.Receives))
		number(trigger.CopiesAttribute, int64(cp.Carried.Copies))
		if cp.Carried.FirstError != "" {
			attrs[trigger.FirstErrorAttribute] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(cp.Carried.FirstError)}
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
