package main

// price is one list price with where it was read. Prices change: when one
// does, change it here, with its source and the day it was read.
type price struct {
	value  float64
	unit   string
	source string
	// read says when the source was read, or that the figure could not be
	// found in a readable copy of a page and is given as known, not re-read.
	read string
}

// prices is a region's list prices for what one close uses, in its currency.
type prices struct {
	region, currency, symbol string

	lambdaRequests, lambdaGBSecond price // per million requests; per GB-second, arm64
	httpAPI                        price // per million HTTP API requests
	sqs                            price // per million standard-queue requests (64 KB chunks)
	scheduler                      price // per million Scheduler invocations
	events                         price // per million custom events (64 KB chunks)
	secret, secretCalls            price // per secret a month; per 10,000 API calls
	kmsKey, kmsRequests            price // per customer managed key a month; per 10,000 requests
	logsGB                         price // per GB ingested (standard log class)
	metric, alarmMetric            price // per custom metric a month; per standard alarm metric a month
	fargateVCPUHour, fargateGBHour price // Linux/ARM, per vCPU-hour and GB-hour
	albHour                        price // per load balancer hour, without LCUs
	ddbRead, ddbWrite              price // per million on-demand read / write request units
	schedulerAPI                   price // per million Scheduler API calls (Create/Get/DeleteSchedule)
}

const (
	readToday = "read 2026-12-03"
	// The stored copies of AWS's own pricing pages leave out the figures
	// (their tables are drawn by script), so most US figures come from pages
	// that quote them, each named with its date.
	notReread = "not re-read: list price as known, no readable copy found on 2026-12-03"
	// No China figure was found in a readable copy for these; the US list price
	// converted at cnyPerUSD stands in and says so, rather than a guess dressed
	// as a China price.
	placeholder = "placeholder: no cn-north-1 figure found on 2026-12-03; US list price × 7.1, check www.amazonaws.cn"
)

// cnyPerUSD converts the placeholders and prints USD beside CNY totals.
const cnyPerUSD = 7.1

var usEast1 = prices{
	region: "us-east-1", currency: "USD", symbol: "$",
	lambdaRequests: price{0.20, "per 1M requests",
		"https://aws.amazon.com/cn/blogs/china/new-for-aws-lambda-1ms-billing-granularity-adds-cost-savings (0.20 USD / 1M requests, us-east-1)", readToday},
	lambdaGBSecond: price{0.0000133334, "per GB-second, Arm, first 7.5 billion GB-s a month",
		"https://cloudchipr.com/blog/aws-lambda-pricing (US East, ARM first tier)", readToday},
	httpAPI: price{1.00, "per 1M HTTP API requests, first 300M a month",
		"https://docs.aws.amazon.com/pt_br/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html (Table 4, us-east-1)", readToday},
	sqs: price{0.40, "per 1M standard requests, each 64 KB chunk a request",
		"https://cloudburn.io/blog/amazon-sqs-pricing (US East, March 2026)", readToday},
	scheduler: price{1.00, "per 1M invocations (14M free a month ignored)",
		"https://cloudburn.io/blog/amazon-eventbridge-pricing (US East, March 2026)", readToday},
	events: price{1.00, "per 1M custom events, each 64 KB chunk an event",
		"https://cloudburn.io/blog/amazon-eventbridge-pricing (US East, March 2026)", readToday},
	secret: price{0.40, "per secret a month",
		"https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms", readToday},
	secretCalls: price{0.05, "per 10,000 API calls",
		"https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms", readToday},
	kmsKey: price{1.00, "per customer managed key a month",
		"https://aws.amazon.com/kms/pricing/", readToday},
	kmsRequests: price{0.03, "per 10,000 requests (20,000 free a month ignored)",
		"https://www.wring.co/blog/aws-kms-pricing-guide (March 2026)", readToday},
	logsGB: price{0.50, "per GB ingested, standard class",
		"https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/ (us-east-1, June 2026)", readToday},
	metric: price{0.30, "per custom metric a month, first 10,000",
		"https://signoz.io/guides/cloudwatch-pricing (February 2026)", readToday},
	alarmMetric: price{0.10, "per standard-resolution alarm metric a month",
		"https://aws.amazon.com/cloudwatch/pricing/", notReread},
	fargateVCPUHour: price{0.03238, "per vCPU-hour, Linux/ARM",
		"https://www.vantage.sh/blog/fargate-pricing (us-east-1)", readToday},
	fargateGBHour: price{0.00356, "per GB-hour, Linux/ARM",
		"https://www.vantage.sh/blog/fargate-pricing (us-east-1)", readToday},
	albHour: price{0.0225, "per Application Load Balancer hour (LCUs extra)",
		"https://aws.amazon.com/elasticloadbalancing/pricing/", notReread},
	ddbRead: price{0.125, "per 1M on-demand read request units (a strongly consistent read up to 4 KB is one)",
		"https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East, after the November 2024 cut; July 2025)", readToday},
	ddbWrite: price{0.625, "per 1M on-demand write request units (a write up to 1 KB is one)",
		"https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East, after the November 2024 cut; July 2025)", readToday},
	// The Scheduler source above prices Scheduler per invocation only, and
	// this one says so outright: creating (and deleting) schedules is not billed.
	schedulerAPI: price{0, "Scheduler API calls are not billed, only invocations",
		"https://awsnegotiations.com/eventbridge-scheduler-cost (\"Creating and storing schedules is included; you pay for firing them\", May 2026)", readToday},
}

