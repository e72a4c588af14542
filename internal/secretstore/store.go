// Package secretstore reads the platform merchant's secret — from AWS Secrets
// Manager, or a local file — and keeps the parsed keys across warm
// invocations. Parsing is the merchant package's; this one is the store.
package secretstore

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
)

// Source reads the raw secret JSON.
type Source interface {
	Read(ctx context.Context) ([]byte, error)
	// Name says where the secret lives, for error messages: never its value.
	Name() string
}

// SecretsManagerAPI is the one call a SecretsManager source makes.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManager reads the secret from AWS Secrets Manager.
type SecretsManager struct {
	API      SecretsManagerAPI
	SecretID string
}

func (s *SecretsManager) Name() string { return "secret " + s.SecretID }

func (s *SecretsManager) Read(ctx context.Context) ([]byte, error) {
	out, err := s.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		var notFound *smtypes.ResourceNotFoundException
		var decrypt *smtypes.DecryptionFailure
		var invalid *smtypes.InvalidRequestException
		var param *smtypes.InvalidParameterException
		switch {
		case errors.As(err, &notFound):
			return nil, fault.Wrap(fault.Configuration, "", err, "%s not found in Secrets Manager", s.Name())
		case fault.KindOf(err) == fault.Configuration: // no AWS credentials
			return nil, fault.Wrap(fault.Configuration, "", err, "%s cannot be read from Secrets Manager: %s", s.Name(), fault.As(err).Message)
		case errors.As(err, &decrypt), errors.As(err, &invalid), errors.As(err, &param), isAccessDenied(err):
			return nil, fault.Wrap(fault.Configuration, "", err, "%s cannot be read from Secrets Manager", s.Name())
		case ctx.Err() != nil:
			return nil, fault.Timeout(err, "Secrets Manager did not answer in time")
		}
		return nil, fault.Wrap(fault.Transient, "", err, "cannot read %s from Secrets Manager", s.Name())
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	return out.SecretBinary, nil
}

func isAccessDenied(err error) bool {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		switch coded.ErrorCode() {
		case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException":
			return true
		}
	}
	return false
}

// File reads the secret from a local file, for runs without AWS.
type File struct{ Path string }

func (f *File) Name() string { return "secret file " + f.Path }

func (f *File) Read(context.Context) ([]byte, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fault.Wrap(fault.Configuration, "", err, "%s cannot be read", f.Name())
	}
	return b, nil
}

// Cache keeps parsed keys across warm invocations for TTL (0: read every time).
// One read runs at a time; a caller that finds one under way waits for it, as
// long as its context allows, and uses what it read.
//
// Past the TTL, when a read fails for a reason that may pass (throttling, the
// network, a timeout), the keys already held keep serving for up to the stale
// window: a rotation is still picked up as soon as Secrets Manager answers, and
// WeChat Pay's SIGN_ERROR or an unverifiable answer drops them at once. A
// missing or unreadable secret is not a passing failure and is never masked.
type Cache struct {
	source Source
	ttl    time.Duration
	stale  time.Duration
	logger *slog.Logger
	now    func() time.Time
	turn   chan struct{} // one slot, held while the secret is read

	mu          sync.Mutex // guards the fields below
	keys        *merchant.Keys
	fetched     time.Time
	retryAt     time.Time // while stale keys serve, the next read is not tried before this
	reads       int
	staleServes int
}

// staleRetry is how long stale keys serve after a failed read before the next
// read is tried: an unreachable Secrets Manager then costs one invocation's
// wait in that time, not every invocation's.
const staleRetry = 10 * time.Second

// CacheOption configures a Cache.
type CacheOption func(*Cache)

// WithStale lets cached keys serve for up to d past the TTL while the secret
// cannot be read for a passing reason.
func WithStale(d time.Duration) CacheOption { return func(c *Cache) { c.stale = d } }

// WithCacheLogger sets where stale serving is reported.
func WithCacheLogger(l *slog.Logger) CacheOption { return func(c *Cache) { c.logger = l } }

