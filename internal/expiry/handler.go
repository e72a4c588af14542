package expiry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"close-recharge/internal/fault"
	"close-recharge/internal/trigger"
)

// Handler is the expiry function: it reads an expiry request from any of its
// triggers — PUT or DELETE /recharges/{out_recharge_no}/expiry on API Gateway
// (HTTP API v2 or REST v1), a "Recharge Expiry Requested" EventBridge
// envelope, a direct invoke — sets or cancels the expiry, and answers as the
// trigger expects.
type Handler struct {
	svc    *Service
	logger *slog.Logger
	now    func() time.Time
}

// NewHandler returns the handler for svc, logging one line per invocation.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	return &Handler{svc: svc, logger: logger, now: time.Now}
}

// call is a decoded invocation: what to do, to which recharge, and who asked.
type call struct {
	kind    trigger.Kind
	cancel  bool
	req     Request
	api     trigger.Request // the identifiers and who asked, as trigger decoding read them
	source  string
	account string
}

// Invoke handles one event.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := h.now()
	c, err := decode(payload)
	var res Result
	if err == nil {
		if c.cancel {
			res, err = h.svc.Cancel(ctx, c.req)
		} else {
			res, err = h.svc.Set(ctx, c.req)
		}
	}
	h.log(ctx, c, res, err, h.now().Sub(start))
	if c.kind == trigger.HTTPAPI || c.kind == trigger.RESTAPI {
		return apiAnswer(c.kind, res, err)
	}
	if err != nil {
		fe := fault.As(err)
		return nil, messages.InvokeResponse_Error{Type: string(fe.Kind), Message: fe.Code + ": " + fe.Message}
	}
	return json.Marshal(res)
}

// statusOf is the one mapping of the expiry function's failures to HTTP statuses.
var statusOf = map[fault.Kind]int{
	fault.InvalidInput:  http.StatusBadRequest,
	fault.Configuration: http.StatusInternalServerError,
	fault.Transient:     http.StatusServiceUnavailable,
}

