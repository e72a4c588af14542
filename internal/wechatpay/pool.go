package wechatpay

import (
	"context"
	"sync"

	"close-recharge/internal/merchant"
	"close-recharge/internal/recharge"
)

// Pool keeps the Client for the current merchant keys, rebuilding it only when
// the keys change (a rotation), so warm invocations reuse the parsed keys, the
// SDK client and, through the shared HTTP client, the open connections.
type Pool struct {
	opts []Option

	mu     sync.Mutex
	keys   *merchant.Keys
	client *Client
}

// NewPool builds clients with opts. Pass WithHTTPClient so that all of them
// share one connection pool.
func NewPool(opts ...Option) *Pool { return &Pool{opts: opts} }

func (p *Pool) clientFor(keys *merchant.Keys) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys != keys {
		c, err := New(keys, p.opts...)
		if err != nil {
			return nil, err
		}
		p.keys, p.client = keys, c
	}
	return p.client, nil
}

// Close closes a recharge with the client for keys (see Client.Close), and
// says what it took.
func (p *Pool) Close(ctx context.Context, keys *merchant.Keys, subMchid, outRechargeNo string) (*recharge.Recharge, recharge.Exchange, error) {
	var ex recharge.Exchange
	c, err := p.clientFor(keys)
	if err != nil {
		return nil, ex, err
	}
	r, err := c.Close(WithExchange(ctx, &ex), subMchid, outRechargeNo)
	return r, ex, err
}
