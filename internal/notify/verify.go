package notify

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"close-recharge/internal/merchant"
)

// MaxSkew is how far Wechatpay-Timestamp may be from the function's clock,
// either way: outside it a captured notification cannot be replayed.
const MaxSkew = 300 * time.Second

const (
	signatureType = "WECHATPAY2-SHA256-RSA2048"
	gcmNonceSize  = 12
)

// verify checks that WeChat Pay signed the request just now, with a key the
// secret holds. It reads no part of the body but its bytes.
func verify(ctx context.Context, keys *merchant.Keys, req Request, now time.Time) error {
	h := req.Header
	timestamp, nonce := h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce")
	signature, serial := h.Get("Wechatpay-Signature"), h.Get("Wechatpay-Serial")
	if t := h.Get("Wechatpay-Signature-Type"); t != "" && t != signatureType {
		return fmt.Errorf("unsupported Wechatpay-Signature-Type %q", t)
	}
	if timestamp == "" || nonce == "" || signature == "" || serial == "" {
		return errors.New("a Wechatpay-Timestamp, -Nonce, -Signature or -Serial header is missing")
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("Wechatpay-Timestamp is not a number of seconds")
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > MaxSkew || skew < -MaxSkew {
		return fmt.Errorf("Wechatpay-Timestamp is %s from now, beyond %s", skew.Round(time.Second), MaxSkew)
	}
	key, ok := keyFor(keys, serial)
	if !ok {
		return fmt.Errorf("Wechatpay-Serial %q names no key in the merchant secret", serial)
	}
	message := timestamp + "\n" + nonce + "\n" + string(req.Body) + "\n"
	return verifiers.NewSHA256WithRSAPubkeyVerifier(serial, *key).Verify(ctx, serial, message, signature)
}

// keyFor is the key Wechatpay-Serial names: the WeChat Pay public key by its
// id, or a platform certificate's key by the certificate's serial.
func keyFor(keys *merchant.Keys, serial string) (*rsa.PublicKey, bool) {
	if keys.PublicKey != nil && serial == keys.PublicKeyID {
		return keys.PublicKey, true
	}
	for _, c := range keys.Certificates {
		if strings.EqualFold(serial, utils.GetCertificateSerialNumber(*c)) {
			return c.PublicKey.(*rsa.PublicKey), true
		}
	}
	return nil, false
}

// decrypt opens the resource (AEAD_AES_256_GCM: base64 ciphertext whose last
// 16 bytes are the tag, the nonce and associated data as sent).
func decrypt(apiv3Key []byte, env envelope) ([]byte, error) {
	r := env.Resource
	if r.Algorithm != "AEAD_AES_256_GCM" {
		return nil, fmt.Errorf("resource algorithm %q is not AEAD_AES_256_GCM", r.Algorithm)
	}
	// GCM panics on a nonce of another length rather than failing.
	if len(r.Nonce) != gcmNonceSize {
		return nil, fmt.Errorf("resource nonce is %d bytes, not %d", len(r.Nonce), gcmNonceSize)
	}
	plaintext, err := utils.DecryptAES256GCM(string(apiv3Key), r.AssociatedData, r.Nonce, r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return []byte(plaintext), nil
}
