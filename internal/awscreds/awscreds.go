// Package awscreds makes a failure to obtain AWS credentials a configuration
// error. The SDK reports one as a plain wrapped error (a local run with no
// credentials ends in the instance metadata service's network failure), which
// would otherwise read as a passing network fault: a queued record would be
// retried into the dead-letter queue for a deployment that can never succeed.
package awscreds

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"close-recharge/internal/fault"
)

// Checked returns p with its failures turned into configuration errors. The
// SDK wraps what a provider returns with %w, so callers find the kind with
// fault.KindOf on the operation's error.
func Checked(p aws.CredentialsProvider) aws.CredentialsProvider {
	if p == nil {
		return nil
	}
	return checked{p}
}

type checked struct{ aws.CredentialsProvider }

func (c checked) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return creds, fault.Wrap(fault.Configuration, "", err,
			"no AWS credentials (from the environment, a profile or a role; locally, dummy values do for moto)")
	}
	return creds, err
}
