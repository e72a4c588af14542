package simulator

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"close-recharge/internal/recharge"
)

// NotifySchedule is how long WeChat Pay waits before each retry of a
// notification not yet acknowledged: after the first attempt, one more after
// each wait, about a day in all. WeChat Pay documents it as "通知频率为
// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m"
// (https://pay.weixin.qq.com/docs/partner/apis/partner-native-payment/payment-notice.html,
// 通知规则; the recharge notification points to the same rules).
var NotifySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute, 20 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour,
	6 * time.Hour, 6 * time.Hour,
}

// NotifyAnswerTimeout is how long an attempt waits for the receiver's answer
// before it counts as failed. It is not time-scaled: answering is the
// receiver's real work, not WeChat Pay's schedule.
const NotifyAnswerTimeout = 5 * time.Second

// The notification's fixed fields, as WeChat Pay sends them for recharges.
const (
	EventRechargeSuccess = "RECHARGE.SUCCESS"
	EventRechargeClosed  = "RECHARGE.CLOSED"
	notifyAlgorithm      = "AEAD_AES_256_GCM"
	notifyOriginalType   = "recharge"
	// WeChat Pay's associated_data is shorter than 16 bytes and may be empty;
	// a non-empty one makes a receiver that ignores it fail.
	notifyAssociatedData = "recharge"
	expiredDesc          = "超过时间限制，系统自动关闭充值单"
)

// Errors of Pay and Expire.
var (
	ErrNoRecharge    = errors.New("no such recharge")
	ErrNotRecharging = errors.New("the recharge is not RECHARGING")
)

// Notification is one notification WeChat Pay posted (or is posting), with
// every attempt and how it was answered.
type Notification struct {
	ID            string
	EventType     string
	URL           string
	SubMchid      string
	OutRechargeNo string
	Body          json.RawMessage // exactly as posted, every attempt
	Plaintext     json.RawMessage // the resource before encryption
	Duplicate     bool            // the deliberate second delivery of the one before it (WithNotifyTwice)
	Delivered     bool            // an attempt was acknowledged
	Attempts      []NotifyAttempt
}

// NotifyAttempt is one POST of a notification.
type NotifyAttempt struct {
	Wait   time.Duration // the schedule's wait before it, unscaled; 0 for the first
	At     time.Time     // when it was sent
	Header http.Header   // as sent
	Status int           // 0 when there was no answer
	Answer string        // the answer's body
	Err    string        // why there was no answer
}

// rechargeExtra is what WeChat Pay keeps of a recharge beyond its queried
// record and puts into its notifications.
type rechargeExtra struct {
	notifyURL, remark string
	openid            string // of the payer, in the channel object
}

// notifier is the simulator's notification sender. Its maps and slices are
// guarded by Server.mu.
type notifier struct {
	perSecond  time.Duration // how long one second of NotifySchedule lasts
	twice      bool
	defaultURL string
	client     *http.Client
	ctx        context.Context
	stop       context.CancelFunc
	wg         sync.WaitGroup

	extra   map[string]*rechargeExtra
	sent    []*Notification
	holding bool
	held    [][]*Notification
}

func newNotifier() *notifier {
	ctx, stop := context.WithCancel(context.Background())
	return &notifier{perSecond: time.Second, client: &http.Client{}, ctx: ctx, stop: stop,
		extra: map[string]*rechargeExtra{}}
}

// WithNotifyTimeScale makes one second of WeChat Pay's retry schedule last
// perSecond, so that tests see a day of retries in moments.
func WithNotifyTimeScale(perSecond time.Duration) Option {
	return func(s *Server) { s.notify.perSecond = perSecond }
}

// WithNotifyTwice delivers every notification twice, the second time byte for
// byte the same request, as WeChat Pay does when it retries on another link.
func WithNotifyTwice() Option { return func(s *Server) { s.notify.twice = true } }

// WithNotifyURL is the notify URL of recharges that were given none.
func WithNotifyURL(url string) Option { return func(s *Server) { s.notify.defaultURL = url } }

// SetNotifyURL sets the notify URL of a stored recharge, and reports whether
// it exists.
func (s *Server) SetNotifyURL(subMchid, outRechargeNo, url string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recharges[key(subMchid, outRechargeNo)]; !ok {
		return false
	}
	s.extraOf(key(subMchid, outRechargeNo)).notifyURL = url
	return true
}

// extraOf returns the recharge's extra record, made on first use; s.mu must be held.
func (s *Server) extraOf(k string) *rechargeExtra {
	e, ok := s.notify.extra[k]
	if !ok {
		e = &rechargeExtra{openid: "oSim" + randomHex(12)}
		s.notify.extra[k] = e
	}
	return e
}

