// Package trigger turns every event a user wires to the function — API Gateway
// HTTP API (v2) and REST API (v1) requests, EventBridge rule envelopes,
// Scheduler and rule targets with Input, direct invokes — into one Request, and
// shapes the answer the trigger expects.
package trigger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/fault"
	"close-recharge/internal/wechatpay"
)

// Kind names a trigger.
type Kind string

const (
	Direct      Kind = "direct"      // direct invoke, Scheduler or rule target with Input
	EventBridge Kind = "eventbridge" // EventBridge rule, whole envelope
	HTTPAPI     Kind = "http-api"    // API Gateway HTTP API, payload format 2.0
	RESTAPI     Kind = "rest-api"    // API Gateway REST API, proxy integration
)

// Request is what to close, and how the answer must be shaped.
type Request struct {
	Kind          Kind
	SubMchid      string
	OutRechargeNo string
	APIRequestID  string // API Gateway's request id
	DetailType    string // EventBridge's detail-type
}

// IsAPI reports whether the caller is API Gateway, which needs an HTTP response.
func (r Request) IsAPI() bool { return r.Kind == HTTPAPI || r.Kind == RESTAPI }

// MaxBodyBytes bounds an API request body: the only thing it may carry is sub_mchid.
const MaxBodyBytes = 4096

// MaxEventBytes bounds a whole event. API Gateway events carry headers, but
// nothing this function reads comes near it.
const MaxEventBytes = 256 << 10

// MaxDepth bounds how deeply an event nests; API Gateway's own events nest
// five levels.
const MaxDepth = 32

// ids is the payload of direct invokes and EventBridge details. The fields are
// json.RawMessage so that a number where a string belongs is named, not coerced.
type ids struct {
	SubMchid      json.RawMessage `json:"sub_mchid"`
	OutRechargeNo json.RawMessage `json:"out_recharge_no"`
}

// probe holds the fields that tell the triggers apart, and the identifiers of
// a direct invoke, so that such an event is decoded once.
type probe struct {
	ids
	Version        json.RawMessage `json:"version"`
	RouteKey       json.RawMessage `json:"routeKey"`
	HTTPMethod     json.RawMessage `json:"httpMethod"`
	RequestContext json.RawMessage `json:"requestContext"`
	DetailType     json.RawMessage `json:"detail-type"`
	Detail         json.RawMessage `json:"detail"`
}

// Decode reads an event. Any problem is an invalid-input *fault.Error naming
// the field; identifiers are validated here, before any URL can exist.
func Decode(payload []byte) (Request, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) > MaxEventBytes {
		return Request{Kind: Direct}, invalid("event is larger than 256 KiB")
	}
	if !utf8.Valid(payload) {
		return Request{Kind: Direct}, invalid("event is not valid UTF-8")
	}
	if depth(payload) > MaxDepth {
		return Request{Kind: Direct}, invalid("event nests deeper than 32 levels")
	}
	if len(payload) == 0 || payload[0] != '{' {
		return Request{Kind: Direct}, invalid("event must be a JSON object")
	}
	var p probe
	if err := json.Unmarshal(payload, &p); err != nil {
		return Request{Kind: Direct}, invalid("event is not valid JSON")
	}
	if err := rejectDuplicateKeys(payload, ""); err != nil {
		return Request{Kind: Direct}, err
	}
	switch {
	case len(p.RequestContext) > 0 && string(p.Version) == `"2.0"` && len(p.RouteKey) > 0:
		return decodeHTTPAPI(payload)
	case len(p.RequestContext) > 0 && len(p.HTTPMethod) > 0:
		return decodeRESTAPI(payload)
	case len(p.DetailType) > 0:
		var detailType string
		if err := json.Unmarshal(p.DetailType, &detailType); err != nil {
			return Request{Kind: EventBridge}, invalid("detail-type must be a JSON string")
		}
		return decodeEnvelope(detailType, p.Detail)
	}
	req := Request{Kind: Direct}
	return req, req.setIDs(p.ids, "")
}

func decodeEnvelope(detailType string, detail json.RawMessage) (Request, error) {
	req := Request{Kind: EventBridge, DetailType: detailType}
	detail = bytes.TrimSpace(detail)
	if len(detail) == 0 || string(detail) == "null" {
		return req, invalid("detail is required in an EventBridge event")
	}
	// Some producers put the detail in as a JSON string.
	if detail[0] == '"' {
		var s string
		if err := json.Unmarshal(detail, &s); err != nil {
			return req, invalid("detail is not valid JSON")
		}
		detail = []byte(strings.TrimSpace(s))
	}
	if len(detail) == 0 || detail[0] != '{' {
		return req, invalid("detail must be a JSON object with sub_mchid and out_recharge_no")
	}
	if err := req.fill(detail, "detail."); err != nil {
		return req, err
	}
	return req, rejectDuplicateKeys(detail, "detail.")
}

