# close-recharge — see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
BIN         := $(CURDIR)/bin
RIE         := $(BIN)/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
NODESDK     := internal/simulator/testdata/nodesdk
ACCESS_SIM  := internal/access/testdata/iamsim
GO_SOURCES  := $(shell find . -name '*.go' -not -path './build/*') go.mod go.sum
# What Lambda runs: static, no RPC shim, reproducible, stripped.
# The release the bootstrap says it is (logged at cold start): the tag, or the tag
# and the commits since, or the commit when nothing is tagged yet.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w -X close-recharge/internal/version.Version=$(VERSION)'
EVENT       ?= events/direct.json

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-28s %s\n", $$1, $$2}'

## --- build ---

build/arm64/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/close-recharge

# For the emulator on this machine, which cannot run arm64 binaries.
build/local/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/close-recharge

# The notification function's bootstrap, the same two ways.
build/arm64/notify/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/recharge-notify

build/local/notify/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/recharge-notify

# The expiry function: it keeps expiry requests as schedules, and holds no WeChat Pay key.
build/arm64/recharge-expiry/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/recharge-expiry

build/local/recharge-expiry/bootstrap: $(GO_SOURCES)
	CGO_ENABLED=0 GOOS=linux $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/recharge-expiry

.PHONY: build
build: build/arm64/bootstrap build/local/bootstrap build/arm64/notify/bootstrap build/local/notify/bootstrap build/arm64/recharge-expiry/bootstrap build/local/recharge-expiry/bootstrap ## build the bootstraps: arm64 to deploy, host arch for local runs

.PHONY: build-CloseRechargeFunction
build-CloseRechargeFunction: ## called by `sam build` (BuildMethod: makefile)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/close-recharge

.PHONY: build-RechargeNotifyFunction
build-RechargeNotifyFunction: ## called by `sam build` for the notification function (BuildMethod: makefile)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/recharge-notify

.PHONY: build-RechargeExpiryFunction
build-RechargeExpiryFunction: ## called by `sam build` (BuildMethod: makefile)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/recharge-expiry

## --- tools, installed into ./bin and node_modules ---

$(RIE):
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(NODESDK)/node_modules: $(NODESDK)/package-lock.json
	npm ci --prefix $(NODESDK) --no-audit --no-fund
	@touch $@

# The IAM policy evaluator the access matrix runs on.
$(ACCESS_SIM)/node_modules: $(ACCESS_SIM)/package-lock.json
	npm ci --prefix $(ACCESS_SIM) --no-audit --no-fund
	@touch $@

## --- run ---

.PHONY: demo
demo: build/local/bootstrap build/local/notify/bootstrap build/local/recharge-expiry/bootstrap $(RIE) ## every events/*.json through the function under the Runtime Interface Emulator against the WeChat Pay simulator; then, with moto, a recharge's whole life through the three functions
	$(GO) run ./internal/cmd/demo -rie $(RIE) -bootstrap build/local/bootstrap -notify-bootstrap build/local/notify/bootstrap \
		-expiry-bootstrap build/local/recharge-expiry/bootstrap -events events

.PHONY: invoke
invoke: build/local/bootstrap $(RIE) ## invoke one event as `sam local invoke -e` would: make invoke EVENT=events/http-api.json
	$(GO) run ./internal/cmd/demo -rie $(RIE) -bootstrap build/local/bootstrap -event $(EVENT)

SIM_LISTEN ?= 127.0.0.1:18080
MOTO        ?= http://127.0.0.1:5000

.PHONY: sim
sim: ## run the WeChat Pay simulator on SIM_LISTEN (127.0.0.1:18080; 0.0.0.0:18080 for sam local) with keys and secret.json in /tmp/wechatpay-sim
	$(GO) run ./internal/cmd/wechatpay-sim -listen $(SIM_LISTEN) -state-dir /tmp/wechatpay-sim

