// Package notify handles WeChat Pay's recharge notifications (RECHARGE.SUCCESS
// and RECHARGE.CLOSED): it verifies and decrypts one, publishes what it says
// on the result bus, deletes the recharge's pending expiry schedule, and
// answers WeChat Pay so that it stops retrying only once both are done.
package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"close-recharge/internal/expiry"

	"close-recharge/internal/closer"
	"close-recharge/internal/merchant"
	"close-recharge/internal/outcome"
	"close-recharge/internal/recharge"
)

// MaxBody is the largest notification accepted. WeChat Pay's are a few
// hundred bytes; the limit keeps a public route from buying work with size.
const MaxBody = 64 << 10

// Event types WeChat Pay sends to a recharge's notify URL.
const (
	EventSuccess = "RECHARGE.SUCCESS"
	EventClosed  = "RECHARGE.CLOSED"
)

// Request is an HTTP request as it reached the function: the exact body bytes
// (the signature covers them) and the headers.
type Request struct {
	Header http.Header
	Body   []byte
}

// Response is the answer for WeChat Pay.
type Response struct {
	Status int
	Body   []byte
}

// Keys gives the merchant's parsed secret.
type Keys interface {
	Keys(ctx context.Context) (*merchant.Keys, error)
}

// Publisher puts events on the result bus, saying for each whether it was taken.
type Publisher interface {
	Publish(ctx context.Context, events []closer.Event) []error
}

// Schedules deletes a recharge's expiry schedule; one already gone is not an error.
type Schedules interface {
	Delete(ctx context.Context, name string) error
}

// Marks remembers notification ids that were handled in full.
type Marks interface {
	Seen(ctx context.Context, id string) (bool, error)
	Record(ctx context.Context, id string) error
}

