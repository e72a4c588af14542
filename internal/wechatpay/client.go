// Package wechatpay is a client for WeChat Pay's platform-solution recharge API
// (apply, query, close), built on the official SDK's core.Client: requests are
// signed and answers verified by wechatpay-go; this package adds identifier
// validation, typed recharges, error classification, retries and the close
// semantics that the undocumented business codes force on callers.
package wechatpay

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/pace"
	"close-recharge/internal/recharge"
)

// DefaultBaseURL is WeChat Pay's API origin.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

const rechargesPath = "/v3/platsolution/ecommerce/recharges"

// Client talks to WeChat Pay as one platform merchant.
type Client struct {
	sdk    *core.Client
	mchid  string // the platform merchant: every answer's sp_mchid, when it names one
	base   string
	retry  RetryPolicy
	logger *slog.Logger
	pacer  Pacer
}

type settings struct {
	base   string
	http   *http.Client
	retry  RetryPolicy
	logger *slog.Logger
	pacer  Pacer
}

// Pacer spaces the requests of every client that shares it (package pace):
// Wait takes a request's turn; the others report each answer: Throttled a
// 429, Unavailable a 5xx, Served any other.
type Pacer interface {
	Wait(ctx context.Context) error
	Throttled()
	Unavailable()
	Served()
}

// Option configures a Client.
type Option func(*settings)

// WithBaseURL points the client at another origin (the backup host, or the simulator).
func WithBaseURL(origin string) Option {
	return func(s *settings) { s.base = strings.TrimSuffix(origin, "/") }
}

// WithHTTPClient sets the HTTP client; share one (see NewHTTPClient) across
// Clients so that connections outlive a key rotation.
func WithHTTPClient(h *http.Client) Option { return func(s *settings) { s.http = h } }

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option { return func(s *settings) { s.retry = p } }

// WithPacer makes every request, close and query alike, wait for its turn
// with p. Share one Pacer across Clients, as a Pool does.
func WithPacer(p Pacer) Option { return func(s *settings) { s.pacer = p } }

// WithLogger sets where one debug line per attempt goes.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

var defaultHTTPClient = NewHTTPClient()

// New builds a client from parsed merchant keys: public-key mode, platform
// certificate mode, or both at once (responses signed by either verify).
func New(keys *merchant.Keys, opts ...Option) (*Client, error) {
	s := settings{base: DefaultBaseURL, http: defaultHTTPClient, retry: DefaultRetryPolicy, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&s)
	}
	if err := ValidateBaseURL(s.base); err != nil {
		return nil, fault.New(fault.Configuration, "WeChat Pay base URL %v", err)
	}
	c := &Client{mchid: keys.MchID, base: s.base, retry: s.retry, logger: s.logger, pacer: s.pacer}

	var sdkOpts []core.ClientOption
	switch {
	case keys.PublicKey != nil:
		sdkOpts = append(sdkOpts, option.WithWechatPayPublicKeyAuthCipher(
			keys.MchID, keys.SerialNo, keys.PrivateKey, keys.PublicKeyID, keys.PublicKey))
		if len(keys.Certificates) > 0 {
			// Must follow the auth-cipher option, which sets a validator of its own.
			sdkOpts = append(sdkOpts, option.WithVerifier(verifiers.NewSHA256WithRSACombinedVerifier(
				core.NewCertificateMapWithList(keys.Certificates), keys.PublicKeyID, *keys.PublicKey)))
		}
	case len(keys.Certificates) > 0:
		sdkOpts = append(sdkOpts,
			option.WithMerchantCredential(keys.MchID, keys.SerialNo, keys.PrivateKey),
			option.WithWechatPayCertificate(append([]*x509.Certificate(nil), keys.Certificates...)))
	default:
		return nil, fault.New(fault.Configuration, "merchant keys hold neither a WeChat Pay public key nor a platform certificate")
	}
	sdkOpts = append(sdkOpts, option.WithHTTPClient(s.http))
	sdk, err := core.NewClient(context.Background(), sdkOpts...)
	if err != nil {
		return nil, fault.Wrap(fault.Configuration, "", err, "cannot build the WeChat Pay client")
	}
	c.sdk = sdk
	return c, nil
}

func (c *Client) rechargeURL(subMchid, outRechargeNo, suffix string) string {
	return c.base + rechargesPath + "/out-recharge-no/" + url.PathEscape(outRechargeNo) + suffix +
		"?sub_mchid=" + url.QueryEscape(subMchid)
}

func validateIDs(subMchid, outRechargeNo string) error {
	if err := recharge.ValidateSubMchid(subMchid); err != nil {
		return err
	}
	return recharge.ValidateOutRechargeNo(outRechargeNo)
}

// Query fetches a recharge.
func (c *Client) Query(ctx context.Context, subMchid, outRechargeNo string) (*recharge.Recharge, error) {
	if err := validateIDs(subMchid, outRechargeNo); err != nil {
		return nil, err
	}
	u := c.rechargeURL(subMchid, outRechargeNo, "")
	return call(ctx, c, "query", func(ctx context.Context) (*core.APIResult, error) {
		return c.sdk.Get(ctx, u)
	}, c.sameRecharge(subMchid, outRechargeNo))
}

