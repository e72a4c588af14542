// Closes one recharge through the Node SDK, unchanged but for its baseURL.
// Usage: node close.js SECRET_JSON BASE_URL SUB_MCHID OUT_RECHARGE_NO
// Prints {"status", "data"} on success, {"error", "status", "code"} on failure.
const fs = require('fs');
const { Wechatpay } = require('wechatpay-axios-plugin');

async function main() {
  const [secretPath, baseURL, subMchid, outRechargeNo] = process.argv.slice(2);
  const secret = JSON.parse(fs.readFileSync(secretPath, 'utf8'));
  const wxpay = new Wechatpay({
    mchid: secret.mchid,
    serial: secret.merchant_serial_no,
    privateKey: secret.merchant_private_key,
    certs: { [secret.wechatpay_public_key_id]: secret.wechatpay_public_key },
    baseURL,
  });
  try {
    const res = await wxpay.v3.platsolution.ecommerce.recharges.outRechargeNo._out_recharge_no_.close.post(
      {}, { out_recharge_no: outRechargeNo, params: { sub_mchid: subMchid } },
    );
    console.log(JSON.stringify({ status: res.status, data: res.data }));
  } catch (err) {
    const res = err.response || {};
    const data = res.data && typeof res.data === 'object' ? res.data : {};
    console.log(JSON.stringify({ error: err.name || 'Error', status: res.status || 0, code: data.code || '' }));
  }
}

main();