.PHONY: sam-env
sam-env: ## for sam local invoke: seed the running simulator, put its secret and a bus in moto (MOTO=http://127.0.0.1:5000), write env.json
	$(GO) run ./internal/cmd/samenv -sim http://127.0.0.1:$(lastword $(subst :, ,$(SIM_LISTEN))) -moto $(MOTO) -out env.json

## --- check ---

.PHONY: unit
unit: ## the quick tier, for every change: go test -short ./... (no moto, emulator or npm; about 25 s on 2 cores)
	$(GO) test -short -count=1 ./...

# Tools the full suite needs from the machine. A missing one is named here with
# how to install it; its tests skip locally and fail under CI (CI set to anything).
.PHONY: preflight
preflight:
	@status=0; \
	check() { command -v "$$1" >/dev/null 2>&1 || { echo "make test: $$1 is not installed: its tests will SKIP (install: $$2)" >&2; status=1; }; }; \
	check moto_server "pip install 'moto[server]'"; \
	check cfn-lint "pip install cfn-lint"; \
	check node "apt-get install nodejs"; \
	check npm "apt-get install npm"; \
	check openssl "apt-get install openssl"; \
	if [ $$status = 1 ] && [ -n "$$CI" ]; then echo "make test: CI is set: every tool is required" >&2; exit 1; fi

# The Node SDK's and the policy evaluator's packages, when npm is there to install them.
NODE_DEPS := $(if $(shell command -v npm),$(NODESDK)/node_modules $(ACCESS_SIM)/node_modules)