// Close closes a recharge and returns it in its final state: CLOSED (closed
// now or before) or SUCCESS (the money arrived first: not closable). Anything
// else is an error of a fault kind.
//
// WeChat Pay does not publish the business codes with which it refuses to close
// a recharge that is already closed or already paid, so after any business
// refusal the recharge is queried and its state decides. The same path settles
// an ambiguous attempt whose answer was lost: the retried close is refused as a
// re-close and the query finds it CLOSED.
func (c *Client) Close(ctx context.Context, subMchid, outRechargeNo string) (*recharge.Recharge, error) {
	if err := validateIDs(subMchid, outRechargeNo); err != nil {
		return nil, err
	}
	u := c.rechargeURL(subMchid, outRechargeNo, "/close")
	r, err := call(ctx, c, "close", func(ctx context.Context) (*core.APIResult, error) {
		return c.sdk.Post(ctx, u, map[string]any{})
	}, c.sameRecharge(subMchid, outRechargeNo))
	if err == nil {
		if r.RechargeState == recharge.StateClosed || r.RechargeState == recharge.StateSuccess {
			return r, nil
		}
		return nil, &fault.Error{Kind: fault.Transient, Code: fault.CodeInvalidResponse,
			Message: "WeChat Pay accepted the close but the recharge is " + r.RechargeState}
	}
	var refusal *businessRefusal
	if !errors.As(err, &refusal) {
		return nil, err
	}
	// The query settles a close already spent: its turn comes before those
	// of closes still waiting.
	return settle(refusal.err)(c.Query(pace.Urgent(ctx), subMchid, outRechargeNo))
}

// settle decides a refused close from the query that followed it: CLOSED and
// SUCCESS settle it, RECHARGING makes the refusal final, a recharge that does
// not exist is a final ORDER_NOT_EXIST. Anything else leaves the close
// unsettled, which is transient: only WeChat Pay's own answer about this
// recharge may end it.
func settle(refusal *fault.Error) func(*recharge.Recharge, error) (*recharge.Recharge, error) {
	return func(q *recharge.Recharge, err error) (*recharge.Recharge, error) {
		if err != nil {
			fe := fault.As(err)
			switch {
			case fe.Kind == fault.Refused && fe.Code == CodeOrderNotExist:
				return nil, fe
			case fe.Kind == fault.Transient, fe.Kind == fault.Configuration:
				return nil, err
			}
			return nil, &fault.Error{Kind: fault.Transient, Code: fault.CodeUnsettled,
				Message: "WeChat Pay refused the close (" + refusal.Code + ") and the query that would settle it was refused (" + fe.Code + ")",
				Status:  fe.Status, RequestID: fe.RequestID, Cause: err}
		}
		switch q.RechargeState {
		case recharge.StateClosed, recharge.StateSuccess:
			return q, nil
		case recharge.StateRecharging:
			return nil, refusal
		}
		return nil, &fault.Error{Kind: fault.Transient, Code: fault.CodeUnsettled,
			Message: "WeChat Pay refused the close (" + refusal.Code + ") and the recharge is in unknown state " + q.RechargeState,
			Status:  refusal.Status, RequestID: refusal.RequestID}
	}
}

// sameRecharge rejects a signed answer that is not about the recharge asked
// for, or that does not say what state it is in: such an answer cannot decide
// an outcome, however well it verifies.
func (c *Client) sameRecharge(subMchid, outRechargeNo string) func(*recharge.Recharge) error {
	return func(r *recharge.Recharge) error {
		switch {
		case r.OutRechargeNo != outRechargeNo:
			return errors.New("answer is about another out_recharge_no")
		case r.SubMchid != subMchid:
			return errors.New("answer is about another sub_mchid")
		case r.SpMchid != "" && r.SpMchid != c.mchid:
			return errors.New("answer is about another sp_mchid")
		case r.RechargeState == "":
			return errors.New("answer has no recharge_state")
		}
		return nil
	}
}

// ApplyRequest is the body of a recharge application.
type ApplyRequest struct {
	SubMchid       string          `json:"sub_mchid"`
	OutRechargeNo  string          `json:"out_recharge_no"`
	RechargeScene  string          `json:"recharge_scene"`
	AccountType    string          `json:"account_type"`
	RechargeAmount recharge.Amount `json:"recharge_amount"`
	NotifyURL      string          `json:"notify_url,omitempty"`
	Remark         string          `json:"remark,omitempty"`
}

// ApplyResponse is WeChat Pay's answer to a recharge application.
type ApplyResponse struct {
	RechargeID    string `json:"recharge_id"`
	OutRechargeNo string `json:"out_recharge_no"`
	RechargeURL   string `json:"recharge_url"`
}

// Apply asks WeChat Pay for a new recharge. Retrying is safe: WeChat Pay
// deduplicates on out_recharge_no.
func (c *Client) Apply(ctx context.Context, req ApplyRequest) (*ApplyResponse, error) {
	if err := validateIDs(req.SubMchid, req.OutRechargeNo); err != nil {
		return nil, err
	}
	u := c.base + rechargesPath + "/apply"
	return call(ctx, c, "apply", func(ctx context.Context) (*core.APIResult, error) {
		return c.sdk.Post(ctx, u, req)
	}, func(r *ApplyResponse) error {
		if r.OutRechargeNo != req.OutRechargeNo {
			return errors.New("answer is about another out_recharge_no")
		}
		return nil
	})
}
