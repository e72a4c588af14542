package integration

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"close-recharge/internal/expiry"

	"close-recharge/internal/awstest"
	"close-recharge/internal/emulator"
	"close-recharge/internal/notify"
	"close-recharge/internal/outcome"
)

const notifyAPIv3Key = "IntegrationAPIv3Key0123456789abc"

// notifyStack is the notification function's AWS side in moto: the merchant
// secret with its APIv3 key, the result bus, a schedule group holding expiry
// schedules, and the dedupe table.
type notifyStack struct {
	aws   aws.Config
	bus   *awstest.Bus
	group string
	table string
	env   []string
}

func newNotifyStack(t *testing.T, pending ...string) *notifyStack {
	t.Helper()
	requireComponents(t)
	s := &notifyStack{aws: awstest.Config(motoEndpoint), group: awstest.UniqueName("expiries"), table: awstest.UniqueName("marks")}
	secret := keys.Secret(false)
	secret.APIv3Key = notifyAPIv3Key
	secretARN, err := awstest.PutSecret(s.aws, awstest.UniqueName("wechatpay/merchant"), secret)
	if err != nil {
		t.Fatal(err)
	}
	if s.bus, err = awstest.NewBus(s.aws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := awstest.Ctx()
	defer cancel()
	sched := awsscheduler.NewFromConfig(s.aws)
	if _, err := sched.CreateScheduleGroup(ctx, &awsscheduler.CreateScheduleGroupInput{Name: aws.String(s.group)}); err != nil {
		t.Fatal(err)
	}
	// The schedules' target, as the stack's expiry queue is; never fired here.
	if _, err := sqs.NewFromConfig(s.aws).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.group)}); err != nil {
		t.Fatal(err)
	}
	for _, no := range pending {
		if _, err := sched.CreateSchedule(ctx, &awsscheduler.CreateScheduleInput{
			Name: aws.String(expiry.ScheduleName(sub, no)), GroupName: aws.String(s.group),
			ScheduleExpression: aws.String("at(2030-01-01T00:00:00)"), FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
			Target: &schedtypes.Target{
				Arn:     aws.String("arn:aws:sqs:" + awstest.Region + ":" + awstest.AccountID + ":" + s.group),
				RoleArn: aws.String("arn:aws:iam::" + awstest.AccountID + ":role/scheduler"),
				Input:   aws.String(`{"sub_mchid":"` + sub + `","out_recharge_no":"` + no + `"}`),
			},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dynamodb.NewFromConfig(s.aws).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(s.table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(notify.AttrID), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(notify.AttrID), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	s.env = append(awstest.Env(motoEndpoint),
		"WECHATPAY_SECRET_ID="+secretARN,
		"RESULT_EVENT_BUS="+s.bus.Name,
		"SCHEDULE_GROUP="+s.group,
		"NOTIFICATION_TABLE="+s.table,
	)
	return s
}

func (s *notifyStack) schedulePending(t *testing.T, no string) bool {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	_, err := awsscheduler.NewFromConfig(s.aws).GetSchedule(ctx, &awsscheduler.GetScheduleInput{
		Name: aws.String(expiry.ScheduleName(sub, no)), GroupName: aws.String(s.group)})
	var notFound *schedtypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func (s *notifyStack) recorded(t *testing.T, id string) bool {
	t.Helper()
	ctx, cancel := awstest.Ctx()
	defer cancel()
	out, err := dynamodb.NewFromConfig(s.aws).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table),
		Key: map[string]ddbtypes.AttributeValue{notify.AttrID: &ddbtypes.AttributeValueMemberS{Value: id}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item != nil
}

// buildNotifyBootstrap builds functions/recharge-notify as Lambda runs it.
func buildNotifyBootstrap(t *testing.T) string {
	t.Helper()
	requireComponents(t)
	path := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", path, "../../functions/recharge-notify")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the notify bootstrap: %v\n%s", err, out)
	}
	return path
}

// notification is an API Gateway HTTP API (payload 2.0) event carrying a
// notification as WeChat Pay sends it: the resource encrypted with the APIv3
// key, the body signed with WeChat Pay's public-key-mode key, now.
func notification(t *testing.T, id, eventType, no, state string, signer *rsa.PrivateKey) string {
	t.Helper()
	plain, _ := json.Marshal(map[string]any{
		"sp_mchid": keys.MchID, "sub_mchid": sub, "out_recharge_no": no, "recharge_id": "RID" + no,
		"recharge_state": state, "recharge_amount": map[string]any{"amount": 10000, "currency": "CNY"},
		"qr_recharge_info": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
	})
	block, _ := aes.NewCipher([]byte(notifyAPIv3Key))
	gcm, _ := cipher.NewGCM(block)
	nonce := "0123456789ab"
	body, _ := json.Marshal(map[string]any{
		"id": id, "create_time": time.Now().Format(time.RFC3339), "resource_type": "encrypt-resource", "event_type": eventType,
		"resource": map[string]any{"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "recharge",
			"ciphertext": base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plain, []byte("recharge")))},
	})
	ts, sigNonce := strconv.FormatInt(time.Now().Unix(), 10), "NONCE"+id
	sum := sha256.Sum256([]byte(ts + "\n" + sigNonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, signer, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	event, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /wechatpay/notifications", RawPath: "/wechatpay/notifications",
		Headers: map[string]string{
			"content-type": "application/json", "wechatpay-timestamp": ts, "wechatpay-nonce": sigNonce,
			"wechatpay-signature": base64.StdEncoding.EncodeToString(sig), "wechatpay-serial": keys.PublicKeyID,
			"wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
		},
		Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
	})
	return string(event)
}

