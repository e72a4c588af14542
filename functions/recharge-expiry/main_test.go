package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBuildRefusesABadEnvironment(t *testing.T) {
	full := map[string]string{
		"SCHEDULE_GROUP": "g", "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/s",
		"EXPIRY_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:q", "SCHEDULE_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:d",
	}
	without := func(k string) map[string]string {
		env := map[string]string{}
		for n, v := range full {
			if n != k {
				env[n] = v
			}
		}
		return env
	}
	with := func(k, v string) map[string]string {
		env := without(k)
		env[k] = v
		return env
	}
	for name, env := range map[string]map[string]string{
		"SCHEDULE_GROUP":     without("SCHEDULE_GROUP"),
		"SCHEDULER_ROLE_ARN": without("SCHEDULER_ROLE_ARN"),
		"EXPIRY_QUEUE_ARN":   with("EXPIRY_QUEUE_ARN", "q"),
		"SCHEDULE_DLQ_ARN":   without("SCHEDULE_DLQ_ARN"),
		"LOG_LEVEL":          with("LOG_LEVEL", "loud"),
	} {
		_, err := build(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("err = %v, want one naming %s", err, name)
		}
	}
	t.Setenv("AWS_REGION", "us-east-1")
	if _, err := build(context.Background(), func(k string) string { return full[k] }, &bytes.Buffer{}); err != nil {
		t.Errorf("a full environment: %v", err)
	}
}
