// Package trigger turns every event a user wires to the function — API Gateway
// HTTP API (v2) and REST API (v1) requests, EventBridge rule envelopes,
// Scheduler and rule targets with Input, direct invokes — into one Request, and
// shapes the answer the trigger expects.
//
// Two kinds of envelope are never a close request, whatever rule routes them
// here: the function's own outcomes (it would take its output for input), and
// an expiry request, which asks for a close at a deadline — taken as a close,
// it would close the recharge before its deadline. The expiry function reads
// those.
package trigger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"close-recharge/internal/fault"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
)

// Kind names a trigger.
type Kind string

const (
	Direct      Kind = "direct"      // direct invoke, Scheduler or rule target with Input
	EventBridge Kind = "eventbridge" // EventBridge rule, whole envelope
	HTTPAPI     Kind = "http-api"    // API Gateway HTTP API, payload format 2.0
	RESTAPI     Kind = "rest-api"    // API Gateway REST API, proxy integration
	SQS         Kind = "sqs"         // an SQS event source mapping's batch; each body a Direct or EventBridge request
)

// Request is what to close, how the answer must be shaped, and who asked.
type Request struct {
	Kind          Kind
	SubMchid      string
	OutRechargeNo string
	APIRequestID  string   // API Gateway's request id
	Caller        string   // API Gateway: the IAM caller's ARN, when IAM authorised the call
	Source        string   // EventBridge: the envelope's source
	Account       string   // EventBridge: the account that sent the event; API Gateway: the caller's account
	Records       []Record // SQS: the batch, each body still to be decoded by DecodeRecord
	// ExpireTime is the request's expire_time, when it names one (raw JSON):
	// CloseNow holds the close to it.
	ExpireTime json.RawMessage
}

// DueMargin is how far ahead of its expire_time a close request is still
// taken as due: a schedule fires at its minute, and clocks differ.
const DueMargin = time.Minute

// CloseNow refuses a request whose expire_time has not come: an expiry request
// sent to the close function by mistake (a direct invoke, a queued body, an
// API body) would otherwise close the recharge before its deadline. A request
// that names a deadline already past (a schedule's input that kept it) is due.
func (r Request) CloseNow(now time.Time) error {
	if r.ExpireTime == nil {
		return nil
	}
	const elsewhere = ": expiry requests go to the expiry function (PUT /recharges/{out_recharge_no}/expiry or a \"" + ExpiryRequested + "\" event)"
	var s string
	if json.Unmarshal(r.ExpireTime, &s) != nil {
		return invalid("expire_time must be a JSON string" + elsewhere)
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return invalid("expire_time must be RFC 3339 with a UTC offset" + elsewhere)
	}
	if at.After(now.Add(DueMargin)) {
		return invalid("expire_time " + s + " has not come: closing now would void the recharge before its deadline" + elsewhere)
	}
	return nil
}

// Record is one message of an SQS batch.
type Record struct {
	MessageID     string
	Body          string
	QueueARN      string
	ReceiptHandle string
	// ReceiveCount is SQS's ApproximateReceiveCount: this receive's number,
	// from 1; 0 when the record does not say (not one SQS delivered).
	ReceiveCount int
	// SentAt is when the expiry was first put on the queue: SQS's
	// SentTimestamp, or, for a copy the function put back, the original's
	// (the FirstSentAttribute message attribute). Zero when not known.
	SentAt time.Time
}

// ExpiryRequested is the detail-type of the event asking for a recharge to be
// closed at a deadline: the expiry function's input, refused as a close request.
const ExpiryRequested = "Recharge Expiry Requested"

// FirstSentAttribute is the message attribute in which a copy of a record
// carries when its original was sent (Unix milliseconds): a copy is a new
// message, and its own SentTimestamp would hide how long the expiry has waited.
const FirstSentAttribute = "FirstSentTimestamp"

