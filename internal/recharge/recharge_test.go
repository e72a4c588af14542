package recharge

import (
	"encoding/json"
	"testing"
)

func TestRechargeRoundTripKeepsEveryField(t *testing.T) {
	in := `{"sp_mchid":"1900000100","sub_mchid":"1900000109","recharge_id":"1000000000000001","out_recharge_no":"R1",` +
		`"recharge_channel":"BANK_TRANSFER","account_type":"DEPOSIT","recharge_state":"CLOSED","recharge_scene":"ECOMMERCE_DEPOSIT",` +
		`"recharge_state_desc":"充值已关闭","recharge_amount":{"amount":10000,"currency":"CNY","fx":"x"},` +
		`"bank_transfer_info":{"bill_no":"B1","memo":"m","return_time":"2015-05-20T13:29:35+08:00","return_reason":"r",` +
		`"bank_name":"n","bank_card_tail":"1234","payer_name":"新字段"},"qr_recharge_info":{"openid":"o1","unionid":"u1"},` +
		`"accept_time":"2015-05-20T13:29:35+08:00","close_time":"2015-05-20T14:29:35+08:00",` +
		`"bank_account_name":"某公司","online_bank_recharge_info":{"bank":"x","nested":{"a":[1,2]}}}`
	var r Recharge
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.RechargeAmount.Amount != 10000 || r.BankTransferInfo.BankCardTail != "1234" || r.QRRechargeInfo.Openid != "o1" {
		t.Errorf("typed fields = %+v", r)
	}
	if r.CloseTime.Unix() != 1432103375 || !r.SuccessTime.IsZero() {
		t.Errorf("times: close %v success %v", r.CloseTime, r.SuccessTime)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	_ = json.Unmarshal([]byte(in), &want)
	_ = json.Unmarshal(out, &got)
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Errorf("round trip changed the recharge:\n in: %s\nout: %s", wantJSON, gotJSON)
	}
}

func TestRechargeEmptyTimesDecode(t *testing.T) {
	var r Recharge
	if err := json.Unmarshal([]byte(`{"out_recharge_no":"R1","success_time":"","close_time":null}`), &r); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(r)
	if string(out) != `{"out_recharge_no":"R1"}` {
		t.Errorf("marshal = %s", out)
	}
}
