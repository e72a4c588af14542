// Command close-recharge is the Lambda function (bootstrap) that closes WeChat
// Pay platform-solution recharges. It only wires: read the environment, build
// the dependencies once per instance, and start the handler.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"close-recharge/internal/awscreds"
	"close-recharge/internal/closer"
	"close-recharge/internal/config"
	"close-recharge/internal/handler"
	"close-recharge/internal/logging"
	"close-recharge/internal/metrics"
	"close-recharge/internal/outcome"
	"close-recharge/internal/pace"
	"close-recharge/internal/publish"
	"close-recharge/internal/queue"
	"close-recharge/internal/secretstore"
	"close-recharge/internal/version"
	"close-recharge/internal/wechatpay"
)

// secretPrefetchTimeout bounds the read started at init. A healthy read takes
// milliseconds; one that is stuck should not hold up the first invocation,
// which then reads again within its own deadline.
const secretPrefetchTimeout = 5 * time.Second

func main() {
	h, err := build(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "close-recharge: init:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

func build(ctx context.Context, getenv func(string) string, stdout io.Writer) (*handler.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	logger := logging.New(stdout, cfg.LogLevel)
	// Once per instance: which release answers, so that a canary's errors can
	// be told from the old version's in the logs.
	logger.Info("cold start", "version", version.Version, "contract_version", outcome.ContractVersion)

	// AWS configuration is loaded only when something AWS is used: a local run
	// with a secret file and no bus needs no credentials at all.
	var awsCfg aws.Config
	usesAWS := cfg.SecretID != "" || cfg.EventBus != ""
	if usesAWS {
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		awsCfg.Credentials = awscreds.Checked(awsCfg.Credentials)
	}

	var source secretstore.Source = &secretstore.File{Path: cfg.SecretFile}
	if cfg.SecretID != "" {
		source = &secretstore.SecretsManager{API: secretsmanager.NewFromConfig(awsCfg), SecretID: cfg.SecretID}
	}
	opts := []wechatpay.Option{
		wechatpay.WithBaseURL(cfg.BaseURL),
		wechatpay.WithHTTPClient(wechatpay.NewHTTPClient()),
		wechatpay.WithLogger(logger),
	}
	// One bucket for every request of the instance: closes and queries, of any trigger.
	if p := pace.New(cfg.MaxRPS, cfg.MaxInstances); p != nil {
		opts = append(opts, wechatpay.WithPacer(p))
	}
	wechatPay := wechatpay.NewPool(opts...)
	keys := secretstore.NewCache(source, cfg.SecretTTL, secretstore.WithStale(cfg.SecretStale), secretstore.WithCacheLogger(logger))
	var publisher closer.Publisher
	if cfg.EventBus != "" {
		// Every event names the platform merchant: the secret's mchid.
		publisher = &publish.EventBridge{API: eventbridge.NewFromConfig(awsCfg), Bus: cfg.EventBus, Source: cfg.EventSource, Keys: keys}
	}
	// The secret is read while the rest of init and the wait for the first
	// event run; the first invocation then finds the keys, or the read under way.
	keys.Prefetch(ctx, secretPrefetchTimeout)
	svc := closer.New(keys, wechatPay, publisher)
	hopts := []handler.Option{handler.WithMaxReceiveCount(cfg.MaxReceiveCount)}
	if usesAWS {
		// Transient SQS records come back after the receive budget's delay, not the visibility timeout;
		// records that got no turn to call WeChat Pay come back as copies, spending none of its receives.
		sqsAPI := sqs.NewFromConfig(awsCfg)
		hopts = append(hopts, handler.WithRequeuer(&queue.Visibility{API: sqsAPI}), handler.WithResender(&queue.Copies{API: sqsAPI}))
	}
	return handler.New(svc, logger, metrics.NewEMF(stdout, cfg.Namespace, keys), hopts...), nil
}
