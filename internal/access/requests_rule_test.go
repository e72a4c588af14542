package access

import (
	"encoding/json"
	"slices"
	"testing"
)

// The bus policy lets a producer of another account put expiry requests
// (TestExpiryRequestsBusPolicy); the rule that hands them to the expiry
// function must then match them. EventBridge: "Rules with an account field do
// not match any events sent from other accounts" (PutPermission reference).
// Otherwise such requests are accepted by PutEvents, matched by no rule, reach
// no dead-letter queue and raise no alarm: never scheduled, silently.
func TestAdmittedProducersRequestsReachTheFunction(t *testing.T) {
	requireTools(t)
	const region = "ap-southeast-1"
	ps := params(region)
	p := partitionOf(region)
	ps["ExpiryRequestProducerArns"] = externalProducer(p)
	d := expand(t, region, ps)
	bus := d.Attributes["RequestsEventBus"]["Name"]
	if bus == "" {
		bus = d.props("RequestsEventBus")["Name"].(string)
	}
	found := false
	for logical, r := range d.Resources {
		if r["Type"] != "AWS::Events::Rule" {
			continue
		}
		props := r["Properties"].(map[string]any)
		if props["EventBusName"] != bus {
			continue
		}
		found = true
		pattern := props["EventPattern"]
		if s, ok := pattern.(string); ok {
			_ = json.Unmarshal([]byte(s), &pattern)
		}
		accounts, has := pattern.(map[string]any)["account"]
		if !has {
			continue
		}
		var list []string
		for _, a := range accounts.([]any) {
			list = append(list, a.(string))
		}
		if !slices.Contains(list, otherAccount) {
			t.Errorf("%s on the requests bus matches account %v only: the producer %s, whom the bus policy admits, is never matched",
				logical, list, externalProducer(p))
		}
	}
	if !found {
		t.Fatal("no rule on the requests bus")
	}
}
