// Checks one notification with the Node SDK's own primitives, as a platform
// built on it would: Rsa.verify over Formatter.response(timestamp, nonce, body),
// then Aes.AesGcm.decrypt of the resource with the APIv3 key.
// Usage: node notify.js NOTIFICATION_JSON SECRET_JSON
// NOTIFICATION_JSON holds {"headers": {name: value}, "body": "the exact body"}.
// Prints {"verified", "plaintext"} or {"verified", "error"}.
const fs = require('fs');
const { Rsa, Aes, Formatter } = require('wechatpay-axios-plugin');

function main() {
  const [notificationPath, secretPath] = process.argv.slice(2);
  const { headers, body } = JSON.parse(fs.readFileSync(notificationPath, 'utf8'));
  const secret = JSON.parse(fs.readFileSync(secretPath, 'utf8'));
  const header = (name) => headers[name] || '';
  if (header('Wechatpay-Serial') !== secret.wechatpay_public_key_id) {
    console.log(JSON.stringify({ verified: false, error: 'unknown Wechatpay-Serial' }));
    return;
  }
  const verified = Rsa.verify(
    Formatter.response(header('Wechatpay-Timestamp'), header('Wechatpay-Nonce'), body),
    header('Wechatpay-Signature'),
    Rsa.from(secret.wechatpay_public_key, Rsa.KEY_TYPE_PUBLIC),
  );
  if (!verified) {
    console.log(JSON.stringify({ verified, error: 'signature does not verify' }));
    return;
  }
  const { resource } = JSON.parse(body);
  try {
    const plaintext = Aes.AesGcm.decrypt(resource.ciphertext, secret.apiv3_key, resource.nonce, resource.associated_data);
    console.log(JSON.stringify({ verified, plaintext: JSON.parse(plaintext) }));
  } catch (err) {
    console.log(JSON.stringify({ verified, error: `decrypt: ${err.message}` }));
  }
}

main();