// NewCache reads through source, keeping what it read for ttl.
func NewCache(source Source, ttl time.Duration, opts ...CacheOption) *Cache {
	c := &Cache{source: source, ttl: ttl, logger: slog.New(slog.DiscardHandler), now: time.Now, turn: make(chan struct{}, 1)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Keys returns the cached keys, reading and parsing the secret when there are
// none or they are older than the TTL. A malformed secret is a configuration
// error naming the secret and the field.
func (c *Cache) Keys(ctx context.Context) (*merchant.Keys, error) {
	if k := c.cached(); k != nil {
		return k, nil
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fault.Timeout(ctx.Err(), "no time left while %s was being read", c.source.Name())
	}
	defer func() { <-c.turn }()
	if k := c.cached(); k != nil { // what the read we waited for brought
		return k, nil
	}
	keys, err := c.read(ctx)
	if err != nil {
		if k := c.serveStale(ctx, err); k != nil {
			return k, nil
		}
		return nil, err
	}
	return keys, nil
}

// Prefetch starts the first read in the background, so that the first
// invocation of an instance finds the keys read, or waits only for the rest of
// the read. A failed prefetch leaves nothing behind: the invocation reads again
// and reports its own error. With a TTL of 0 nothing would be kept, so nothing
// is read.
func (c *Cache) Prefetch(ctx context.Context, timeout time.Duration) {
	if c.ttl <= 0 {
		return
	}
	select {
	case c.turn <- struct{}{}: // taken here, so that whoever asks next waits for this read
	default:
		return // a read is under way already
	}
	go func() {
		defer func() { <-c.turn }()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, _ = c.read(ctx)
	}()
}

// cached returns keys within the TTL, or stale keys while a failed read's
// pause lasts.
func (c *Cache) cached() *merchant.Keys {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || c.ttl <= 0 {
		return nil
	}
	now := c.now()
	age := now.Sub(c.fetched)
	switch {
	case age < c.ttl:
		return c.keys
	case age < c.ttl+c.stale && now.Before(c.retryAt):
		c.staleServes++
		return c.keys
	}
	return nil
}

// serveStale returns the keys held, when the read failed for a passing reason
// and they are within the stale window; the caller holds the turn.
func (c *Cache) serveStale(ctx context.Context, readErr error) *merchant.Keys {
	if fault.KindOf(readErr) != fault.Transient {
		return nil
	}
	c.mu.Lock()
	now := c.now()
	age := now.Sub(c.fetched)
	keys := c.keys
	if keys == nil || c.ttl <= 0 || age >= c.ttl+c.stale {
		c.mu.Unlock()
		return nil
	}
	c.staleServes++
	c.retryAt = now.Add(staleRetry)
	c.mu.Unlock()
	fe := fault.As(readErr)
	c.logger.WarnContext(ctx, "serving cached merchant keys past their TTL", "secret", c.source.Name(),
		"age_s", int(age.Seconds()), "error_code", fe.Code, "error", fe.Message)
	return keys
}

// read reads and parses the secret; the caller holds the turn.
func (c *Cache) read(ctx context.Context) (*merchant.Keys, error) {
	raw, err := c.source.Read(ctx)
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	keys, err := merchant.Parse(raw)
	if err != nil {
		fe := fault.As(err)
		return nil, &fault.Error{Kind: fe.Kind, Code: fe.Code, Message: c.source.Name() + ": " + fe.Message}
	}
	c.mu.Lock()
	c.keys, c.fetched, c.retryAt = keys, c.now(), time.Time{}
	c.mu.Unlock()
	return keys, nil
}

// Invalidate drops stale from the cache, if it is still what the cache holds:
// of several callers that saw the same stale keys, only the first causes a read.
func (c *Cache) Invalidate(stale *merchant.Keys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == stale {
		c.keys = nil
	}
}

// Reads is how many times the secret has been read.
func (c *Cache) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// StaleServes is how many times keys past their TTL were served because the
// secret could not be read.
func (c *Cache) StaleServes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.staleServes
}