// cnNorth1 is the Beijing region, operated by Sinnet; prices are in CNY.
var cnNorth1 = prices{
	region: "cn-north-1", currency: "CNY", symbol: "¥",
	lambdaRequests: price{1.36, "per 1M requests",
		"https://www.amazonaws.cn/en/lambda/pricing/", notReread},
	lambdaGBSecond: price{0.0000907816, "per GB-second, Arm",
		"https://www.amazonaws.cn/en/lambda/pricing/", notReread},
	httpAPI:     cny(usEast1.httpAPI, "https://www.amazonaws.cn/en/api-gateway/pricing/"),
	sqs:         cny(usEast1.sqs, "https://www.amazonaws.cn/en/sqs/pricing/"),
	scheduler:   cny(usEast1.scheduler, "https://www.amazonaws.cn/en/eventbridge/pricing/"),
	events:      cny(usEast1.events, "https://www.amazonaws.cn/en/eventbridge/pricing/"),
	secret:      cny(usEast1.secret, "https://www.amazonaws.cn/en/secrets-manager/pricing/"),
	secretCalls: cny(usEast1.secretCalls, "https://www.amazonaws.cn/en/secrets-manager/pricing/"),
	kmsKey:      cny(usEast1.kmsKey, "https://www.amazonaws.cn/en/kms/pricing/"),
	kmsRequests: cny(usEast1.kmsRequests, "https://www.amazonaws.cn/en/kms/pricing/"),
	logsGB:      cny(usEast1.logsGB, "https://www.amazonaws.cn/en/cloudwatch/pricing/"),
	metric: price{2.0000, "per custom metric a month, first 10,000",
		"https://amazonaws.cn/cloudwatch/pricing (自定义指标, 中国(北京)和中国(宁夏)区域)", readToday},
	alarmMetric: price{0.622, "per standard-resolution alarm metric a month",
		"https://amazonaws.cn/cloudwatch/pricing (告警, 中国(北京)和中国(宁夏)区域)", readToday},
	fargateVCPUHour: cny(usEast1.fargateVCPUHour, "https://www.amazonaws.cn/en/fargate/pricing/"),
	fargateGBHour:   cny(usEast1.fargateGBHour, "https://www.amazonaws.cn/en/fargate/pricing/"),
	albHour:         cny(usEast1.albHour, "https://www.amazonaws.cn/en/elasticloadbalancing/pricing/"),
	ddbRead:         cny(usEast1.ddbRead, "https://www.amazonaws.cn/en/dynamodb/pricing/"),
	ddbWrite:        cny(usEast1.ddbWrite, "https://www.amazonaws.cn/en/dynamodb/pricing/"),
	schedulerAPI:    cny(usEast1.schedulerAPI, "https://www.amazonaws.cn/en/eventbridge/pricing/"),
}

// cny is the placeholder for a China price not found: the US one, converted.
func cny(us price, page string) price {
	return price{us.value * cnyPerUSD, us.unit, page, placeholder}
}