// MaxRecords bounds an SQS batch: the event source mapping's BatchSize is at most 10,000.
const MaxRecords = 10000

// Closes lists what the event asks to close: the request itself, or each
// record of an SQS batch whose body decodes.
func (r Request) Closes() []Request {
	if r.Kind != SQS {
		return []Request{r}
	}
	var out []Request
	for _, rec := range r.Records {
		if req, err := DecodeRecord(rec.Body); err == nil {
			out = append(out, req)
		}
	}
	return out
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

// Decode reads an event. Any problem is an invalid-input *fault.Error naming
// the field; identifiers are validated here, before any URL can exist. Once
// the event is known to come from API Gateway, the Request says so even when
// the event is refused, so that the caller still gets an HTTP answer.
func Decode(payload []byte) (Request, error) {
	req := Request{Kind: Direct}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return req, invalid("event must be a JSON object")
	}
	if depth(payload) > MaxDepth {
		return req, invalid("event nests deeper than 32 levels")
	}
	top, err := members(payload, "")
	if err != nil {
		return req, err
	}
	_, hasContext := top["requestContext"]
	_, hasRecords := top["Records"]
	switch {
	case hasRecords:
		req.Kind = SQS
	case hasContext && string(top["version"]) == `"2.0"` && len(top["routeKey"]) > 0:
		req.Kind = HTTPAPI
	case hasContext && len(top["httpMethod"]) > 0:
		req.Kind = RESTAPI
	case len(top["detail-type"]) > 0:
		req.Kind = EventBridge
	}
	// An SQS batch holds up to 10 bodies of up to 256 KiB each; every body is
	// held to the bound by DecodeRecord.
	if len(payload) > MaxEventBytes && req.Kind != SQS {
		return req, invalid("event is larger than 256 KiB")
	}
	if !utf8.Valid(payload) {
		return req, invalid("event is not valid UTF-8")
	}
	switch req.Kind {
	case SQS:
		return req, req.decodeSQS(payload)
	case HTTPAPI:
		return req, req.decodeHTTPAPI(payload)
	case RESTAPI:
		return req, req.decodeRESTAPI(payload)
	case EventBridge:
		return req, req.decodeEnvelope(top)
	}
	return req, req.setIDs(top, "")
}

func (r *Request) decodeSQS(payload []byte) error {
	var e events.SQSEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return invalid("SQS event is malformed")
	}
	if len(e.Records) == 0 || len(e.Records) > MaxRecords {
		return invalid("an SQS event must hold 1 to 10000 Records")
	}
	seen := make(map[string]bool, len(e.Records))
	for i, m := range e.Records {
		switch {
		case m.EventSource != "aws:sqs":
			return invalid(fmt.Sprintf("Records[%d] comes from %q, not aws:sqs", i, m.EventSource))
		case m.MessageId == "":
			return invalid(fmt.Sprintf("Records[%d] has no messageId", i))
		case seen[m.MessageId]:
			// One message delivered twice in a batch is one record: the answer
			// may name it only once, and the rest of the batch stands.
			continue
		}
		seen[m.MessageId] = true
		n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		if err != nil || n < 0 {
			n = 0
		}
		r.Records = append(r.Records, Record{MessageID: m.MessageId, Body: m.Body, QueueARN: m.EventSourceARN,
			ReceiptHandle: m.ReceiptHandle, ReceiveCount: n, SentAt: sentAt(m)})
	}
	return nil
}

// sentAt is when m's expiry was first sent: the earlier of SentTimestamp and
// the first-sent attribute a copy carries.
func sentAt(m events.SQSMessage) time.Time {
	var at time.Time
	millis := []string{m.Attributes["SentTimestamp"]}
	if a, ok := m.MessageAttributes[FirstSentAttribute]; ok && a.StringValue != nil {
		millis = append(millis, *a.StringValue)
	}
	for _, v := range millis {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			if t := time.UnixMilli(ms); at.IsZero() || t.Before(at) {
				at = t
			}
		}
	}
	return at
}

