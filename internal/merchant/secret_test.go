package merchant_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"close-recharge/internal/fault"
	"close-recharge/internal/merchant"
	"close-recharge/internal/simulator"
)

func TestParse(t *testing.T) {
	keys, err := simulator.GenerateKeys("1900000100")
	if err != nil {
		t.Fatal(err)
	}
	good := keys.Secret(true)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys.MerchantKey)}))
	truncatedKey := func() string {
		k, _ := rsa.GenerateKey(rand.Reader, 1024)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:len(der)-10]}))
	}()

	tests := []struct {
		name      string
		edit      func(*merchant.Secret)
		wantField string // "" = valid
	}{
		{"public key and certificate", func(*merchant.Secret) {}, ""},
		{"public key only", func(s *merchant.Secret) { s.PlatformCertificates = nil }, ""},
		{"certificate only", func(s *merchant.Secret) { s.WechatPayPublicKey, s.WechatPayPublicKeyID = "", "" }, ""},
		{"PKCS#1 private key", func(s *merchant.Secret) { s.MerchantPrivateKey = pkcs1 }, ""},
		{"no mchid", func(s *merchant.Secret) { s.MchID = "" }, "mchid"},
		{"mchid not digits", func(s *merchant.Secret) { s.MchID = "19x" }, "mchid"},
		{"no serial", func(s *merchant.Secret) { s.MerchantSerialNo = "" }, "merchant_serial_no"},
		{"no private key", func(s *merchant.Secret) { s.MerchantPrivateKey = "" }, "merchant_private_key"},
		{"private key not PEM", func(s *merchant.Secret) { s.MerchantPrivateKey = "MIIEvQIBADANBg" }, "merchant_private_key"},
		{"private key truncated", func(s *merchant.Secret) { s.MerchantPrivateKey = truncatedKey }, "merchant_private_key"},
		{"public key given as private key", func(s *merchant.Secret) { s.MerchantPrivateKey = s.WechatPayPublicKey }, "merchant_private_key"},
		{"public key without id", func(s *merchant.Secret) { s.WechatPayPublicKeyID = "" }, "wechatpay_public_key_id"},
		{"id without public key", func(s *merchant.Secret) { s.WechatPayPublicKey = "" }, "wechatpay_public_key"},
		{"id not PUB_KEY_ID_", func(s *merchant.Secret) { s.WechatPayPublicKeyID = "5157F09EFDC096DE" }, "wechatpay_public_key_id"},
		{"public key garbage", func(s *merchant.Secret) {
			s.WechatPayPublicKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
		}, "wechatpay_public_key"},
		{"certificate garbage", func(s *merchant.Secret) { s.PlatformCertificates = []string{s.WechatPayPublicKey} }, "wechatpay_platform_certificates[0]"},
		// Each PEM field holds exactly one block of its type: nothing else is skipped over.
		{"second certificate in one element", func(s *merchant.Secret) {
			s.PlatformCertificates = []string{s.PlatformCertificates[0] + "\n" + s.PlatformCertificates[0]}
		}, "wechatpay_platform_certificates[0]"},
		{"two private keys", func(s *merchant.Secret) { s.MerchantPrivateKey += "\n" + pkcs1 }, "merchant_private_key"},
		{"private key then a certificate", func(s *merchant.Secret) {
			s.MerchantPrivateKey += "\n" + s.PlatformCertificates[0]
		}, "merchant_private_key"},
		{"public key then a private key", func(s *merchant.Secret) {
			s.WechatPayPublicKey += "\n" + s.MerchantPrivateKey
		}, "wechatpay_public_key"},
		{"text after the private key", func(s *merchant.Secret) { s.MerchantPrivateKey += "\nkept by mistake" }, "merchant_private_key"},
		{"text before the certificate", func(s *merchant.Secret) {
			s.PlatformCertificates = []string{"subject=CN=WeChat Pay\n" + s.PlatformCertificates[0]}
		}, "wechatpay_platform_certificates[0]"},
		{"certificate block with the wrong type", func(s *merchant.Secret) {
			s.PlatformCertificates = []string{strings.ReplaceAll(s.PlatformCertificates[0], "CERTIFICATE", "X509 CRL CERTIFICATE")}
		}, "wechatpay_platform_certificates[0]"},
		{"encrypted private key", func(s *merchant.Secret) {
			s.MerchantPrivateKey = strings.Replace(pkcs1, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n", 1)
		}, "merchant_private_key"},
		{"APIv3 key", func(s *merchant.Secret) { s.APIv3Key = strings.Repeat("k", 32) }, ""},
		{"APIv3 key too short", func(s *merchant.Secret) { s.APIv3Key = strings.Repeat("k", 31) }, "apiv3_key"},
		{"APIv3 key too long", func(s *merchant.Secret) { s.APIv3Key = strings.Repeat("k", 33) }, "apiv3_key"},
		{"nothing to verify with", func(s *merchant.Secret) {
			s.WechatPayPublicKey, s.WechatPayPublicKeyID, s.PlatformCertificates = "", "", nil
		}, "wechatpay_public_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			s.PlatformCertificates = append([]string(nil), good.PlatformCertificates...)
			tt.edit(&s)
			raw, _ := json.Marshal(s)
			k, err := merchant.Parse(raw)
			if tt.wantField == "" {
				if err != nil || k.PrivateKey == nil || k.MchID != "1900000100" {
					t.Fatalf("Parse = %+v, %v", k, err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse accepted a malformed secret")
			}
			if fault.KindOf(err) != fault.Configuration || !strings.Contains(err.Error(), "field "+tt.wantField+" ") {
				t.Errorf("error %q does not name field %s as a configuration error", err, tt.wantField)
			}
			assertNoKeyMaterial(t, err.Error(), s)
		})
	}
}

func TestParseRejectsNonObjects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{"mchid":`, `{"mchid":1900000100}`, `{"wechatpay_platform_certificates":"x"}`} {
		_, err := merchant.Parse([]byte(in))
		if fault.KindOf(err) != fault.Configuration {
			t.Errorf("Parse(%q) = %v, want a configuration error", in, err)
		}
	}
	_, err := merchant.Parse([]byte(`{"mchid":1900000100}`))
	if err == nil || !strings.Contains(err.Error(), "mchid") || strings.Contains(err.Error(), "1900000100") {
		t.Errorf("wrong-type error %v should name mchid and not echo it", err)
	}
}

func assertNoKeyMaterial(t *testing.T, msg string, s merchant.Secret) {
	t.Helper()
	if s.APIv3Key != "" && strings.Contains(msg, s.APIv3Key[:16]) {
		t.Fatalf("error text carries the APIv3 key: %q", msg)
	}
	values := append([]string{s.MerchantPrivateKey, s.WechatPayPublicKey}, s.PlatformCertificates...)
	for _, v := range values {
		for _, line := range strings.Split(v, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
				t.Fatalf("error text carries key material: %q", msg)
			}
		}
	}
	if strings.Contains(msg, "BEGIN") {
		t.Fatalf("error text carries a PEM header: %q", msg)
	}
}

func TestParseKeepsTheAPIv3Key(t *testing.T) {
	s := simulator.SharedKeys().Secret(false)
	s.APIv3Key = "0123456789abcdefghijklmnopqrstuv"
	raw, _ := json.Marshal(s)
	k, err := merchant.Parse(raw)
	if err != nil || string(k.APIv3Key) != s.APIv3Key {
		t.Fatalf("Parse = %v, APIv3Key %q; want the key kept", err, k.APIv3Key)
	}
	s.APIv3Key = ""
	raw, _ = json.Marshal(s)
	if k, err = merchant.Parse(raw); err != nil || k.APIv3Key != nil {
		t.Fatalf("a secret without apiv3_key: %v, %q; the close function must not need it", err, k.APIv3Key)
	}
}
