# close-recharge — see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
BIN         := $(CURDIR)/bin
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
NODESDK     := internal/simulator/testdata/nodesdk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-28s %s\n", $$1, $$2}'

## --- tools the tests need, installed into ./bin and node_modules ---

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(NODESDK)/node_modules: $(NODESDK)/package-lock.json
	npm ci --prefix $(NODESDK) --no-audit --no-fund
	@touch $@

.PHONY: test
test: $(NODESDK)/node_modules ## vet and run every test (with -race)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

.PHONY: lint
lint: $(BIN)/staticcheck ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

.PHONY: sim
sim: ## run the WeChat Pay simulator on 127.0.0.1:18080 (keys in /tmp/wechatpay-sim)
	$(GO) run ./internal/cmd/wechatpay-sim -listen 127.0.0.1:18080 -state-dir /tmp/wechatpay-sim

.PHONY: clean
clean:
	rm -rf $(BIN) build .aws-sam $(NODESDK)/node_modules
