// Command hello is the smallest aws-lambda-go function: the baseline the
// close-recharge bootstrap's cold start is measured against.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, event map[string]any) (map[string]any, error) {
		return event, nil
	})
}
