package trigger

import (
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
)

// APIResponse shapes an HTTP answer the way the request's API Gateway flavour
// expects it.
func APIResponse(kind Kind, status int, body any) (any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	if kind == RESTAPI {
		return events.APIGatewayProxyResponse{StatusCode: status, Headers: headers, Body: string(b)}, nil
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: string(b)}, nil
}
