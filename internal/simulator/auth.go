package simulator

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the only Authorization scheme WeChat Pay APIv3 accepts from RSA merchants.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// MaxClockSkew is how far a request's timestamp may be from WeChat Pay's clock.
const MaxClockSkew = 5 * time.Minute

// Authorization is a parsed Authorization header.
type Authorization struct {
	MchID, Nonce, SerialNo, Signature string
	Timestamp                         int64
}

// ParseAuthorization reads `WECHATPAY2-SHA256-RSA2048 k="v",…` with the
// parameters in any order, as both wechatpay-go and the Node SDK send them.
func ParseAuthorization(header string) (*Authorization, error) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || scheme != AuthScheme {
		return nil, errors.New("Authorization scheme must be " + AuthScheme)
	}
	var a Authorization
	seen := map[string]bool{}
	for part := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil, errors.New("Authorization parameters must be key=\"value\" pairs")
		}
		if seen[k] {
			return nil, fmt.Errorf("Authorization parameter %s is repeated", k)
		}
		seen[k] = true
		v = v[1 : len(v)-1]
		switch k {
		case "mchid":
			a.MchID = v
		case "nonce_str":
			a.Nonce = v
		case "serial_no":
			a.SerialNo = v
		case "signature":
			a.Signature = v
		case "timestamp":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, errors.New("Authorization timestamp is not a Unix time in seconds")
			}
			a.Timestamp = ts
		}
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if !seen[k] {
			return nil, fmt.Errorf("Authorization parameter %s is missing", k)
		}
	}
	return &a, nil
}

// RequestMessage is what a merchant signs: METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n.
func RequestMessage(method, uri string, timestamp int64, nonce string, body []byte) []byte {
	return fmt.Appendf(nil, "%s\n%s\n%d\n%s\n%s\n", method, uri, timestamp, nonce, body)
}

// ResponseMessage is what WeChat Pay signs: TIMESTAMP\nNONCE\nBODY\n.
func ResponseMessage(timestamp int64, nonce string, body []byte) []byte {
	return fmt.Appendf(nil, "%d\n%s\n%s\n", timestamp, nonce, body)
}

// VerifySignature checks a base64 SHA256withRSA (PKCS#1 v1.5) signature.
func VerifySignature(pub *rsa.PublicKey, message []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return errors.New("signature is not base64")
	}
	sum := sha256.Sum256(message)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// Sign makes a base64 SHA256withRSA (PKCS#1 v1.5) signature.
func Sign(key *rsa.PrivateKey, message []byte) string {
	sum := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err) // only for a malformed key, which GenerateKeys never makes
	}
	return base64.StdEncoding.EncodeToString(sig)
}
