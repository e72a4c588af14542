package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"close-recharge/internal/awstest"
	"close-recharge/internal/merchant"
	"close-recharge/internal/simulator"
	"close-recharge/internal/wechatpay"
)

// files are what WeChat Pay hands a merchant, written to a directory.
type files struct {
	dir, key, cert, otherCert, pub, serial, pubID string
	keys                                          *simulator.Keys
}

func merchantCert(t *testing.T, key *rsa.PrivateKey, serial *big.Int) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "1900000100"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newFiles(t *testing.T) files {
	t.Helper()
	keys, err := simulator.GenerateKeys("1900000100")
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := new(big.Int).SetString("5157F09EFDC096DE15EBE81A47057A7212345678", 16)
	dir := t.TempDir()
	f := files{dir: dir, keys: keys, serial: "5157F09EFDC096DE15EBE81A47057A7212345678", pubID: keys.PublicKeyID,
		key: filepath.Join(dir, "apiclient_key.pem"), cert: filepath.Join(dir, "apiclient_cert.pem"),
		otherCert: filepath.Join(dir, "other_cert.pem"), pub: filepath.Join(dir, "pub_key.pem")}
	for path, content := range map[string][]byte{
		f.key:       []byte(simulator.PrivateKeyPEM(keys.MerchantKey)),
		f.cert:      merchantCert(t, keys.MerchantKey, serial),
		f.otherCert: merchantCert(t, other, serial),
		f.pub:       []byte(simulator.PublicKeyPEM(&keys.PlatformKey.PublicKey)),
	} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f files) args(extra ...string) []string {
	return append([]string{"-mchid", "1900000100", "-serial", f.serial, "-key", f.key, "-cert", f.cert,
		"-pub-key-id", f.pubID, "-pub-key", f.pub}, extra...)
}

func TestComposesAValidSecret(t *testing.T) {
	f := newFiles(t)
	out := filepath.Join(f.dir, "build", "secret.json")
	var stdout bytes.Buffer
	if err := run(context.Background(), f.args("-out", out), &stdout, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(out); info.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v", info.Mode().Perm())
	}
	k, err := merchant.Parse(b)
	if err != nil || k.SerialNo != f.serial || k.PublicKeyID != f.pubID {
		t.Fatalf("written secret: %+v, %v", k, err)
	}
	// The composed secret builds a WeChat Pay client.
	if _, err := wechatpay.New(k); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok  key pair", "create-secret --name wechatpay/merchant --secret-string file://" + out, "put-secret-value"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "PRIVATE KEY") {
		t.Error("the private key was printed")
	}
}

func TestCatchesMixUps(t *testing.T) {
	f := newFiles(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"certificate of another key", replace(f.args(), f.cert, f.otherCert), "does not belong to"},
		{"serial of another certificate", replace(f.args(), f.serial, "0123456789ABCDEF"), "is not the serial of"},
		{"own public key as WeChat Pay's", replace(f.args(), f.pub, f.otherCert+".pub"), "merchant's own public key"},
		{"WeChat Pay key without its id", replace(f.args(), f.pubID, ""), "wechatpay_public_key_id"},
		{"key file missing", replace(f.args(), f.key, filepath.Join(f.dir, "nope.pem")), "-key"},
		{"no mchid", replace(f.args(), "1900000100", ""), "-mchid is required"},
		{"nothing to verify with", []string{"-mchid", "1900000100", "-serial", f.serial, "-key", f.key}, "wechatpay_public_key"},
	}
	ownPub := f.otherCert + ".pub"
	if err := os.WriteFile(ownPub, []byte(simulator.PublicKeyPEM(&f.keys.MerchantKey.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), append(tt.args, "-out", filepath.Join(f.dir, "x.json")), &stdout, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(stdout.String(), "BEGIN") {
				t.Error("key material in the output")
			}
			if _, statErr := os.Stat(filepath.Join(f.dir, "x.json")); !errors.Is(statErr, os.ErrNotExist) {
				t.Error("a secret was written despite the error")
			}
		})
	}
}

func replace(args []string, old, new string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == old {
			out[i] = new
		}
	}
	return out
}

func TestApplyStoresAndRotatesInSecretsManager(t *testing.T) {
	api := secretsmanager.NewFromConfig(awstest.Config(awstest.MotoForTest(t)))
	f := newFiles(t)
	name := awstest.UniqueName("wechatpay/merchant")
	var stdout bytes.Buffer
	if err := run(context.Background(), f.args("-apply", "-name", name), &stdout, api); err != nil {
		t.Fatal(err)
	}
	// The rotation: a new merchant key pair and a new WeChat Pay key.
	next := newFiles(t)
	if err := run(context.Background(), next.args("-apply", "-name", name), &stdout, api); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "created secret "+name) || !strings.Contains(stdout.String(), "stored a new value of secret "+name) {
		t.Errorf("output:\n%s", stdout.String())
	}
	got, err := api.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := merchant.Parse([]byte(aws.ToString(got.SecretString)))
	if err != nil || k.MchID != "1900000100" {
		t.Fatalf("stored secret: %v", err)
	}
	if !k.PrivateKey.Equal(next.keys.MerchantKey) || k.PublicKeyID != next.pubID {
		t.Error("the stored secret is not the rotated one")
	}
	if _, err := os.Stat("build/secret.json"); !errors.Is(err, os.ErrNotExist) {
		t.Error("-apply wrote a file")
	}
}

// An existing file of any mode ends up 0600 with the new secret in it.
func TestSecretFileIsPrivateEvenWhenItExists(t *testing.T) {
	f := newFiles(t)
	out := filepath.Join(f.dir, "secret.json")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), f.args("-out", out), &bytes.Buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if info.Mode().Perm() != 0o600 || bytes.Equal(b, []byte("old")) {
		t.Errorf("mode %v, content replaced %v", info.Mode().Perm(), !bytes.Equal(b, []byte("old")))
	}
	if leftovers, _ := filepath.Glob(filepath.Join(f.dir, ".secret-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestApplyUnderACustomerManagedKey(t *testing.T) {
	cfg := awstest.Config(awstest.MotoForTest(t))
	api := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	key, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("close-recharge test")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	name := awstest.UniqueName("wechatpay/merchant")
	f := newFiles(t)
	var stdout bytes.Buffer
	// Created under the key, then rotated: both keep it.
	for range 2 {
		if err := run(ctx, f.args("-apply", "-name", name, "-kms-key-id", keyARN), &stdout, api); err != nil {
			t.Fatal(err)
		}
		d, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(d.KmsKeyId) != keyARN {
			t.Fatalf("secret encrypted under %q, want %q", aws.ToString(d.KmsKeyId), keyARN)
		}
	}
	if !strings.Contains(stdout.String(), "under KMS key "+keyARN) {
		t.Errorf("output:\n%s", stdout.String())
	}
	// Without -apply, the printed commands carry the key.
	stdout.Reset()
	if err := run(ctx, f.args("-out", filepath.Join(f.dir, "s.json"), "-kms-key-id", keyARN), &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "create-secret --name wechatpay/merchant --kms-key-id "+keyARN) ||
		!strings.Contains(stdout.String(), "update-secret --secret-id wechatpay/merchant --kms-key-id "+keyARN) {
		t.Errorf("output:\n%s", stdout.String())
	}
}
