package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestEveryLineCarriesTheRequestID(t *testing.T) {
	var out bytes.Buffer
	logger := New(&out, slog.LevelDebug).With("component", "test")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	logger.DebugContext(ctx, "attempt", "n", 1)
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["aws_request_id"] != "req-1" || line["component"] != "test" || line["level"] != "DEBUG" {
		t.Errorf("line = %v", line)
	}
	out.Reset()
	New(&out, slog.LevelInfo).DebugContext(ctx, "hidden")
	if out.Len() != 0 {
		t.Errorf("debug line written at info level: %s", out.String())
	}
}