// Pay moves a RECHARGING recharge to SUCCESS, as the money arriving does, and
// notifies its notify URL.
func (s *Server) Pay(subMchid, outRechargeNo string) (recharge.Recharge, error) {
	return s.finish(subMchid, outRechargeNo, recharge.StateSuccess, "")
}

// Expire closes a RECHARGING recharge as WeChat Pay does by itself when it is
// left unpaid too long, and notifies its notify URL.
func (s *Server) Expire(subMchid, outRechargeNo string) (recharge.Recharge, error) {
	return s.finish(subMchid, outRechargeNo, recharge.StateClosed, expiredDesc)
}

func (s *Server) finish(subMchid, outRechargeNo, state, desc string) (recharge.Recharge, error) {
	s.mu.Lock()
	rc, ok := s.recharges[key(subMchid, outRechargeNo)]
	if !ok {
		s.mu.Unlock()
		return recharge.Recharge{}, ErrNoRecharge
	}
	if rc.RechargeState != recharge.StateRecharging {
		was := rc.RechargeState
		s.mu.Unlock()
		return recharge.Recharge{}, fmt.Errorf("%w: it is %s", ErrNotRecharging, was)
	}
	setState(rc, state, s.now())
	if desc != "" {
		rc.RechargeStateDesc = desc
	}
	snapshot := *rc
	s.mu.Unlock()
	s.announce(snapshot)
	return snapshot, nil
}

// HoldNotifications keeps new notifications unsent until ReleaseNotifications.
func (s *Server) HoldNotifications() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify.holding = true
}

// ReleaseNotifications sends the held notifications newest first — out of
// the order of the changes they announce, as WeChat Pay may deliver them —
// and stops holding.
func (s *Server) ReleaseNotifications() {
	s.mu.Lock()
	groups := slices.Clone(s.notify.held)
	s.notify.held, s.notify.holding = nil, false
	s.mu.Unlock()
	slices.Reverse(groups)
	s.launch(groups)
}

// Notifications returns a copy of every notification made so far, in the
// order of the changes they announce.
func (s *Server) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Notification, len(s.notify.sent))
	for i, n := range s.notify.sent {
		out[i] = *n
		out[i].Attempts = slices.Clone(n.Attempts)
	}
	return out
}

// Close stops retrying notifications and waits for the attempts under way to
// end. The Server still serves requests.
func (s *Server) Close() {
	s.notify.stop()
	s.notify.wg.Wait()
}

// announce makes the notification of a recharge's new state, if it has a
// notify URL, and sends it unless notifications are held.
func (s *Server) announce(rc recharge.Recharge) {
	event, summary := EventRechargeSuccess, "充值成功"
	if rc.RechargeState == recharge.StateClosed {
		event, summary = EventRechargeClosed, "充值已关闭"
	}
	s.mu.Lock()
	extra := *s.extraOf(key(rc.SubMchid, rc.OutRechargeNo))
	apiV3Key := s.keys.APIv3Key
	s.mu.Unlock()
	url := extra.notifyURL
	if url == "" {
		url = s.notify.defaultURL
	}
	if url == "" {
		return
	}
	plaintext, err := notifyPlaintext(&rc, &extra)
	if err != nil {
		s.logger.Error("wechatpay-sim notification not made", "error", err)
		return
	}
	resource, err := encryptResource(apiV3Key, plaintext)
	if err != nil {
		s.logger.Error("wechatpay-sim notification not made", "error", err)
		return
	}
	n := &Notification{ID: notificationID(), EventType: event, URL: url, SubMchid: rc.SubMchid,
		OutRechargeNo: rc.OutRechargeNo, Plaintext: plaintext}
	n.Body, _ = json.Marshal(struct {
		ID           string         `json:"id"`
		CreateTime   string         `json:"create_time"`
		ResourceType string         `json:"resource_type"`
		EventType    string         `json:"event_type"`
		Summary      string         `json:"summary"`
		Resource     notifyResource `json:"resource"`
	}{n.ID, s.now().In(cst).Format(time.RFC3339), "encrypt-resource", event, summary, resource})
	group := []*Notification{n}
	if s.notify.twice {
		dup := *n
		dup.Duplicate = true
		group = append(group, &dup)
	}
	s.mu.Lock()
	s.notify.sent = append(s.notify.sent, group...)
	holding := s.notify.holding
	if holding {
		s.notify.held = append(s.notify.held, group)
	}
	s.mu.Unlock()
	if !holding {
		s.launch([][]*Notification{group})
	}
}