.PHONY: test
test: preflight $(NODE_DEPS) $(RIE) ## vet, every test with -race (moto, the emulator, a short soak, cfn-lint, the Node SDK), bounded fuzzing; about 7 min on 2 cores
	$(GO) vet ./...
	RIE=$(RIE) $(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz

# Fuzzing runs a count of inputs (-fuzztime=Nx), not a duration: a timed run
# can end in the fuzzing coordinator's own "context deadline exceeded" with no
# failing input. FUZZ_SCALE multiplies every count (make fuzz FUZZ_SCALE=20).
FUZZ_SCALE ?= 1

.PHONY: fuzz
fuzz: ## fuzz trigger decoding, identifier validation, and the close and SQS batch models against the simulator, a fixed count of inputs each (FUZZ_SCALE=20 for a longer run)
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$$((100000 * $(FUZZ_SCALE)))x ./internal/trigger
	$(GO) test -run='^$$' -fuzz='^FuzzIdentifiers$$' -fuzztime=$$((100000 * $(FUZZ_SCALE)))x ./internal/wechatpay
	$(GO) test -run='^$$' -fuzz='^FuzzCloseModel$$' -fuzztime=$$((500 * $(FUZZ_SCALE)))x ./internal/handler
	$(GO) test -run='^$$' -fuzz='^FuzzBatchModel$$' -fuzztime=$$((60 * $(FUZZ_SCALE)))x ./internal/handler

.PHONY: mutants
mutants: $(NODE_DEPS) ## plant each bug of internal/cmd/mutants/list one at a time in a copy of the tree and report whether its test caught it (MUTANTS=regexp picks some); 10-20 min
	$(GO) run ./internal/cmd/mutants $(if $(MUTANTS),-run '$(MUTANTS)')

SOAK_INVOCATIONS ?= 600

.PHONY: soak
soak: $(RIE) ## the soak test at full length (SOAK_INVOCATIONS=600; SOAK_SEED=N replays a mix) with its tally
	RIE=$(RIE) SOAK_INVOCATIONS=$(SOAK_INVOCATIONS) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 30m ./internal/integration

.PHONY: lint
lint: $(BIN)/staticcheck ## gofmt, go vet, staticcheck, cfn-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	cfn-lint -t template.yaml --include-checks I

SCALE_N ?= 20000
SCALE_R ?= 200
SCALE_L ?= 30ms
SCALE_C ?= 10
SCALE_SCENARIO ?= healthy
SCALE_OUTAGE ?= 120s
SCALE_PAID ?= 0.3

.PHONY: scale
scale: ## the burst path: SCALE_N recharges due at once through moto's SQS vs async invocations (throttled as Lambda documents, and a no-backoff bound), at SCALE_R/s, SCALE_L, SCALE_C instances; 8-10 min. SCALE_SCENARIO=outage-503|outage-429 (queue path, WeChat Pay down for SCALE_OUTAGE from 20 s in; ~8 min each), paid (every expiry scheduled in moto, SCALE_PAID of the recharges paid and notified first, beside a healthy queue path; ~12 min) or all
	$(GO) run ./internal/cmd/scale -n $(SCALE_N) -rate $(SCALE_R) -latency $(SCALE_L) -instances $(SCALE_C) -scenario $(SCALE_SCENARIO) -outage $(SCALE_OUTAGE) -paid $(SCALE_PAID)

.PHONY: bench
bench: $(RIE) ## the performance table: warm invocation vs peer and floor, cold start vs hello-world, connections, reads, size, RSS
	$(GO) run ./internal/cmd/bench -rie $(RIE)

COST_FLAGS ?=

.PHONY: cost
cost: ## what a million closes cost at list prices, us-east-1 and cn-north-1, API and queue paths, beside an always-on container (COST_FLAGS='-rtt-us 250 -log <make demo log>'; docs/cost.md)
	$(GO) run ./internal/cmd/cost $(COST_FLAGS)

## --- operate ---

SECRET_NAME ?= wechatpay/merchant

.PHONY: secret
secret: ## compose and check the merchant secret: make secret MCHID=… SERIAL=… KEY=apiclient_key.pem CERT=apiclient_cert.pem PUB_KEY_ID=… PUB_KEY=pub_key.pem [KMS_KEY_ID=…] [SECRET_NAME=…] [APPLY=1]
	$(GO) run ./internal/cmd/secret -mchid "$(MCHID)" -serial "$(SERIAL)" -key "$(KEY)" \
		$(if $(CERT),-cert "$(CERT)") $(if $(PUB_KEY_ID),-pub-key-id "$(PUB_KEY_ID)") $(if $(PUB_KEY),-pub-key "$(PUB_KEY)") \
		$(if $(PLATFORM_CERT),-platform-cert "$(PLATFORM_CERT)") $(if $(KMS_KEY_ID),-kms-key-id "$(KMS_KEY_ID)") \
		-name "$(SECRET_NAME)" $(if $(APPLY),-apply)

TIMEZONE ?= Asia/Shanghai

.PHONY: schedule
schedule: ## set a recharge's expiry (moved when set again; queued when past): make schedule STACK=… SUB_MCHID=… OUT_RECHARGE_NO=… AT=2026-12-01T10:00:00 [TIMEZONE=Asia/Shanghai]
	$(GO) run ./internal/cmd/schedule -sub-mchid "$(SUB_MCHID)" -out-recharge-no "$(OUT_RECHARGE_NO)" -at "$(AT)" -timezone "$(TIMEZONE)" \
		$(if $(STACK),-stack "$(STACK)") $(if $(QUEUE_ARN),-queue-arn "$(QUEUE_ARN)") \
		$(if $(SCHEDULER_ROLE_ARN),-role-arn "$(SCHEDULER_ROLE_ARN)") $(if $(SCHEDULE_GROUP),-group "$(SCHEDULE_GROUP)") \
		$(if $(SCHEDULE_DLQ_ARN),-dlq-arn "$(SCHEDULE_DLQ_ARN)")

## --- deploy ---

.PHONY: deploy
deploy: ## build with SAM and deploy, asking for the parameters the first time
	sam build && sam deploy --guided

.PHONY: clean
clean:
	rm -rf $(BIN) build .aws-sam $(NODESDK)/node_modules $(ACCESS_SIM)/node_modules
