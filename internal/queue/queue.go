// Package queue is the SQS side of the burst path: it brings a record that
// failed for a passing reason back after a delay of the handler's choosing,
// instead of after the queue's whole visibility timeout, by shortening its
// visibility (the adapter behind the handler's Requeuer port); and it puts
// delayed copies of records that never got to call WeChat Pay back on their
// queue (behind the Resender port).
package queue

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// API is the one call Visibility makes.
type API interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Visibility shortens records' visibility on the queue they came from.
type Visibility struct{ API API }

// maxBatch is how many entries one ChangeMessageVisibilityBatch call takes.
const maxBatch = 10

// callsAtOnce bounds the calls of one RetrySoon in flight together: a large
// batch's records come back in one call's time, not one after another.
const callsAtOnce = 10

// RetrySoon makes each record of the queue, by receipt handle, visible again
// after its delay (whole seconds, rounded up; at most SQS's 12 hours), ten to
// a call, the calls side by side. It returns the records it could not bring
// back, with why.
func (v *Visibility) RetrySoon(ctx context.Context, queueARN string, after map[string]time.Duration) map[string]error {
	return inCalls(queueARN, slices.Sorted(maps.Keys(after)), func(u string, chunk []string) map[string]error {
		return v.change(ctx, u, queueARN, chunk, after)
	})
}

// inCalls runs call on the queue's URL for the keys ten at a time, up to
// callsAtOnce calls side by side, and gathers what each says failed. A queue
// ARN that names no queue fails every key.
func inCalls(queueARN string, keys []string, call func(u string, chunk []string) map[string]error) map[string]error {
	failed := map[string]error{}
	u, err := URL(queueARN)
	if err != nil {
		for _, k := range keys {
			failed[k] = err
		}
		return failed
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	turn := make(chan struct{}, callsAtOnce)
	for chunk := range slices.Chunk(keys, maxBatch) {
		turn <- struct{}{}
		wg.Go(func() {
			defer func() { <-turn }()
			got := call(u, chunk)
			mu.Lock()
			maps.Copy(failed, got)
			mu.Unlock()
		})
	}
	wg.Wait()
	return failed
}

// change is one ChangeMessageVisibilityBatch call for chunk; it returns the
// records it could not bring back.
func (v *Visibility) change(ctx context.Context, u, queueARN string, chunk []string, after map[string]time.Duration) map[string]error {
	failed := map[string]error{}
	entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
	for i, h := range chunk {
		secs := int32(min(math.Ceil(after[h].Seconds()), 12*3600))
		entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: max(secs, 0)}
	}
	out, err := v.API.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(u), Entries: entries})
	if err != nil {
		for _, h := range chunk {
			failed[h] = fmt.Errorf("change message visibility on %s: %w", queueARN, err)
		}
		return failed
	}
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(chunk) {
			failed[chunk[i]] = fmt.Errorf("change message visibility on %s: %s: %s", queueARN, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return failed
}

// URL is the queue URL of a queue ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME),
// as the event source mapping's records carry only the ARN.
func URL(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	domain := "amazonaws.com"
	if parts[1] == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("https://sqs.%s.%s/%s/%s", parts[3], domain, parts[4], parts[5]), nil
}