// DecodeRecord reads one SQS record's body: a direct request or an
// EventBridge envelope (what a schedule or a rule puts on the queue). An API
// Gateway event or a nested batch is invalid there.
func DecodeRecord(body string) (Request, error) {
	req, err := Decode([]byte(body))
	switch {
	case req.IsAPI():
		return Request{Kind: Direct}, invalid("an SQS record's body must be a close request or an EventBridge event, not an API Gateway request")
	case req.Kind == SQS:
		return Request{Kind: Direct}, invalid("an SQS record's body must be a close request or an EventBridge event, not an SQS event")
	case err == nil:
		err = req.CloseNow(time.Now())
	}
	return req, err
}

func (r *Request) decodeEnvelope(top map[string]json.RawMessage) error {
	detailType, err := stringField(top["detail-type"], "detail-type")
	if err != nil {
		return err
	}
	if outcome.IsOwn(detailType) {
		return invalid("detail-type " + strconv.Quote(detailType) + " is an outcome this function publishes, not a close request")
	}
	if detailType == ExpiryRequested {
		return invalid("detail-type " + strconv.Quote(detailType) + " asks for a close at a deadline, not now: it is the expiry function's")
	}
	// Who sent it, for the summary line: optional, but never of the wrong type.
	if raw, ok := top["source"]; ok {
		if r.Source, err = stringField(raw, "source"); err != nil {
			return err
		}
	}
	if raw, ok := top["account"]; ok {
		if r.Account, err = stringField(raw, "account"); err != nil {
			return err
		}
	}
	detail := bytes.TrimSpace(top["detail"])
	if len(detail) == 0 || string(detail) == "null" {
		return invalid("detail is required in an EventBridge event")
	}
	// Some producers put the detail in as a JSON string.
	if detail[0] == '"' {
		var s string
		if err := json.Unmarshal(detail, &s); err != nil {
			return invalid("detail is not valid JSON")
		}
		detail = []byte(strings.TrimSpace(s))
	}
	if len(detail) == 0 || detail[0] != '{' {
		return invalid("detail must be a JSON object with sub_mchid and out_recharge_no")
	}
	fields, err := members(detail, "detail.")
	if err != nil {
		return err
	}
	return r.setIDs(fields, "detail.")
}

// setIDs takes the identifiers, by their exact names, as strings and validates them.
func (r *Request) setIDs(fields map[string]json.RawMessage, prefix string) error {
	var err error
	r.ExpireTime = fields["expire_time"]
	if r.SubMchid, err = stringField(fields["sub_mchid"], prefix+"sub_mchid"); err != nil {
		return err
	}
	if r.OutRechargeNo, err = stringField(fields["out_recharge_no"], prefix+"out_recharge_no"); err != nil {
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
	if err := recharge.ValidateSubMchid(r.SubMchid); err != nil {
		return invalid(prefix + fault.As(err).Message)
	}
	if err := recharge.ValidateOutRechargeNo(r.OutRechargeNo); err != nil {
		return invalid(prefix + fault.As(err).Message)
	}
	return nil
}

func (r *Request) decodeHTTPAPI(payload []byte) error {
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &e); err != nil {
		return invalid("HTTP API event is malformed")
	}
	r.APIRequestID = e.RequestContext.RequestID
	if iam := e.RequestContext.Authorizer; iam != nil && iam.IAM != nil {
		r.Caller, r.Account = iam.IAM.UserARN, iam.IAM.AccountID
	}
	// HTTP API joins a repeated query parameter's values with commas.
	var subs []string
	if v, ok := e.QueryStringParameters["sub_mchid"]; ok {
		subs = strings.Split(v, ",")
	}
	return r.fillAPI(e.PathParameters["out_recharge_no"], subs, e.Body, e.IsBase64Encoded)
}

