package wechatpay_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
)

func pkcs1PEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}