type notifyResource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// notifyPlaintext is the recharge as queried, with what only notifications
// carry: the remark, and the channel the payer used, whose openid is
// personal data a receiver must never log.
func notifyPlaintext(rc *recharge.Recharge, extra *rechargeExtra) ([]byte, error) {
	record, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(record, &fields); err != nil {
		return nil, err
	}
	fields["remark"], _ = json.Marshal(extra.remark)
	fields["qr_recharge_info"], _ = json.Marshal(recharge.QRRechargeInfo{Openid: extra.openid})
	return json.Marshal(fields)
}

// encryptResource seals plaintext with the merchant's APIv3 key as WeChat
// Pay does: AES-256-GCM, a 12-byte nonce, the tag after the ciphertext, all
// base64.
func encryptResource(apiV3Key string, plaintext []byte) (notifyResource, error) {
	block, err := aes.NewCipher([]byte(apiV3Key))
	if err != nil {
		return notifyResource{}, fmt.Errorf("APIv3 key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return notifyResource{}, err
	}
	nonce := randomAlnum(gcm.NonceSize())
	sealed := gcm.Seal(nil, []byte(nonce), plaintext, []byte(notifyAssociatedData))
	return notifyResource{OriginalType: notifyOriginalType, Algorithm: notifyAlgorithm,
		Ciphertext: base64.StdEncoding.EncodeToString(sealed), AssociatedData: notifyAssociatedData, Nonce: nonce}, nil
}

func notificationID() string {
	h := randomHex(16)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// signNotification makes the headers of one attempt, signed now with the key
// that signs answers: each retry is signed afresh, since a receiver refuses
// a timestamp more than five minutes old and retries go on for a day.
func (s *Server) signNotification(body []byte) http.Header {
	s.mu.Lock()
	keys, mode := s.keys, s.signMode
	s.mu.Unlock()
	signKey, serial := keys.PlatformKey, keys.PublicKeyID
	if mode == SignWithCertificate {
		signKey, serial = keys.CertificateKey, keys.CertificateSerial()
	}
	ts, nonce := s.now().Unix(), randomHex(16)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Request-ID", randomHex(16))
	h.Set("Wechatpay-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", AuthScheme)
	h.Set("Wechatpay-Signature", Sign(signKey, ResponseMessage(ts, nonce, body)))
	return h
}

// launch delivers groups of notifications in order: the first attempt of
// each in turn, one after the other so that the order is the one given, then
// the retries of those not acknowledged, each on its own.
func (s *Server) launch(groups [][]*Notification) {
	n := s.notify
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for _, group := range groups {
			// A group's deliveries are the same request, headers and all.
			header := s.signNotification(group[0].Body)
			for _, nt := range group {
				if s.attempt(nt, 0, header) {
					continue
				}
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					s.retry(nt)
				}()
			}
		}
	}()
}

func (s *Server) retry(nt *Notification) {
	for _, wait := range NotifySchedule {
		t := time.NewTimer(time.Duration(wait.Seconds() * float64(s.notify.perSecond)))
		select {
		case <-s.notify.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s.attempt(nt, wait, s.signNotification(nt.Body)) {
			return
		}
	}
}

// attempt posts a notification once, records how it was answered, and
// reports whether the receiver acknowledged it.
func (s *Server) attempt(nt *Notification, wait time.Duration, header http.Header) bool {
	if s.notify.ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.notify.ctx, NotifyAnswerTimeout)
	defer cancel()
	a := NotifyAttempt{Wait: wait, At: time.Now(), Header: header}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nt.URL, bytes.NewReader(nt.Body))
	if err == nil {
		req.Header = header.Clone()
		var resp *http.Response
		if resp, err = s.notify.client.Do(req); err == nil {
			answer, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			a.Status, a.Answer, err = resp.StatusCode, string(answer), readErr
		}
	}
	if err != nil {
		a.Err = err.Error()
	}
	ok := err == nil && acknowledged(a.Status, a.Answer)
	s.mu.Lock()
	nt.Attempts = append(nt.Attempts, a)
	nt.Delivered = nt.Delivered || ok
	tries := len(nt.Attempts)
	s.mu.Unlock()
	s.logger.Info("wechatpay-sim notification", "id", nt.ID, "event_type", nt.EventType, "attempt", tries,
		"status", a.Status, "acknowledged", ok, "error", a.Err)
	return ok
}

// acknowledged reports whether an answer ends WeChat Pay's retries: a 2xx
// saying {"code":"SUCCESS"}, or an empty 200 or 204.
func acknowledged(status int, answer string) bool {
	if status < 200 || status > 299 {
		return false
	}
	body := bytes.TrimSpace([]byte(answer))
	if len(body) == 0 {
		return status == http.StatusOK || status == http.StatusNoContent
	}
	var v struct {
		Code string `json:"code"`
	}
	return json.Unmarshal(body, &v) == nil && v.Code == "SUCCESS"
}
