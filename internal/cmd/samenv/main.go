// Command samenv prepares `sam local invoke` against the WeChat Pay simulator
// and moto running on the developer's machine: it applies, at the simulator, a
// recharge for every fixture in events/; stores the simulator's merchant secret
// in moto's Secrets Manager; creates a bus for the outcomes; and writes an
// env.json that points the function, inside SAM's container, at all three
// through host.docker.internal.
//
//	make sim SIM_LISTEN=0.0.0.0:18080 &            # the simulator, reachable from containers
//	moto_server -H 0.0.0.0 -p 5000 &                # Secrets Manager and EventBridge
//	make sam-env                                    # this command
//	sam build && sam local invoke CloseRechargeFunction -e events/direct.json --env-vars env.json --region us-east-1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"close-recharge/internal/merchant"
	"close-recharge/internal/recharge"
	"close-recharge/internal/trigger"
	"close-recharge/internal/wechatpay"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sam-env:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sam-env", flag.ContinueOnError)
	sim := fs.String("sim", "http://127.0.0.1:18080", "the simulator, as this machine reaches it")
	stateDir := fs.String("state-dir", "/tmp/wechatpay-sim", "the simulator's -state-dir, holding secret.json")
	moto := fs.String("moto", "http://127.0.0.1:5000", "moto_server, as this machine reaches it")
	host := fs.String("docker-host", wechatpay.DockerHost, "this machine as SAM's container reaches it")
	region := fs.String("region", "us-east-1", "the region to give sam local invoke (--region): moto keeps resources per region")
	eventsDir := fs.String("events", "events", "the fixtures to seed recharges for")
	function := fs.String("function", "CloseRechargeFunction", "the function's logical id in template.yaml")
	outPath := fs.String("out", "env.json", "where to write the --env-vars file")
	name := fs.String("name", "close-recharge/local", "the secret's and the bus's name in moto")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(*stateDir, "secret.json"))
	if err != nil {
		return fmt.Errorf("the simulator's secret: %w (start it first: make sim SIM_LISTEN=0.0.0.0:18080)", err)
	}
	keys, err := merchant.Parse(raw)
	if err != nil {
		return err
	}
	seeded, err := seed(ctx, keys, *sim, *eventsDir)
	if err != nil {
		return err
	}
	cfg := aws.Config{Region: *region, BaseEndpoint: aws.String(*moto),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	secretARN, err := putSecret(ctx, secretsmanager.NewFromConfig(cfg), *name, string(raw))
	if err != nil {
		return err
	}
	bus := strings.ReplaceAll(*name, "/", "-")
	if _, err := eventbridge.NewFromConfig(cfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		var exists *ebtypes.ResourceAlreadyExistsException
		if !errors.As(err, &exists) {
			return fmt.Errorf("create bus %s in moto: %w", bus, err)
		}
	}
	env := map[string]map[string]string{*function: {
		"WECHATPAY_SECRET_ID":   secretARN,
		"WECHATPAY_SECRET_FILE": "",
		"WECHATPAY_BASE_URL":    inContainer(*sim, *host),
		"AWS_ENDPOINT_URL":      inContainer(*moto, *host),
		"RESULT_EVENT_BUS":      bus,
		"LOG_LEVEL":             "debug",
	}}
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*outPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d recharges at the simulator (%s); secret %s and bus %s in moto\n", len(seeded), strings.Join(seeded, ", "), secretARN, bus)
	fmt.Fprintf(out, "wrote %s; now:\n  sam build && sam local invoke %s -e events/direct.json --env-vars %s --region %s\n", *outPath, *function, *outPath, *region)
	return nil
}

// seed applies a recharge at the simulator for every fixture's identifiers,
// signed with the merchant's keys as a platform would, and returns them.
func seed(ctx context.Context, keys *merchant.Keys, sim, dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no fixtures in %s", dir)
	}
	client, err := wechatpay.New(keys, wechatpay.WithBaseURL(sim))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range paths {
		payload, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		req, err := trigger.Decode(payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, c := range req.Closes() {
			if _, err := client.Apply(ctx, wechatpay.ApplyRequest{SubMchid: c.SubMchid, OutRechargeNo: c.OutRechargeNo,
				RechargeScene: "ECOMMERCE_DEPOSIT", AccountType: "DEPOSIT", RechargeAmount: recharge.Amount{Amount: 10000, Currency: "CNY"}}); err != nil {
				return nil, fmt.Errorf("apply %s at the simulator %s: %w", c.OutRechargeNo, sim, err)
			}
			ids = append(ids, c.OutRechargeNo)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func putSecret(ctx context.Context, api *secretsmanager.Client, name, value string) (string, error) {
	created, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err == nil {
		return aws.ToString(created.ARN), nil
	}
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		return "", fmt.Errorf("create secret %s in moto: %w", name, err)
	}
	put, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		return "", fmt.Errorf("put secret %s in moto: %w", name, err)
	}
	return aws.ToString(put.ARN), nil
}

// inContainer is origin as a container reaches it: the same port on host.
func inContainer(origin, host string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return origin
	}
	if p := u.Port(); p != "" {
		u.Host = host + ":" + p
	} else {
		u.Host = host
	}
	return u.String()
}
