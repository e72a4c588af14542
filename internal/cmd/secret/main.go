// Command secret composes the merchant secret (docs/configuration.md, "The merchant secret")
// from the files WeChat Pay gives a merchant, checks it — the key pair signs
// and verifies, the serial is the certificate's, the WeChat Pay key is not the
// merchant's own — and writes it for `aws secretsmanager`, or stores it itself.
//
//	go run ./internal/cmd/secret -mchid 1900000100 -serial 5157F09E… -key apiclient_key.pem \
//	    -cert apiclient_cert.pem -pub-key-id PUB_KEY_ID_0119… -pub-key pub_key.pem [-apply -name wechatpay/merchant]
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"close-recharge/internal/merchant"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "secret:", err)
		os.Exit(1)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// run does the work; api, when nil, is a Secrets Manager client from the
// standard AWS configuration (only -apply needs one).
func run(ctx context.Context, args []string, out io.Writer, api secretsAPI) error {
	fs := flag.NewFlagSet("secret", flag.ContinueOnError)
	mchid := fs.String("mchid", "", "platform merchant number (required)")
	serial := fs.String("serial", "", "merchant API certificate serial number (required)")
	keyPath := fs.String("key", "", "apiclient_key.pem (required)")
	certPath := fs.String("cert", "", "apiclient_cert.pem: checks that key and serial belong together")
	pubKeyID := fs.String("pub-key-id", "", "WeChat Pay public key id, PUB_KEY_ID_…")
	pubKeyPath := fs.String("pub-key", "", "WeChat Pay public key, pub_key.pem")
	var platformCerts multiFlag
	fs.Var(&platformCerts, "platform-cert", "a WeChat Pay platform certificate (legacy mode; repeatable)")
	outPath := fs.String("out", "build/secret.json", "where to write the secret (mode 0600), without -apply")
	name := fs.String("name", "wechatpay/merchant", "Secrets Manager secret name, for the printed commands and -apply")
	apply := fs.Bool("apply", false, "store the secret in Secrets Manager (create, or put a new value) instead of writing a file")
	kmsKeyID := fs.String("kms-key-id", "", "customer managed KMS key (ARN or id) to encrypt the secret with, instead of the AWS managed key (recommended)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for flagName, v := range map[string]string{"-mchid": *mchid, "-serial": *serial, "-key": *keyPath} {
		if v == "" {
			return fmt.Errorf("%s is required", flagName)
		}
	}

	s := merchant.Secret{MchID: *mchid, MerchantSerialNo: strings.ToUpper(strings.TrimSpace(*serial)), WechatPayPublicKeyID: *pubKeyID}
	var err error
	if s.MerchantPrivateKey, err = readPEM(*keyPath, "-key"); err != nil {
		return err
	}
	if *pubKeyPath != "" {
		if s.WechatPayPublicKey, err = readPEM(*pubKeyPath, "-pub-key"); err != nil {
			return err
		}
	}
	for _, p := range platformCerts {
		c, err := readPEM(p, "-platform-cert")
		if err != nil {
			return err
		}
		s.PlatformCertificates = append(s.PlatformCertificates, c)
	}
	keys, err := s.Keys()
	if err != nil {
		return err
	}
	if err := check(keys, *keyPath, *certPath, out); err != nil {
		return err
	}
	secretJSON, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}

	if *apply {
		if api == nil {
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("AWS configuration: %w", err)
			}
			api = secretsmanager.NewFromConfig(cfg)
		}
		return store(ctx, api, *name, *kmsKeyID, string(secretJSON), out)
	}
	if err := writePrivate(*outPath, append(secretJSON, '\n')); err != nil {
		return err
	}
	kms := ""
	if *kmsKeyID != "" {
		kms = " --kms-key-id " + *kmsKeyID
	}
	fmt.Fprintf(out, "wrote %s (mode 0600). Store it, then delete the file:\n", *outPath)
	fmt.Fprintf(out, "  aws secretsmanager create-secret --name %s%s --secret-string file://%s\n", *name, kms, *outPath)
	fmt.Fprintf(out, "  # or, for a secret that exists (a rotation):\n")
	if kms != "" {
		fmt.Fprintf(out, "  aws secretsmanager update-secret --secret-id %s%s --secret-string file://%s\n", *name, kms, *outPath)
	} else {
		fmt.Fprintf(out, "  aws secretsmanager put-secret-value --secret-id %s --secret-string file://%s\n", *name, *outPath)
	}
	return nil
}

