// Package config reads the function's environment (the table in
// docs/configuration.md). A bad value is one error naming the variable, so that a
// misconfigured function fails at init with a line an operator can act on.
package config

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"close-recharge/internal/metrics"
	"close-recharge/internal/wechatpay"
)

// Config is the function's environment, parsed.
type Config struct {
	SecretID     string
	SecretFile   string
	BaseURL      string
	SecretTTL    time.Duration
	SecretStale  time.Duration // how long past the TTL cached keys serve while the secret cannot be read
	MaxRPS       float64       // requests a second the deployment may send WeChat Pay; 0: no pacing
	MaxInstances int           // instances that share MaxRPS
	// MaxReceiveCount is the expiry queue's maxReceiveCount: a record still
	// failing on that receive publishes GAVE_UP. 0: not known, never published.
	MaxReceiveCount int
	EventBus        string
	EventSource     string
	LogLevel        slog.Level
	Namespace       string // CloudWatch namespace of the function's metrics
}

// Load reads the environment through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		SecretID:    get("WECHATPAY_SECRET_ID"),
		SecretFile:  get("WECHATPAY_SECRET_FILE"),
		BaseURL:     get("WECHATPAY_BASE_URL"),
		SecretTTL:   5 * time.Minute,
		SecretStale: time.Hour,
		EventBus:    get("RESULT_EVENT_BUS"),
		EventSource: get("RESULT_EVENT_SOURCE"),
	}
	switch {
	case c.SecretID == "" && c.SecretFile == "":
		return c, fmt.Errorf("WECHATPAY_SECRET_ID: required (the Secrets Manager name or ARN of the merchant secret), unless WECHATPAY_SECRET_FILE is set")
	case c.SecretID != "" && c.SecretFile != "":
		return c, fmt.Errorf("WECHATPAY_SECRET_FILE: cannot be set together with WECHATPAY_SECRET_ID; choose one")
	}
	if err := sameHome(c.SecretID, get("AWS_REGION"), get("STACK_ACCOUNT_ID")); err != nil {
		return c, fmt.Errorf("WECHATPAY_SECRET_ID: %v", err)
	}
	if c.BaseURL == "" {
		c.BaseURL = wechatpay.DefaultBaseURL
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if err := wechatpay.ValidateBaseURL(c.BaseURL); err != nil {
		return c, fmt.Errorf("WECHATPAY_BASE_URL: %v", err)
	}
	if v := get("WECHATPAY_SECRET_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("WECHATPAY_SECRET_TTL: must be a non-negative duration such as 5m or 0 (no caching)")
		}
		c.SecretTTL = d
	}
	if v := get("WECHATPAY_SECRET_STALE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("WECHATPAY_SECRET_STALE: must be a non-negative duration such as 1h or 0 (never serve keys past the TTL)")
		}
		c.SecretStale = d
	}
	c.MaxInstances = 1
	if v := get("WECHATPAY_MAX_RPS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return c, fmt.Errorf("WECHATPAY_MAX_RPS: must be a non-negative number of requests a second, such as 200 (0: no pacing)")
		}
		c.MaxRPS = f
	}
	if v := get("WECHATPAY_MAX_INSTANCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("WECHATPAY_MAX_INSTANCES: must be a whole number of instances, at least 1")
		}
		c.MaxInstances = n
	}
	if v := get("EXPIRY_MAX_RECEIVE_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("EXPIRY_MAX_RECEIVE_COUNT: must be the expiry queue's maxReceiveCount, a whole number from 1 to 1000")
		}
		c.MaxReceiveCount = n
	}
	if c.Namespace = get("METRICS_NAMESPACE"); c.Namespace == "" {
		c.Namespace = metrics.DefaultNamespace
	}
	if len(c.Namespace) > 255 || strings.HasPrefix(c.Namespace, "AWS/") || strings.ContainsAny(c.Namespace, " \t\n") {
		return c, fmt.Errorf("METRICS_NAMESPACE: must be a CloudWatch namespace of up to 255 characters, not starting with AWS/")
	}
	if c.EventSource == "" {
		c.EventSource = "wechatpay.recharge"
	}
	if strings.HasPrefix(c.EventSource, "aws.") {
		return c, fmt.Errorf("RESULT_EVENT_SOURCE: must not start with \"aws.\" (EventBridge reserves it)")
	}
	switch strings.ToLower(get("LOG_LEVEL")) {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return c, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error")
	}
	return c, nil
}

// sameHome refuses a secret ARN of another region or account than the
// function's: the key policy's kms:ViaService and the secret's resource policy
// name this region's Secrets Manager and this account's roles, so such a secret
// could never be decrypted (and a second stack elsewhere would replace its
// resource policy). A name, or a region or account that is not known (a local
// run), is not checked.
func sameHome(secretID, region, account string) error {
	if !arn.IsARN(secretID) {
		return nil
	}
	a, err := arn.Parse(secretID)
	if err != nil {
		return fmt.Errorf("not a valid ARN: %v", err)
	}
	if a.Service != "secretsmanager" {
		return fmt.Errorf("names a %s resource, not a Secrets Manager secret", a.Service)
	}
	if region != "" && a.Region != region {
		return fmt.Errorf("the secret is in %s, the function in %s: keep the secret in the function's region", a.Region, region)
	}
	if account != "" && a.AccountID != account {
		return fmt.Errorf("the secret is in account %s, the function in %s: keep the secret in the function's account", a.AccountID, account)
	}
	return nil
}