// fill reads sub_mchid and out_recharge_no from a JSON object whose duplicate
// keys the caller checks.
func (r *Request) fill(obj []byte, prefix string) error {
	var v ids
	if err := json.Unmarshal(obj, &v); err != nil {
		return invalid(prefix + "sub_mchid and " + prefix + "out_recharge_no must be in a JSON object")
	}
	return r.setIDs(v, prefix)
}

// setIDs takes the identifiers as strings and validates them.
func (r *Request) setIDs(v ids, prefix string) error {
	var err error
	if r.SubMchid, err = stringField(v.SubMchid, prefix+"sub_mchid"); err != nil {
		return err
	}
	if r.OutRechargeNo, err = stringField(v.OutRechargeNo, prefix+"out_recharge_no"); err != nil {
		return err
	}
	return r.validate(prefix)
}

func stringField(raw json.RawMessage, name string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", invalid(name + " is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(name + " must be a JSON string")
	}
	return s, nil
}

func (r *Request) validate(prefix string) error {
	if err := wechatpay.ValidateSubMchid(r.SubMchid); err != nil {
		return invalid(prefix + fault.As(err).Message)
	}
	if err := wechatpay.ValidateOutRechargeNo(r.OutRechargeNo); err != nil {
		return invalid(prefix + fault.As(err).Message)
	}
	return nil
}

func decodeHTTPAPI(payload []byte) (Request, error) {
	req := Request{Kind: HTTPAPI}
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &e); err != nil {
		return req, invalid("HTTP API event is malformed")
	}
	req.APIRequestID = e.RequestContext.RequestID
	return req, req.fillAPI(e.PathParameters, e.QueryStringParameters, e.Body, e.IsBase64Encoded)
}

func decodeRESTAPI(payload []byte) (Request, error) {
	req := Request{Kind: RESTAPI}
	var e events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &e); err != nil {
		return req, invalid("REST API event is malformed")
	}
	req.APIRequestID = e.RequestContext.RequestID
	query := e.QueryStringParameters
	if vals := e.MultiValueQueryStringParameters["sub_mchid"]; len(vals) > 1 {
		for _, v := range vals[1:] {
			if v != vals[0] {
				return req, invalid("sub_mchid is given twice in the query string with different values")
			}
		}
	}
	return req, req.fillAPI(e.PathParameters, query, e.Body, e.IsBase64Encoded)
}

// fillAPI reads POST /recharges/{out_recharge_no}/close: sub_mchid from the
// query string or a JSON body, which must agree when both give it.
func (r *Request) fillAPI(path, query map[string]string, body string, isBase64 bool) error {
	r.OutRechargeNo = path["out_recharge_no"]
	if r.OutRechargeNo == "" {
		return invalid("out_recharge_no path parameter is required: POST /recharges/{out_recharge_no}/close")
	}
	fromQuery, inQuery := query["sub_mchid"]
	raw := []byte(body)
	if isBase64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return invalid("body is not valid base64")
		}
	}
	if len(raw) > MaxBodyBytes {
		return invalid("body is larger than 4096 bytes")
	}
	var fromBody string
	inBody := false
	if raw = bytes.TrimSpace(raw); len(raw) > 0 {
		if !utf8.Valid(raw) {
			return invalid("body is not valid UTF-8")
		}
		var v ids
		if raw[0] != '{' || json.Unmarshal(raw, &v) != nil {
			return invalid(`body must be a JSON object such as {"sub_mchid":"1900000109"}`)
		}
		if err := rejectDuplicateKeys(raw, "body."); err != nil {
			return err
		}
		if len(v.SubMchid) > 0 && string(v.SubMchid) != "null" {
			var err error
			if fromBody, err = stringField(v.SubMchid, "sub_mchid"); err != nil {
				return err
			}
			inBody = true
		}
	}
	switch {
	case inQuery && inBody && fromQuery != fromBody:
		return invalid("sub_mchid in the query string and in the body differ")
	case inQuery:
		r.SubMchid = fromQuery
	case inBody:
		r.SubMchid = fromBody
	default:
		return invalid("sub_mchid is required, in the query string or the JSON body")
	}
	return r.validate("")
}

// rejectDuplicateKeys refuses an object that names a key twice: encoding/json
// would silently keep the last, and a proxy or logger in front of us may have
// read the first. obj is already known to be a valid JSON object.
func rejectDuplicateKeys(obj []byte, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return invalid("event is not valid JSON")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalid("event is not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return invalid(prefix + key + " is given twice")
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return invalid("event is not valid JSON")
		}
	}
	return nil
}

// depth is how deeply JSON text nests objects and arrays, strings skipped.
func depth(b []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

func invalid(msg string) error { return fault.New(fault.InvalidInput, "%s", msg) }
