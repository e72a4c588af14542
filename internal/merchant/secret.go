// Package merchant turns the platform merchant's secret (one JSON object) into
// parsed keys: what signs requests to WeChat Pay and what verifies its answers.
// Where the secret is kept is the secretstore package's concern; this one
// links no AWS SDK, so the WeChat Pay client built on it links none either.
package merchant

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"close-recharge/internal/fault"
)

// Secret is the stored form of the merchant's credentials (docs/configuration.md, "The merchant secret").
type Secret struct {
	MchID                string   `json:"mchid"`
	MerchantSerialNo     string   `json:"merchant_serial_no"`
	MerchantPrivateKey   string   `json:"merchant_private_key"`
	WechatPayPublicKeyID string   `json:"wechatpay_public_key_id,omitempty"`
	WechatPayPublicKey   string   `json:"wechatpay_public_key,omitempty"`
	PlatformCertificates []string `json:"wechatpay_platform_certificates,omitempty"`
	// APIv3Key decrypts WeChat Pay's notifications; only the notification
	// function needs it, so it is optional here and required there.
	APIv3Key string `json:"apiv3_key,omitempty"`
}

// Keys are the parsed credentials: what signs requests and what verifies answers.
// Either PublicKey (with PublicKeyID) or Certificates is set, or both.
type Keys struct {
	MchID        string
	SerialNo     string
	PrivateKey   *rsa.PrivateKey
	PublicKeyID  string
	PublicKey    *rsa.PublicKey
	Certificates []*x509.Certificate
	APIv3Key     []byte // nil when the secret has none
}

// APIv3KeySize is the APIv3 key's length: an AES-256 key, set by the merchant
// as 32 characters in WeChat Pay's merchant platform.
const APIv3KeySize = 32

func isMchID(s string) bool {
	return len(s) >= 1 && len(s) <= 32 && strings.Trim(s, "0123456789") == ""
}

func isSerialNo(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && strings.Trim(s, "0123456789ABCDEFabcdef") == ""
}

func isPublicKeyID(s string) bool {
	id, ok := strings.CutPrefix(s, "PUB_KEY_ID_")
	return ok && len(id) >= 1 && len(id) <= 64 &&
		strings.Trim(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") == ""
}

// Parse reads the secret JSON. Errors name the field at fault and never carry
// any part of its value: the text of key-parsing errors is dropped on purpose.
func Parse(data []byte) (*Keys, error) {
	var s Secret
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, fieldError(typeErr.Field, "has the wrong JSON type")
		}
		return nil, fault.New(fault.Configuration, "secret is not a JSON object of the documented schema")
	}
	return s.Keys()
}

// Keys validates and parses a Secret.
func (s *Secret) Keys() (*Keys, error) {
	k := &Keys{
		MchID:       strings.TrimSpace(s.MchID),
		SerialNo:    strings.TrimSpace(s.MerchantSerialNo),
		PublicKeyID: strings.TrimSpace(s.WechatPayPublicKeyID),
	}
	if !isMchID(k.MchID) {
		return nil, fieldError("mchid", "must be the platform merchant number (digits)")
	}
	if !isSerialNo(k.SerialNo) {
		return nil, fieldError("merchant_serial_no", "must be the merchant certificate serial number (hex)")
	}
	var err error
	if k.PrivateKey, err = parsePrivateKey(s.MerchantPrivateKey); err != nil {
		return nil, fieldError("merchant_private_key", err.Error())
	}

	hasKeyID, hasKey := k.PublicKeyID != "", strings.TrimSpace(s.WechatPayPublicKey) != ""
	switch {
	case hasKeyID != hasKey:
		if hasKey {
			return nil, fieldError("wechatpay_public_key_id", "is required with wechatpay_public_key")
		}
		return nil, fieldError("wechatpay_public_key", "is required with wechatpay_public_key_id")
	case hasKey:
		if !isPublicKeyID(k.PublicKeyID) {
			return nil, fieldError("wechatpay_public_key_id", "must look like PUB_KEY_ID_…")
		}
		if k.PublicKey, err = parsePublicKey(s.WechatPayPublicKey); err != nil {
			return nil, fieldError("wechatpay_public_key", err.Error())
		}
	}
	for i, c := range s.PlatformCertificates {
		cert, err := parseCertificate(c)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("wechatpay_platform_certificates[%d]", i), err.Error())
		}
		k.Certificates = append(k.Certificates, cert)
	}
	if s.APIv3Key != "" {
		// Not trimmed: the key is used byte for byte, and a space is a valid byte of it.
		if len(s.APIv3Key) != APIv3KeySize {
			return nil, fieldError("apiv3_key", fmt.Sprintf("must be exactly %d bytes (the APIv3 key set in WeChat Pay's merchant platform)", APIv3KeySize))
		}
		k.APIv3Key = []byte(s.APIv3Key)
	}
	if k.PublicKey == nil && len(k.Certificates) == 0 {
		return nil, fieldError("wechatpay_public_key", "or wechatpay_platform_certificates is required to verify WeChat Pay's answers")
	}
	return k, nil
}

func fieldError(field, problem string) error {
	return fault.New(fault.Configuration, "secret field %s %s", field, problem)
}

// The messages below are ours: the underlying parse errors may quote the input.

// pemBlock reads a field that must hold exactly one PEM block of one of the
// given types: text around it, a second block, a block of another type or an
// encrypted one make the field malformed rather than being skipped.
func pemBlock(s string, types ...string) (*pem.Block, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "-----BEGIN ") {
		return nil, errors.New("is not PEM-encoded (or has text before its PEM block)")
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("is not PEM-encoded")
	}
	if rest = bytes.TrimSpace(rest); len(rest) > 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, errors.New("holds more than one PEM block; give exactly one")
		}
		return nil, errors.New("has text after its PEM block")
	}
	if !slices.Contains(types, block.Type) {
		return nil, fmt.Errorf("is a PEM %q block, want %s", block.Type, strings.Join(types, " or "))
	}
	if len(block.Headers) > 0 {
		return nil, errors.New("is an encrypted PEM block; store the key unencrypted in the secret")
	}
	return block, nil
}

func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("is required")
	}
	block, err := pemBlock(s, "PRIVATE KEY", "RSA PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("is not an RSA key")
		}
		return rsaKey, nil
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	return nil, errors.New("is neither a PKCS#8 nor a PKCS#1 RSA private key")
}

func parsePublicKey(s string) (*rsa.PublicKey, error) {
	block, err := pemBlock(s, "PUBLIC KEY", "RSA PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	if key, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		rsaKey, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("is not an RSA key")
		}
		return rsaKey, nil
	}
	if key, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return key, nil
	}
	return nil, errors.New("is not an RSA public key")
}

func parseCertificate(s string) (*x509.Certificate, error) {
	block, err := pemBlock(s, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, errors.New("is not an X.509 certificate")
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("does not hold an RSA key")
	}
	return cert, nil
}
