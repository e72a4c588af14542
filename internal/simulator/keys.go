package simulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"close-recharge/internal/merchant"
)

// Keys is everything on both sides of one platform merchant's WeChat Pay
// integration: the merchant's key pair, WeChat Pay's public-key-mode key
// pair and platform certificate, and the APIv3 key they share.
type Keys struct {
	MchID            string
	MerchantSerialNo string
	MerchantKey      *rsa.PrivateKey
	PublicKeyID      string
	PlatformKey      *rsa.PrivateKey // signs answers in public-key mode
	CertificateKey   *rsa.PrivateKey // signs answers in platform-certificate mode
	Certificate      *x509.Certificate
	APIv3Key         string // 32 bytes, set by the merchant at WeChat Pay: the AES-256-GCM key of notifications
}

// CertificateSerial is the serial WeChat Pay sends in Wechatpay-Serial in
// platform-certificate mode, spelled as wechatpay-go spells it.
func (k *Keys) CertificateSerial() string {
	return utils.GetCertificateSerialNumber(*k.Certificate)
}

var shared struct {
	once sync.Once
	keys *Keys
}

// SharedKeys returns one set of keys for merchant 1900000100 per process, for
// tests and benchmarks that need a merchant but not a fresh one each time.
func SharedKeys() *Keys {
	shared.once.Do(func() {
		k, err := GenerateKeys("1900000100")
		if err != nil {
			panic(err)
		}
		shared.keys = k
	})
	return shared.keys
}

// GenerateKeys makes fresh RSA-2048 keys for merchant mchid.
func GenerateKeys(mchid string) (*Keys, error) {
	k := &Keys{MchID: mchid, MerchantSerialNo: randomHex(20), PublicKeyID: "PUB_KEY_ID_01" + randomDigits(32),
		APIv3Key: randomAlnum(apiV3KeySize)}
	var err error
	for _, p := range []**rsa.PrivateKey{&k.MerchantKey, &k.PlatformKey, &k.CertificateKey} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, new(big.Int).Lsh(big.NewInt(1), 152)),
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA (simulator)", Organization: []string{"WeChat Pay simulator"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.CertificateKey.PublicKey, k.CertificateKey)
	if err != nil {
		return nil, err
	}
	if k.Certificate, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return k, nil
}

// Secret is the merchant-side secret (docs/configuration.md, "The merchant secret") for these keys: the public key
// pair, and the platform certificate when withCertificate is set.
func (k *Keys) Secret(withCertificate bool) merchant.Secret {
	s := merchant.Secret{
		MchID:                k.MchID,
		MerchantSerialNo:     k.MerchantSerialNo,
		MerchantPrivateKey:   PrivateKeyPEM(k.MerchantKey),
		WechatPayPublicKeyID: k.PublicKeyID,
		WechatPayPublicKey:   PublicKeyPEM(&k.PlatformKey.PublicKey),
	}
	if withCertificate {
		s.PlatformCertificates = []string{CertificatePEM(k.Certificate)}
	}
	return s
}

// PrivateKeyPEM encodes a key as PKCS#8, the form WeChat Pay hands merchants.
func PrivateKeyPEM(key *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// PublicKeyPEM encodes a public key as PKIX, the form of WeChat Pay's pub_key.pem.
func PublicKeyPEM(key *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// CertificatePEM encodes a certificate.
func CertificatePEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// apiV3KeySize is the length of an APIv3 key: 32 characters, used as the bytes
// of an AES-256 key.
const apiV3KeySize = 32

// secretFile is secret.json: the merchant secret with the APIv3 key, which
// only the notification receiver needs.
type secretFile struct {
	merchant.Secret
	APIv3Key string `json:"apiv3_key"`
}

// stateFile is what a state directory keeps of WeChat Pay's side; the
// merchant's side is secret.json beside it.
type stateFile struct {
	PlatformKey    string `json:"wechatpay_private_key"`
	CertificateKey string `json:"wechatpay_certificate_private_key"`
}

// LoadOrCreateKeys reuses the keys kept in dir, or generates and keeps new ones:
// dir/secret.json (the merchant secret in the README's schema, with the certificate and the APIv3 key too) and
// dir/wechatpay-side.json (the private keys that only WeChat Pay holds).
func LoadOrCreateKeys(dir, mchid string) (*Keys, error) {
	secretPath, sidePath := filepath.Join(dir, "secret.json"), filepath.Join(dir, "wechatpay-side.json")
	if k, err := loadKeys(secretPath, sidePath); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := GenerateKeys(mchid)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	side := stateFile{PlatformKey: PrivateKeyPEM(k.PlatformKey), CertificateKey: PrivateKeyPEM(k.CertificateKey)}
	for path, v := range map[string]any{secretPath: secretFile{k.Secret(true), k.APIv3Key}, sidePath: side} {
		if err := writeJSON(path, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func writeJSON(path string, v any) error {
	b, _ := json.MarshalIndent(v, "", "  ")
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func loadKeys(secretPath, sidePath string) (*Keys, error) {
	secretJSON, err := os.ReadFile(secretPath)
	if err != nil {
		return nil, err
	}
	sideJSON, err := os.ReadFile(sidePath)
	if err != nil {
		return nil, err
	}
	mk, err := merchant.Parse(secretJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", secretPath, err)
	}
	var side stateFile
	if err := json.Unmarshal(sideJSON, &side); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON", sidePath)
	}
	if len(mk.Certificates) == 0 {
		return nil, fmt.Errorf("%s: no platform certificate", secretPath)
	}
	k := &Keys{MchID: mk.MchID, MerchantSerialNo: mk.SerialNo, MerchantKey: mk.PrivateKey,
		PublicKeyID: mk.PublicKeyID, Certificate: mk.Certificates[0]}
	if k.PlatformKey, err = utils.LoadPrivateKey(side.PlatformKey); err != nil {
		return nil, fmt.Errorf("%s: wechatpay_private_key is not a PKCS#8 key", sidePath)
	}
	if k.CertificateKey, err = utils.LoadPrivateKey(side.CertificateKey); err != nil {
		return nil, fmt.Errorf("%s: wechatpay_certificate_private_key is not a PKCS#8 key", sidePath)
	}
	var withKey secretFile
	if err := json.Unmarshal(secretJSON, &withKey); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON", secretPath)
	}
	switch len(withKey.APIv3Key) {
	case apiV3KeySize:
		k.APIv3Key = withKey.APIv3Key
	case 0:
		// A state directory from before notifications: give it a key, and
		// keep every other field the merchant was given as it was.
		k.APIv3Key = randomAlnum(apiV3KeySize)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(secretJSON, &fields); err != nil {
			return nil, fmt.Errorf("%s: not valid JSON", secretPath)
		}
		fields["apiv3_key"], _ = json.Marshal(k.APIv3Key)
		if err := writeJSON(secretPath, fields); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: apiv3_key must be %d bytes", secretPath, apiV3KeySize)
	}
	return k, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func randomAlnum(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