func (r *Request) decodeRESTAPI(payload []byte) error {
	var e events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &e); err != nil {
		return invalid("REST API event is malformed")
	}
	r.APIRequestID = e.RequestContext.RequestID
	r.Caller, r.Account = e.RequestContext.Identity.UserArn, e.RequestContext.Identity.AccountID
	subs := e.MultiValueQueryStringParameters["sub_mchid"]
	if v, ok := e.QueryStringParameters["sub_mchid"]; ok && len(subs) == 0 {
		subs = []string{v}
	}
	// REST API passes path parameters still percent-encoded; HTTP API decodes them.
	no, err := url.PathUnescape(e.PathParameters["out_recharge_no"])
	if err != nil {
		return invalid("out_recharge_no path parameter is not valid percent-encoding")
	}
	return r.fillAPI(no, subs, e.Body, e.IsBase64Encoded)
}

// fillAPI reads POST /recharges/{out_recharge_no}/close: sub_mchid from the
// query string (every value it was given there) or a JSON body, which must
// agree when both give it.
func (r *Request) fillAPI(outRechargeNo string, fromQuery []string, body string, isBase64 bool) error {
	r.OutRechargeNo = outRechargeNo
	if r.OutRechargeNo == "" {
		return invalid("out_recharge_no path parameter is required: POST /recharges/{out_recharge_no}/close")
	}
	for _, v := range fromQuery[min(1, len(fromQuery)):] {
		if v != fromQuery[0] {
			return invalid("sub_mchid is given twice in the query string with different values")
		}
	}
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
		const shape = `body must be a JSON object such as {"sub_mchid":"1900000109"}`
		if raw[0] != '{' || !json.Valid(raw) {
			return invalid(shape)
		}
		fields, err := members(raw, "body.")
		if err != nil {
			return err
		}
		r.ExpireTime = fields["expire_time"]
		if v, ok := fields["sub_mchid"]; ok && string(v) != "null" {
			if fromBody, err = stringField(v, "sub_mchid"); err != nil {
				return err
			}
			inBody = true
		}
	}
	switch {
	case len(fromQuery) > 0 && inBody && fromQuery[0] != fromBody:
		return invalid("sub_mchid in the query string and in the body differ")
	case len(fromQuery) > 0:
		r.SubMchid = fromQuery[0]
	case inBody:
		r.SubMchid = fromBody
	default:
		return invalid("sub_mchid is required, in the query string or the JSON body")
	}
	return r.validate("")
}

// Object reads a JSON object's members as members does, for other functions'
// events (the expiry function's envelope, detail and body): what names the
// object in errors.
func Object(b []byte, what string) (map[string]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, invalid(what + " must be a JSON object")
	}
	return members(b, what+".")
}

// members reads a JSON object's members by their exact names. A name given
// twice is refused, and so are two names that encoding/json would take for
// one (SUB_MCHID beside sub_mchid, or a Unicode letter that folds onto an
// ASCII one): json would silently keep the last, and a proxy or logger in
// front of us may have read the first. obj starts with '{'.
func members(obj []byte, prefix string) (map[string]json.RawMessage, error) {
	bad := invalid(strings.TrimSuffix(prefix, ".") + " is not valid JSON")
	if prefix == "" {
		bad = invalid("event is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad
	}
	fields := map[string]json.RawMessage{}
	folded := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		name, _ := tok.(string)
		fold := foldName(name)
		if first, seen := folded[fold]; seen {
			if first == name {
				return nil, invalid(prefix + name + " is given twice")
			}
			return nil, invalid(prefix + first + " is given twice, also as " + strconv.Quote(name))
		}
		folded[fold] = name
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad
		}
		fields[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad
	}
	return fields, nil
}

// foldName maps names that encoding/json matches to one another (it compares
// them with Unicode simple case folding) onto one key: each rune becomes the
// least rune of its folding orbit, so k, K and the Kelvin sign all become K.
func foldName(s string) string {
	ascii := true
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
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
