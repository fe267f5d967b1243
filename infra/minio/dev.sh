#!/usr/bin/env bash
# infra/minio/dev.sh
# Starts one MinIO on loopback with a data dir, bootstraps the bucket and prints the S3 and console URLs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${MINIO_PORT:-9000}"
CONSOLE_PORT="${MINIO_CONSOLE_PORT:-9001}"
DATA_DIR="${MINIO_DATA_DIR:-$ROOT/data/minio}"
export MINIO_ROOT_USER="${MINIO_ROOT_USER:-${BTC_TS_S3_ACCESS_KEY:-btcts-dev}}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-${BTC_TS_S3_SECRET_KEY:-btcts-dev-secret}}"
BUCKET="${BTC_TS_S3_BUCKET:-btc-ts}"

MINIO="$("$HERE/ensure.sh")"
mkdir -p "$DATA_DIR"
"$MINIO" server "$DATA_DIR" --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$CONSOLE_PORT" --quiet &
PID=$!
trap 'kill $PID 2>/dev/null || true' INT TERM

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/minio/health/live" >/dev/null 2>&1 && break
  sleep 0.2
done

BTC_TS_S3_ENDPOINT="http://127.0.0.1:$PORT" BTC_TS_S3_BUCKET="$BUCKET" \
BTC_TS_S3_ACCESS_KEY="$MINIO_ROOT_USER" BTC_TS_S3_SECRET_KEY="$MINIO_ROOT_PASSWORD" \
  node "$ROOT/bin/tsnode.mjs" "$HERE/bootstrap.ts"

cat <<MSG
MinIO is running (pid $PID, data in $DATA_DIR)
  S3 endpoint : http://127.0.0.1:$PORT   (bucket $BUCKET)
  console     : http://127.0.0.1:$CONSOLE_PORT   (user $MINIO_ROOT_USER)
Point btc-ts at it:
  export BTC_TS_S3_ENDPOINT=http://127.0.0.1:$PORT BTC_TS_S3_BUCKET=$BUCKET
  export BTC_TS_S3_ACCESS_KEY=$MINIO_ROOT_USER BTC_TS_S3_SECRET_KEY=<the password>
Ctrl-C stops it.
MSG
wait $PID
