#!/usr/bin/env bash
# Checks verify.py and verify.js against deliveries signed here, with openssl and base64 only
# (independently of the verifiers), then runs each receiver and posts to it with curl.
# Usage: bash examples/webhooks/test_examples.sh   (needs python3, node, openssl, curl)
set -u
cd "$(dirname "$0")"
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
failures=0

# --- The signers.
b64() { base64 | tr -d '\n'; }
hmac_text_key() { openssl dgst -sha256 -hmac "$1" -binary | b64; }  # key: the text's bytes
hmac_b64_key() {                                                    # key: the base64-decoded text
    local hex
    hex=$(printf %s "$1" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hex" -binary | b64
}
bi_signature() { { printf 'POST.%s.%s.' "$2" "$3"; cat "$4"; } | hmac_text_key "$1"; }  # secret path date body-file
std_signature() { { printf '%s.%s.' "$2" "$3"; cat "$4"; } | hmac_b64_key "$1"; }      # secret id timestamp body-file

# --- The verifiers, called as: secret path body-file [header-name value]...; exit 0 accepts, 10 rejects.
run_python() {
    python3 -c 'import sys; from verify import verify
secret, path, body, *kv = sys.argv[1:]
sys.exit(0 if verify(secret, path, dict(zip(kv[::2], kv[1::2])), open(body, "rb").read()) else 10)' "$@"
}
run_node() {
    node -e 'const { verify } = require("./verify.js");
const [secret, path, body, ...kv] = process.argv.slice(1);
const headers = {};
for (let i = 0; i < kv.length; i += 2) headers[kv[i]] = kv[i + 1];
process.exit(verify(secret, path, headers, require("node:fs").readFileSync(body)) ? 0 : 10);' -- "$@"
}

pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
expect() {  # accept|reject description command...
    local want=$1 description=$2 rc
    shift 2
    "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ "$want:$rc" = accept:0 ] || [ "$want:$rc" = reject:10 ]; then
        pass "$description"
    else
        fail "$description (wanted $want, exit $rc)"
        sed 's/^/     /' "$tmp/out"
    fi
}
same() {  # description got wanted
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got $2, wanted $3)"; fi
}

# --- The signers reproduce known answers: the Standard Webhooks specification's example, and
# bankd's own BI-Signature unit test (crates/bankd/src/webhooks/signing.rs).
printf '{"test": 2432232314}' >"$tmp/spec.json"
same "signer: Standard Webhooks specification example" \
    "v1,$(std_signature MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$tmp/spec.json")" \
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
printf '{}' >"$tmp/empty.json"
same "signer: bankd's BI-Signature unit-test vector" \
    "$(bi_signature s3cr3t /hooks/synced 'Thu, 26 Nov 2026 12:00:00 GMT' "$tmp/empty.json")" \
    "P2ZlmowbZ1B9jk/DSScXk88D0yM7Hq6amItJWg1G56U="

# --- The test vector: a delivery signed both ways, as bankd sends it.
secret='c4qJvLLL4aeCKrtdbTs+RXIUUSfyl4Adg/7irZ01PzY='
other='QeHEchGYkcefoIn/afmo0L1kgVAuuGQUFLOaI/42Kx4='
path=/hooks/synced
body=$tmp/body.json
tampered=$tmp/tampered.json
printf '%s' '{"user":{"id":1},"connection":{"id":7,"bank_name":"Société Générale"}}' >"$body"
printf '%s' '{"user":{"id":1},"connection":{"id":8,"bank_name":"Société Générale"}}' >"$tampered"
date=$(date -u '+%a, %d %b %Y %H:%M:%S GMT')
now=$(date +%s)
stale=$((now - 6 * 60))
ahead=$((now + 6 * 60))
id=msg_2xYq7c1K0v
bi=$(bi_signature "$secret" "$path" "$date" "$body")
std="v1,$(std_signature "$secret" "$id" "$now" "$body")"
BI=(BI-Signature-Date "$date" BI-Signature "$bi")
STD=(webhook-id "$id" webhook-timestamp "$now" webhook-signature "$std")

for lang in python node; do
    run=run_$lang
    expect accept "$lang: both signatures" $run "$secret" "$path" "$body" "${BI[@]}" "${STD[@]}"
    expect accept "$lang: BI-Signature alone" $run "$secret" "$path" "$body" "${BI[@]}"
    expect accept "$lang: webhook-signature alone" $run "$secret" "$path" "$body" "${STD[@]}"
    expect accept "$lang: header names in other cases" $run "$secret" "$path" "$body" \
        bi-signature-date "$date" bi-signature "$bi" WEBHOOK-ID "$id" Webhook-Timestamp "$now" WEBHOOK-signature "$std"
    expect accept "$lang: the valid one of several webhook-signatures" $run "$secret" "$path" "$body" \
        "${BI[@]}" webhook-id "$id" webhook-timestamp "$now" \
        webhook-signature "v1,$(std_signature "$other" "$id" "$now" "$body") $std"
    expect reject "$lang: tampered body, BI-Signature" $run "$secret" "$path" "$tampered" "${BI[@]}"
    expect reject "$lang: tampered body, webhook-signature" $run "$secret" "$path" "$tampered" "${STD[@]}"
    expect reject "$lang: wrong secret, BI-Signature" $run "$other" "$path" "$body" "${BI[@]}"
    expect reject "$lang: wrong secret, webhook-signature" $run "$other" "$path" "$body" "${STD[@]}"
    expect reject "$lang: other path, BI-Signature" $run "$secret" /hooks/other "$body" "${BI[@]}"
    expect reject "$lang: stale timestamp (6 minutes old), correctly signed" $run "$secret" "$path" "$body" \
        webhook-id "$id" webhook-timestamp "$stale" webhook-signature "v1,$(std_signature "$secret" "$id" "$stale" "$body")"
    expect reject "$lang: timestamp 6 minutes ahead, correctly signed" $run "$secret" "$path" "$body" \
        webhook-id "$id" webhook-timestamp "$ahead" webhook-signature "v1,$(std_signature "$secret" "$id" "$ahead" "$body")"
    expect reject "$lang: valid BI-Signature but wrong webhook-signature" $run "$secret" "$path" "$body" \
        "${BI[@]}" webhook-id "$id" webhook-timestamp "$now" webhook-signature "v1,$(std_signature "$other" "$id" "$now" "$body")"
    expect reject "$lang: no signature" $run "$secret" "$path" "$body" content-type application/json
done

# --- The receivers: a valid delivery is answered 200, its redelivery is noticed, a tampered one gets 401.
post() {  # port body-file
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$1$path" -H 'Content-Type: application/json' \
        -H "BI-Signature-Date: $date" -H "BI-Signature: $bi" \
        -H "webhook-id: $id" -H "webhook-timestamp: $now" -H "webhook-signature: $std" --data-binary "@$2"
}
for lang in python node; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ $lang = python ]; then
        BANKD_WEBHOOK_SECRET=$secret python3 verify.py "$port" >"$tmp/$lang.log" 2>&1 &
    else
        BANKD_WEBHOOK_SECRET=$secret node verify.js "$port" >"$tmp/$lang.log" 2>&1 &
    fi
    pids+=($!)
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done  # listening
    codes="$(post "$port" "$body") $(post "$port" "$body") $(post "$port" "$tampered")"
    same "$lang receiver: answers valid, redelivered, tampered" "$codes" "200 200 401"
    same "$lang receiver: prints" "$(tr '\n' '|' <"$tmp/$lang.log")" \
        "$path $id accepted|$path $id duplicate|$path $id rejected|"
done

if [ $failures = 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