func apiAnswer(kind trigger.Kind, res Result, err error) ([]byte, error) {
	status, body := http.StatusOK, any(res)
	if err != nil {
		fe := fault.As(err)
		status = statusOf[fe.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		code := fe.Code
		if fe.Kind == fault.InvalidInput {
			code = fault.CodeInvalidInput
		}
		body = map[string]string{"code": code, "message": fe.Message}
	}
	resp, err := trigger.APIResponse(kind, status, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

func (h *Handler) log(ctx context.Context, c call, res Result, err error, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("trigger", string(c.kind)),
		slog.String("sub_mchid", c.req.SubMchid),
		slog.String("out_recharge_no", c.req.OutRechargeNo),
		slog.Int64("duration_ms", d.Milliseconds()),
	}
	for _, a := range [...]struct{ key, value string }{
		{"expire_time", c.req.ExpireTime}, {"state", res.State}, {"schedule_name", res.ScheduleName}, {"standing", res.Standing},
		{"api_request_id", c.api.APIRequestID}, {"caller", c.api.Caller}, {"source", c.source}, {"account", c.account},
	} {
		if a.value != "" {
			attrs = append(attrs, slog.String(a.key, a.value))
		}
	}
	if !c.req.RequestedAt.IsZero() {
		attrs = append(attrs, slog.String("requested_at", c.req.RequestedAt.UTC().Format(time.RFC3339Nano)))
	}
	level, msg := slog.LevelInfo, "expiry request"
	if err != nil {
		fe := fault.As(err)
		attrs = append(attrs, slog.String("error_kind", string(fe.Kind)), slog.String("error", fe.Error()))
		if fe.Kind != fault.InvalidInput {
			level = slog.LevelError
		}
	}
	h.logger.LogAttrs(ctx, level, msg, attrs...)
}

// decode reads an event. Identifiers are read and validated by trigger
// decoding, with its rules on exact and repeated names, bodies and path
// parameters; what it leaves out — the method, expire_time, an expiry
// request's envelope, which it refuses as a close request — is read here.
func decode(payload []byte) (call, error) {
	c := call{kind: trigger.Direct}
	top, err := object(payload, "event")
	if err != nil {
		return c, err
	}
	if _, ok := top["detail-type"]; ok {
		c.kind = trigger.EventBridge
		return c, c.decodeEnvelope(top)
	}
	api, err := trigger.Decode(payload)
	c.kind, c.api = api.Kind, api
	c.req.SubMchid, c.req.OutRechargeNo = api.SubMchid, api.OutRechargeNo
	if err != nil {
		return c, err
	}
	switch api.Kind {
	case trigger.HTTPAPI, trigger.RESTAPI:
		return c, c.decodeAPI(payload)
	case trigger.Direct:
		if err := c.setRequestedAt(top["requested_at"], "requested_at"); err != nil {
			return c, err
		}
		return c, c.setExpireTime(top, "")
	}
	return c, invalid("an expiry request is an API Gateway request, a " + strconv.Quote(RequestedDetailType) +
		" event or {\"sub_mchid\",\"out_recharge_no\",\"expire_time\"}, not an " + string(api.Kind) + " event")
}

func (c *call) decodeEnvelope(top map[string]json.RawMessage) error {
	var detailType string
	if err := json.Unmarshal(top["detail-type"], &detailType); err != nil || detailType != RequestedDetailType {
		return invalid("detail-type must be " + strconv.Quote(RequestedDetailType))
	}
	for name, into := range map[string]*string{"source": &c.source, "account": &c.account} {
		if raw, ok := top[name]; ok {
			if err := json.Unmarshal(raw, into); err != nil {
				return invalid(name + " must be a JSON string")
			}
		}
	}
	// EventBridge sets time when it accepts the event; its retries keep it.
	if err := c.setRequestedAt(top["time"], "time"); err != nil {
		return err
	}
	detail := bytes.TrimSpace(top["detail"])
	// Some producers put the detail in as a JSON string.
	if len(detail) > 0 && detail[0] == '"' {
		var s string
		if err := json.Unmarshal(detail, &s); err != nil {
			return invalid("detail is not valid JSON")
		}
		detail = bytes.TrimSpace([]byte(s))
	}
	fields, err := object(detail, "detail")
	if err != nil {
		return err
	}
	if _, nested := fields["detail-type"]; nested {
		return invalid("detail must be an object with sub_mchid, out_recharge_no and expire_time")
	}
	ids, err := trigger.Decode(detail)
	if err == nil && ids.Kind != trigger.Direct {
		err = invalid("detail must be an object with sub_mchid, out_recharge_no and expire_time")
	}
	if err != nil {
		return invalid("detail." + fault.As(err).Message)
	}
	c.req.SubMchid, c.req.OutRechargeNo = ids.SubMchid, ids.OutRechargeNo
	return c.setExpireTime(fields, "detail.")
}

// apiEvent is what the expiry route needs of an API Gateway event beyond the
// identifiers: the method, when API Gateway received the request (epoch
// milliseconds) and the body, in either payload format.
type apiEvent struct {
	HTTPMethod     string `json:"httpMethod"`
	RequestContext struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
		TimeEpoch        int64 `json:"timeEpoch"`
		RequestTimeEpoch int64 `json:"requestTimeEpoch"`
	} `json:"requestContext"`
	Body            string `json:"body"`
	IsBase64Encoded bool   `json:"isBase64Encoded"`
}

func (c *call) decodeAPI(payload []byte) error {
	var e apiEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return invalid("API Gateway event is malformed")
	}
	method, epoch := e.HTTPMethod, e.RequestContext.RequestTimeEpoch
	if c.kind == trigger.HTTPAPI {
		method, epoch = e.RequestContext.HTTP.Method, e.RequestContext.TimeEpoch
	}
	if epoch > 0 {
		c.req.RequestedAt = time.UnixMilli(epoch)
	}
	switch strings.ToUpper(method) {
	case http.MethodDelete:
		c.cancel = true
		return nil
	case http.MethodPut:
	default:
		return invalid("method " + strconv.Quote(method) + " is not served: PUT sets an expiry, DELETE cancels it")
	}
	raw := []byte(e.Body)
	if e.IsBase64Encoded {
		// trigger.Decode has decoded it once already: it is valid.
		raw, _ = base64.StdEncoding.DecodeString(e.Body)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return invalid(`body is required: {"expire_time":"2026-12-01T10:00:00+08:00"}`)
	}
	fields, err := object(raw, "body")
	if err != nil {
		return err
	}
	return c.setExpireTime(fields, "body.")
}

// setRequestedAt reads the request's time, RFC 3339, when the event gives one.
func (c *call) setRequestedAt(raw json.RawMessage, name string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return invalid(name + " must be a JSON string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return invalid(name + " must be RFC 3339 with a UTC offset, such as 2026-12-01T10:00:00Z")
	}
	c.req.RequestedAt = t
	return nil
}

func (c *call) setExpireTime(fields map[string]json.RawMessage, prefix string) error {
	raw, ok := fields["expire_time"]
	if !ok || string(raw) == "null" {
		return invalid(prefix + "expire_time is required")
	}
	if err := json.Unmarshal(raw, &c.req.ExpireTime); err != nil {
		return invalid(prefix + "expire_time must be a JSON string")
	}
	return nil
}

// object reads a JSON object's members, refusing a name given twice (or as
// two spellings encoding/json would fold onto one) as trigger decoding does.
func object(b []byte, what string) (map[string]json.RawMessage, error) {
	return trigger.Object(b, what)
}

func invalid(msg string) error { return fault.New(fault.InvalidInput, "%s", msg) }
