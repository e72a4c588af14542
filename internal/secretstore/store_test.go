package secretstore

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"close-recharge/internal/fault"
)

type failingAPI struct{ err error }

func (f failingAPI) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, f.err
}

// What Secrets Manager answers decides the kind: a secret that is missing,
// undecryptable or forbidden to the function's role is a configuration error
// (no retry cures it, and stale keys must not mask it); anything else may pass.
func TestSecretsManagerErrorKinds(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"not found", &smtypes.ResourceNotFoundException{Message: aws.String("gone")}, fault.Configuration},
		{"KMS refuses to decrypt", &smtypes.DecryptionFailure{Message: aws.String("kms")}, fault.Configuration},
		{"invalid request", &smtypes.InvalidRequestException{Message: aws.String("deleted")}, fault.Configuration},
		{"invalid parameter", &smtypes.InvalidParameterException{Message: aws.String("id")}, fault.Configuration},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}, fault.Configuration},
		{"unrecognized client", &smithy.GenericAPIError{Code: "UnrecognizedClientException"}, fault.Configuration},
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, fault.Transient},
		{"network", errors.New("connection reset by peer"), fault.Transient},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &SecretsManager{API: failingAPI{tt.err}, SecretID: "test/merchant"}
			_, err := s.Read(context.Background())
			if got := fault.KindOf(err); got != tt.want {
				t.Errorf("kind %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}