// writePrivate writes data to path readable by its owner alone, whatever mode
// a file already there had: the new file is made 0600 beside it and renamed
// over it.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".secret-*.json") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// readPEM reads a key or certificate file. Its errors name the flag and the
// path, never the content.
func readPEM(path, flagName string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flagName, path, errors.Unwrap(err))
	}
	return string(b), nil
}

// check catches the mix-ups that otherwise surface as SIGN_ERROR or failed
// verifications after deployment.
func check(k *merchant.Keys, keyPath, certPath string, out io.Writer) error {
	msg := sha256.Sum256([]byte("close-recharge key check " + time.Now().Format(time.RFC3339Nano)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.PrivateKey, crypto.SHA256, msg[:])
	if err != nil {
		return fmt.Errorf("%s cannot sign: %w", keyPath, err)
	}
	if certPath != "" {
		pemText, err := readPEM(certPath, "-cert")
		if err != nil {
			return err
		}
		cert, err := utils.LoadCertificate(pemText)
		if err != nil {
			return fmt.Errorf("-cert %s is not a PEM certificate", certPath)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || rsa.VerifyPKCS1v15(pub, crypto.SHA256, msg[:], sig) != nil {
			return fmt.Errorf("%s does not belong to %s: a signature made with the key does not verify with the certificate", keyPath, certPath)
		}
		if got := utils.GetCertificateSerialNumber(*cert); !strings.EqualFold(got, k.SerialNo) {
			return fmt.Errorf("-serial %s is not the serial of %s (%s)", k.SerialNo, certPath, got)
		}
		if time.Now().After(cert.NotAfter) {
			return fmt.Errorf("%s expired on %s", certPath, cert.NotAfter.Format(time.DateOnly))
		}
		fmt.Fprintf(out, "ok  key pair: %s signs, %s verifies; serial %s matches\n", keyPath, certPath, k.SerialNo)
	} else if rsa.VerifyPKCS1v15(&k.PrivateKey.PublicKey, crypto.SHA256, msg[:], sig) != nil {
		return fmt.Errorf("%s does not verify its own signature", keyPath)
	} else {
		fmt.Fprintf(out, "ok  %s signs (give -cert apiclient_cert.pem to check it against the certificate and serial)\n", keyPath)
	}
	if k.PublicKey != nil {
		if k.PublicKey.Equal(&k.PrivateKey.PublicKey) {
			return errors.New("-pub-key is the merchant's own public key; it must be WeChat Pay's pub_key.pem")
		}
		fmt.Fprintf(out, "ok  WeChat Pay public key %s\n", k.PublicKeyID)
	}
	for _, c := range k.Certificates {
		if c.PublicKey.(*rsa.PublicKey).Equal(&k.PrivateKey.PublicKey) {
			return errors.New("-platform-cert holds the merchant's own key; it must be a WeChat Pay platform certificate")
		}
		fmt.Fprintf(out, "ok  WeChat Pay platform certificate %s, valid until %s\n", utils.GetCertificateSerialNumber(*c), c.NotAfter.Format(time.DateOnly))
	}
	return nil
}

type secretsAPI interface {
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecret(context.Context, *secretsmanager.UpdateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretOutput, error)
}

// store creates the secret, or puts a new value when it exists already. With
// kmsKeyID, the secret is (re-)encrypted under that key.
func store(ctx context.Context, api secretsAPI, name, kmsKeyID, value string, out io.Writer) error {
	in := &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
		Description: aws.String("WeChat Pay platform merchant keys for close-recharge"),
	}
	if kmsKeyID != "" {
		in.KmsKeyId = aws.String(kmsKeyID)
	}
	created, err := api.CreateSecret(ctx, in)
	if err == nil {
		fmt.Fprintf(out, "created secret %s (%s)\n", name, aws.ToString(created.ARN))
		return nil
	}
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		return fmt.Errorf("create secret %s: %w", name, err)
	}
	if kmsKeyID != "" {
		upd, err := api.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String(name), KmsKeyId: aws.String(kmsKeyID), SecretString: aws.String(value)})
		if err != nil {
			return fmt.Errorf("update secret %s: %w", name, err)
		}
		fmt.Fprintf(out, "stored a new value of secret %s (%s, version %s) under KMS key %s\n", name, aws.ToString(upd.ARN), aws.ToString(upd.VersionId), kmsKeyID)
		return nil
	}
	put, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		return fmt.Errorf("put secret value %s: %w", name, err)
	}
	fmt.Fprintf(out, "stored a new value of secret %s (%s, version %s); warm functions pick it up within WECHATPAY_SECRET_TTL, or at once on SIGN_ERROR\n",
		name, aws.ToString(put.ARN), aws.ToString(put.VersionId))
	return nil
}
