// Package queue is the SQS side of the burst path: it brings a record that
// failed for a passing reason back within seconds, instead of after the
// queue's whole visibility timeout, by shortening its visibility. It is the
// adapter behind the handler's Requeuer port.
package queue

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// API is the one call Visibility makes.
type API interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Visibility shortens records' visibility on the queue they came from.
type Visibility struct{ API API }

// RetrySoon makes the record visible again after the given time (whole
// seconds, rounded up; at most SQS's 12 hours).
func (v *Visibility) RetrySoon(ctx context.Context, queueARN, receiptHandle string, after time.Duration) error {
	u, err := URL(queueARN)
	if err != nil {
		return err
	}
	secs := int32(min(math.Ceil(after.Seconds()), 12*3600))
	_, err = v.API.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(u), ReceiptHandle: aws.String(receiptHandle), VisibilityTimeout: max(secs, 0),
	})
	if err != nil {
		return fmt.Errorf("change message visibility on %s: %w", queueARN, err)
	}
	return nil
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