func notifyAnswer(t *testing.T, em *emulator.Emulator, event string) (int, string) {
	t.Helper()
	resp := invoke(t, em, event)
	var out events.APIGatewayV2HTTPResponse
	if resp.ErrorType != "" || json.Unmarshal(resp.Body, &out) != nil {
		t.Fatalf("invocation failed: %s %s", resp.ErrorType, resp.Body)
	}
	return out.StatusCode, out.Body
}

// WeChat Pay's notifications through the built bootstrap: a genuine one is
// published, its schedule deleted and its id recorded; a replay and a forgery
// change nothing; another recharge's CLOSED after a SUCCESS is handled as its own.
func TestNotifyThroughTheBootstrap(t *testing.T) {
	s := newNotifyStack(t, "NOTIFY1", "NOTIFY2", "NOTIFY3")
	em := startBootstrap(t, buildNotifyBootstrap(t), s.env, 10*time.Second)

	genuine := notification(t, "EV-NOTIFY-1", notify.EventSuccess, "NOTIFY1", "SUCCESS", keys.PlatformKey)
	if status, body := notifyAnswer(t, em, genuine); status != 200 || body != `{"code":"SUCCESS"}` {
		t.Fatalf("genuine notification: %d %s", status, body)
	}
	if status, body := notifyAnswer(t, em, genuine); status != 200 || body != `{"code":"SUCCESS"}` {
		t.Fatalf("replayed notification: %d %s", status, body)
	}
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	if status, body := notifyAnswer(t, em, notification(t, "EV-NOTIFY-3", notify.EventClosed, "NOTIFY3", "CLOSED", forger)); status != 401 {
		t.Fatalf("forged notification: %d %s, want 401", status, body)
	}
	if status, body := notifyAnswer(t, em, notification(t, "EV-NOTIFY-2", notify.EventClosed, "NOTIFY2", "CLOSED", keys.PlatformKey)); status != 200 {
		t.Fatalf("another recharge's CLOSED: %d %s", status, body)
	}

	published, err := s.bus.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if len(published) != 2 || published[0].DetailType != "Recharge Succeeded" || published[0].OutRechargeNo() != "NOTIFY1" ||
		published[1].DetailType != "Recharge Closed" || published[1].OutRechargeNo() != "NOTIFY2" {
		t.Fatalf("published %+v, want Recharge Succeeded for NOTIFY1, then Recharge Closed for NOTIFY2", published)
	}
	// The event contract: every detail names the platform merchant and the
	// contract's version, as the close function's outcomes do.
	var detail struct {
		NotificationID  string `json:"notification_id"`
		State           string `json:"recharge_state"`
		SpMchid         string `json:"sp_mchid"`
		ContractVersion string `json:"contract_version"`
	}
	if err := json.Unmarshal(published[0].Detail, &detail); err != nil || detail.NotificationID != "EV-NOTIFY-1" || detail.State != "SUCCESS" ||
		detail.SpMchid != keys.MchID || detail.ContractVersion != outcome.ContractVersion {
		t.Fatalf("detail %s", published[0].Detail)
	}
	if s.schedulePending(t, "NOTIFY1") || s.schedulePending(t, "NOTIFY2") {
		t.Error("a notified recharge's expiry schedule is still pending")
	}
	if !s.schedulePending(t, "NOTIFY3") {
		t.Error("a forged notification deleted a schedule")
	}
	if !s.recorded(t, "EV-NOTIFY-1") || !s.recorded(t, "EV-NOTIFY-2") || s.recorded(t, "EV-NOTIFY-3") {
		t.Error("the marks table does not hold exactly the handled notifications")
	}
	if strings.Contains(em.Logs(), "oUpF8uMuAJO") {
		t.Error("the function logged the plaintext's openid")
	}
}