// Service is the notification use-case.
type Service struct {
	keys      Keys
	publisher Publisher
	schedules Schedules
	marks     Marks
	now       func() time.Time
	logger    *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock the timestamp window is judged by.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets where one line per notification goes.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// New builds the use-case from its ports.
func New(keys Keys, publisher Publisher, schedules Schedules, marks Marks, opts ...Option) *Service {
	s := &Service{keys: keys, publisher: publisher, schedules: schedules, marks: marks,
		now: time.Now, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// envelope is the notification body outside the encrypted resource.
type envelope struct {
	ID           string `json:"id"`
	CreateTime   string `json:"create_time"`
	ResourceType string `json:"resource_type"`
	EventType    string `json:"event_type"`
	Resource     struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		Nonce          string `json:"nonce"`
		AssociatedData string `json:"associated_data"`
	} `json:"resource"`
}

// record is what the use-case reads of the decrypted resource; the event's
// detail is the whole plaintext, so fields not named here still reach consumers.
type record struct {
	SpMchid       string `json:"sp_mchid"`
	SubMchid      string `json:"sub_mchid"`
	OutRechargeNo string `json:"out_recharge_no"`
	RechargeState string `json:"recharge_state"`
}

// Handle answers one notification. Nothing is published, deleted or recorded
// unless the request verifies as WeChat Pay's (refused with 401 otherwise).
func (s *Service) Handle(ctx context.Context, req Request) Response {
	if len(req.Body) > MaxBody {
		return s.refuse(ctx, http.StatusRequestEntityTooLarge, "body larger than 64 KiB", "", nil)
	}
	keys, err := s.keys.Keys(ctx)
	if err != nil {
		return s.fail(ctx, "merchant secret unavailable", "", err)
	}
	if err := verify(ctx, keys, req, s.now()); err != nil {
		return s.refuse(ctx, http.StatusUnauthorized, "signature verification failed", "", err)
	}

	// Everything below runs on a body WeChat Pay signed.
	var env envelope
	if err := json.Unmarshal(req.Body, &env); err != nil || env.ID == "" {
		return s.refuse(ctx, http.StatusBadRequest, "body is not a notification", "", err)
	}
	var detailType string
	switch env.EventType {
	case EventSuccess:
		detailType = outcome.Succeeded
	case EventClosed:
		detailType = outcome.Closed
	default:
		// A genuine notification of a kind this function does not act on: a
		// refusal would only make WeChat Pay retry it for a day to the same
		// end, so it is acknowledged and left alone.
		s.logger.WarnContext(ctx, "notification of an unhandled type acknowledged",
			"notification_id", env.ID, "event_type", env.EventType)
		return success()
	}

	// Checked before decrypting, so that WeChat Pay's retries of a handled
	// notification are answered even if the APIv3 key has changed since.
	seen, err := s.marks.Seen(ctx, env.ID)
	if err != nil {
		return s.fail(ctx, "cannot tell whether the notification was handled", env.ID, err)
	}
	if seen {
		s.logger.InfoContext(ctx, "notification already handled", "notification_id", env.ID, "event_type", env.EventType)
		return success()
	}

	if keys.APIv3Key == nil {
		return s.fail(ctx, "configuration error", env.ID, errNoAPIv3Key)
	}
	plaintext, err := decrypt(keys.APIv3Key, env)
	if err != nil {
		// The body is WeChat Pay's (it verified), so the likely cause is an
		// APIv3 key in the secret other than the one set in the merchant
		// platform. 401 keeps it refused — nothing is acted on that was not
		// read — and, being non-2xx, makes WeChat Pay retry for about a day:
		// once the secret holds the right key (read again within the cache's
		// TTL), a retry goes through. A 2xx would lose the notification.
		return s.refuse(ctx, http.StatusUnauthorized, "resource did not decrypt", env.ID, err)
	}
	var rec record
	if err := json.Unmarshal(plaintext, &rec); err != nil {
		return s.refuse(ctx, http.StatusBadRequest, "resource is not a recharge", env.ID, err)
	}
	if err := s.check(keys.MchID, env.EventType, rec); err != nil {
		return s.refuse(ctx, http.StatusBadRequest, err.Error(), env.ID, nil)
	}
	detail, err := withNotificationID(plaintext, env.ID)
	if err != nil {
		return s.refuse(ctx, http.StatusBadRequest, "resource is not a JSON object", env.ID, err)
	}

	// The schedule goes first: if publishing then fails, WeChat Pay's retry
	// finds it gone (which is fine) and publishes, rather than publishing twice.
	if err := s.schedules.Delete(ctx, expiry.ScheduleName(rec.SubMchid, rec.OutRechargeNo)); err != nil {
		return s.fail(ctx, "cannot delete the expiry schedule", env.ID, err)
	}
	if errs := s.publisher.Publish(ctx, []closer.Event{{DetailType: detailType, Detail: detail}}); len(errs) != 1 || errs[0] != nil {
		var perr error
		if len(errs) == 1 {
			perr = errs[0]
		}
		return s.fail(ctx, "cannot publish the event", env.ID, perr)
	}
	// Recorded only now, so that a notification whose publish or delete failed
	// is done again in full when WeChat Pay retries it. A failure here leaves
	// the work done: the answer is SUCCESS, and a replay would publish again,
	// which consumers absorb as they absorb concurrent first deliveries.
	if err := s.marks.Record(ctx, env.ID); err != nil {
		s.logger.WarnContext(ctx, "handled notification not recorded; a replay would publish again",
			"notification_id", env.ID, "error", err.Error())
	}
	s.logger.InfoContext(ctx, "notification handled", "notification_id", env.ID, "event_type", env.EventType,
		"detail_type", detailType, "sub_mchid", rec.SubMchid, "out_recharge_no", rec.OutRechargeNo)
	return success()
}

// check refuses a decrypted record that is not about one of this merchant's
// recharges in the state the event type announces.
func (s *Service) check(mchid, eventType string, rec record) error {
	if rec.SpMchid != mchid {
		return errString("notification names another platform merchant")
	}
	if err := recharge.ValidateSubMchid(rec.SubMchid); err != nil {
		return errString("invalid sub_mchid")
	}
	if err := recharge.ValidateOutRechargeNo(rec.OutRechargeNo); err != nil {
		return errString("invalid out_recharge_no")
	}
	want := recharge.StateSuccess
	if eventType == EventClosed {
		want = recharge.StateClosed
	}
	if rec.RechargeState != want {
		return errString("recharge_state does not match event_type")
	}
	return nil
}

// withNotificationID is the plaintext object, every field kept as WeChat Pay
// wrote it, with the notification's id added.
func withNotificationID(plaintext []byte, id string) (map[string]json.RawMessage, error) {
	var detail map[string]json.RawMessage
	if err := json.Unmarshal(plaintext, &detail); err != nil {
		return nil, err
	}
	idJSON, _ := json.Marshal(id)
	detail["notification_id"] = idJSON
	return detail, nil
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoAPIv3Key = errString("secret field apiv3_key is required to decrypt notifications")

func success() Response {
	return Response{Status: http.StatusOK, Body: []byte(`{"code":"SUCCESS"}`)}
}

func failure(status int, message string) Response {
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": message})
	return Response{Status: status, Body: b}
}

// refuse answers a notification that is not acted on. The cause is logged,
// never the body or the signature: the plaintext can carry an openid.
func (s *Service) refuse(ctx context.Context, status int, message, id string, cause error) Response {
	attrs := []any{"status", status, "reason", message}
	if id != "" {
		attrs = append(attrs, "notification_id", id)
	}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	s.logger.WarnContext(ctx, "notification refused", attrs...)
	return failure(status, message)
}

// fail answers 500 so that WeChat Pay retries a notification that could not be handled now.
func (s *Service) fail(ctx context.Context, message, id string, cause error) Response {
	attrs := []any{"reason", message}
	if id != "" {
		attrs = append(attrs, "notification_id", id)
	}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	s.logger.ErrorContext(ctx, "notification not handled", attrs...)
	return failure(http.StatusInternalServerError, message)
}
