// Command recharge-notify is the Lambda function (bootstrap) behind the public
// route WeChat Pay posts recharge notifications to. It only wires: read the
// environment, build the dependencies once per instance, and start the handler.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"close-recharge/internal/awscreds"
	"close-recharge/internal/config"
	"close-recharge/internal/logging"
	"close-recharge/internal/notify"
	"close-recharge/internal/publish"
	"close-recharge/internal/secretstore"
)

// secretPrefetchTimeout bounds the read started at init; WeChat Pay waits
// about 5 s for an answer, so a stuck read must not hold the first one.
const secretPrefetchTimeout = 3 * time.Second

func main() {
	h, err := build(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recharge-notify: init:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// handler answers API Gateway HTTP API (payload 2.0) requests.
type handler func(ctx context.Context, in events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func build(ctx context.Context, getenv func(string) string, stdout io.Writer) (handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	// The close function may run without a bus; this one exists to publish.
	required := map[string]string{
		"RESULT_EVENT_BUS":   cfg.EventBus,
		"SCHEDULE_GROUP":     strings.TrimSpace(getenv("SCHEDULE_GROUP")),
		"NOTIFICATION_TABLE": strings.TrimSpace(getenv("NOTIFICATION_TABLE")),
	}
	for _, name := range []string{"RESULT_EVENT_BUS", "SCHEDULE_GROUP", "NOTIFICATION_TABLE"} {
		if required[name] == "" {
			return nil, fmt.Errorf("%s: required", name)
		}
	}
	logger := logging.New(stdout, cfg.LogLevel)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	awsCfg.Credentials = awscreds.Checked(awsCfg.Credentials)

	var source secretstore.Source = &secretstore.File{Path: cfg.SecretFile}
	if cfg.SecretID != "" {
		source = &secretstore.SecretsManager{API: secretsmanager.NewFromConfig(awsCfg), SecretID: cfg.SecretID}
	}
	keys := secretstore.NewCache(source, cfg.SecretTTL, secretstore.WithStale(cfg.SecretStale), secretstore.WithCacheLogger(logger))
	keys.Prefetch(ctx, secretPrefetchTimeout)
	svc := notify.New(keys,
		&publish.EventBridge{API: eventbridge.NewFromConfig(awsCfg), Bus: cfg.EventBus, Source: cfg.EventSource, Keys: keys},
		&notify.Scheduler{API: scheduler.NewFromConfig(awsCfg), Group: required["SCHEDULE_GROUP"]},
		&notify.Table{API: dynamodb.NewFromConfig(awsCfg), Name: required["NOTIFICATION_TABLE"], Now: time.Now},
		notify.WithLogger(logger))
	return serve(svc), nil
}

func serve(svc *notify.Service) handler {
	return func(ctx context.Context, in events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		req, ok := toRequest(in)
		res := notify.Response{Status: http.StatusBadRequest, Body: []byte(`{"code":"FAIL","message":"body is not valid base64"}`)}
		if ok {
			res = svc.Handle(ctx, req)
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: res.Status,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       string(res.Body),
		}, nil
	}
}

// toRequest restores the request WeChat Pay sent: header names in any case
// (payload 2.0 lowercases them), the body as the exact bytes it signed.
func toRequest(in events.APIGatewayV2HTTPRequest) (notify.Request, bool) {
	h := http.Header{}
	for k, v := range in.Headers {
		h.Set(k, v)
	}
	body := []byte(in.Body)
	if in.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(in.Body); err != nil {
			return notify.Request{}, false
		}
	}
	return notify.Request{Header: h, Body: body}, true
}
