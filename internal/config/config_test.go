package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string // "" = valid
		check   func(*testing.T, Config)
	}{
		{"defaults", map[string]string{"WECHATPAY_SECRET_ID": "wechatpay/merchant"}, "", func(t *testing.T, c Config) {
			if c.BaseURL != "https://api.mch.weixin.qq.com" || c.SecretTTL != 5*time.Minute || c.SecretStale != time.Hour || c.EventSource != "wechatpay.recharge" ||
				c.LogLevel != slog.LevelInfo || c.EventBus != "" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{"file and simulator", map[string]string{"WECHATPAY_SECRET_FILE": "/tmp/s.json", "WECHATPAY_BASE_URL": "http://127.0.0.1:18080/",
			"WECHATPAY_SECRET_TTL": "0", "LOG_LEVEL": "DEBUG", "RESULT_EVENT_BUS": "payments"}, "", func(t *testing.T, c Config) {
			if c.BaseURL != "http://127.0.0.1:18080" || c.SecretTTL != 0 || c.LogLevel != slog.LevelDebug || c.EventBus != "payments" {
				t.Errorf("config = %+v", c)
			}
		}},
		{"no secret", map[string]string{}, "WECHATPAY_SECRET_ID", nil},
		{"both secrets", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_SECRET_FILE": "b"}, "WECHATPAY_SECRET_FILE", nil},
		{"secret in the function's region", map[string]string{"AWS_REGION": "cn-north-1",
			"WECHATPAY_SECRET_ID": "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:wechatpay/merchant-AbCdEf"}, "", nil},
		{"secret in another region", map[string]string{"AWS_REGION": "us-east-1",
			"WECHATPAY_SECRET_ID": "arn:aws:secretsmanager:us-west-2:111122223333:secret:wechatpay/merchant-AbCdEf"}, "WECHATPAY_SECRET_ID", nil},
		{"secret in the function's account", map[string]string{"AWS_REGION": "us-east-1", "STACK_ACCOUNT_ID": "111122223333",
			"WECHATPAY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:111122223333:secret:wechatpay/merchant-AbCdEf"}, "", nil},
		{"secret in another account", map[string]string{"AWS_REGION": "us-east-1", "STACK_ACCOUNT_ID": "111122223333",
			"WECHATPAY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:444455556666:secret:wechatpay/merchant-AbCdEf"}, "WECHATPAY_SECRET_ID", nil},
		{"secret in another account, region not known", map[string]string{"STACK_ACCOUNT_ID": "111122223333",
			"WECHATPAY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:444455556666:secret:wechatpay/merchant-AbCdEf"}, "WECHATPAY_SECRET_ID", nil},
		{"not a secret's ARN", map[string]string{"AWS_REGION": "us-east-1",
			"WECHATPAY_SECRET_ID": "arn:aws:kms:us-east-1:111122223333:key/1234"}, "WECHATPAY_SECRET_ID", nil},
		{"a secret's name, any region", map[string]string{"AWS_REGION": "us-east-1", "WECHATPAY_SECRET_ID": "wechatpay/merchant"}, "", nil},
		{"plain http to a remote host", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_BASE_URL": "http://api.mch.weixin.qq.com"}, "WECHATPAY_BASE_URL", nil},
		{"base URL with a path", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com/v3"}, "WECHATPAY_BASE_URL", nil},
		{"bad TTL", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_SECRET_TTL": "five minutes"}, "WECHATPAY_SECRET_TTL", nil},
		{"negative TTL", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_SECRET_TTL": "-1s"}, "WECHATPAY_SECRET_TTL", nil},
		{"stale window", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_SECRET_STALE": "0"}, "", func(t *testing.T, c Config) {
			if c.SecretStale != 0 {
				t.Errorf("stale = %v, want 0", c.SecretStale)
			}
		}},
		{"bad stale window", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_SECRET_STALE": "-1h"}, "WECHATPAY_SECRET_STALE", nil},
		{"pacing", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_MAX_RPS": "200", "WECHATPAY_MAX_INSTANCES": "12"}, "", func(t *testing.T, c Config) {
			if c.MaxRPS != 200 || c.MaxInstances != 12 {
				t.Errorf("pacing = %v / %d", c.MaxRPS, c.MaxInstances)
			}
		}},
		{"no pacing by default", map[string]string{"WECHATPAY_SECRET_ID": "a"}, "", func(t *testing.T, c Config) {
			if c.MaxRPS != 0 || c.MaxInstances != 1 {
				t.Errorf("pacing = %v / %d", c.MaxRPS, c.MaxInstances)
			}
		}},
		{"bad max rps", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_MAX_RPS": "-1"}, "WECHATPAY_MAX_RPS", nil},
		{"bad max instances", map[string]string{"WECHATPAY_SECRET_ID": "a", "WECHATPAY_MAX_INSTANCES": "0"}, "WECHATPAY_MAX_INSTANCES", nil},
		{"max receive count", map[string]string{"WECHATPAY_SECRET_ID": "a", "EXPIRY_MAX_RECEIVE_COUNT": "15"}, "", func(t *testing.T, c Config) {
			if c.MaxReceiveCount != 15 {
				t.Errorf("MaxReceiveCount = %d", c.MaxReceiveCount)
			}
		}},
		{"max receive count not set", map[string]string{"WECHATPAY_SECRET_ID": "a"}, "", func(t *testing.T, c Config) {
			if c.MaxReceiveCount != 0 {
				t.Errorf("MaxReceiveCount = %d, want 0 (not known)", c.MaxReceiveCount)
			}
		}},
		{"bad max receive count", map[string]string{"WECHATPAY_SECRET_ID": "a", "EXPIRY_MAX_RECEIVE_COUNT": "0"}, "EXPIRY_MAX_RECEIVE_COUNT", nil},
		{"max receive count past SQS's", map[string]string{"WECHATPAY_SECRET_ID": "a", "EXPIRY_MAX_RECEIVE_COUNT": "1001"}, "EXPIRY_MAX_RECEIVE_COUNT", nil},
		{"max receive count not a number", map[string]string{"WECHATPAY_SECRET_ID": "a", "EXPIRY_MAX_RECEIVE_COUNT": "ten"}, "EXPIRY_MAX_RECEIVE_COUNT", nil},
		{"bad log level", map[string]string{"WECHATPAY_SECRET_ID": "a", "LOG_LEVEL": "verbose"}, "LOG_LEVEL", nil},
		{"reserved source", map[string]string{"WECHATPAY_SECRET_ID": "a", "RESULT_EVENT_SOURCE": "aws.events"}, "RESULT_EVENT_SOURCE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tt.env[k] })
			if tt.wantVar == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantVar+":") || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line naming %s", err, tt.wantVar)
			}
		})
	}
}
