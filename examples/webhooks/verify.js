// Verify the signatures bankd puts on a webhook delivery. Node only, no npm packages.
//
// Receiver: BANKD_WEBHOOK_SECRET=<the app's secret_key> node verify.js 8000
'use strict';
const { createHmac, timingSafeEqual } = require('node:crypto');

const TOLERANCE = 5 * 60; // seconds a webhook-timestamp may differ from now

const sign = (key, msg) => createHmac('sha256', key).update(msg).digest('base64');
const same = (a, b) => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};

// True if every signature present is valid, and at least one is. `path` is the path of the
// webhook URL (no host, no query); `body` is the raw request body (a Buffer), before any parsing.
function verify(secretKey, path, headers, body) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  if (!('bi-signature' in h) && !('webhook-signature' in h)) return false;
  if ('bi-signature' in h) { // Powens: key = secret_key's text; msg = POST.path.date.body
    if (!('bi-signature-date' in h)) return false;
    const msg = Buffer.concat([Buffer.from(`POST.${path}.${h['bi-signature-date']}.`), body]);
    if (!same(sign(Buffer.from(secretKey), msg), h['bi-signature'])) return false;
  }
  if ('webhook-signature' in h) { // Standard Webhooks: key = base64-decoded secret_key
    const [id, ts] = [h['webhook-id'] || '', h['webhook-timestamp'] || ''];
    if (!id || !/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE) return false;
    const msg = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
    const expected = 'v1,' + sign(Buffer.from(secretKey, 'base64'), msg);
    if (!h['webhook-signature'].split(' ').some((s) => same(expected, s))) return false;
  }
  return true;
}

module.exports = { verify };

if (require.main === module) {
  const http = require('node:http');
  const secret = process.env.BANKD_WEBHOOK_SECRET;
  const seen = new Set();
  http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = req.url.split('?')[0];
      const id = req.headers['webhook-id'];
      const ok = req.method === 'POST' && verify(secret, path, req.headers, Buffer.concat(chunks));
      const fresh = ok && !seen.has(id); // at-least-once delivery: handle each webhook-id once
      if (fresh && id) seen.add(id); // ... and handle JSON.parse(body) here
      console.log(path, id, fresh ? 'accepted' : ok ? 'duplicate' : 'rejected');
      res.writeHead(ok ? 200 : 401).end();
    });
  }).listen(Number(process.argv[2]));
}
