#!/usr/bin/env bash
# infra/minio/dev.sh
# Starts one MinIO on loopback with a data dir, bootstraps the bucket, and says where its credentials are (never prints them).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${MINIO_PORT:-9000}"
CONSOLE_PORT="${MINIO_CONSOLE_PORT:-9001}"
DATA_DIR="${MINIO_DATA_DIR:-$ROOT/data/minio}"
# The credentials file and the pid file live beside (not in) the data dir: MinIO owns its data dir.
STATE_DIR="${MINIO_DEV_STATE_DIR:-$ROOT/data}"
ENV_FILE="$STATE_DIR/minio-dev.env"
PID_FILE="$STATE_DIR/minio-dev.pid"
BUCKET="${BTC_TS_S3_BUCKET:-btc-ts}"
# Before this script kept credentials in a file, every dev server ran with this password.
OLD_DEFAULT_PASSWORD=btcts-dev-secret
GENERATED=""

mkdir -p "$STATE_DIR"
health() { curl -fsS -m 2 "http://127.0.0.1:$PORT/minio/health/live" >/dev/null 2>&1; }

say_where() {
  cat <<MSG
  S3 endpoint : http://127.0.0.1:$PORT   (bucket $BUCKET)
  console     : http://127.0.0.1:$CONSOLE_PORT   (user and password: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in $ENV_FILE)
Point btc-ts at it (the file holds the export lines; it is readable by you only):
  source $ENV_FILE
MSG
}

# A second run: the pid file records the pid and both ports of the server this script started
# ("PID PORT CONSOLE_PORT"). While that pid lives, its server is reused (on the ports it has, whatever
# MINIO_PORT says now): two servers on one data dir would corrupt it. A pid file whose pid is gone is stale.
if [[ -f "$PID_FILE" ]]; then
  read -r OLD_PID OLD_PORT OLD_CONSOLE_PORT <"$PID_FILE" || true
  if [[ -n "${OLD_PID:-}" ]] && kill -0 "$OLD_PID" 2>/dev/null; then
    if [[ -n "${OLD_PORT:-}" && "$OLD_PORT" != "$PORT" ]]; then
      echo "dev.sh: the dev server of $DATA_DIR runs on port $OLD_PORT (not $PORT): reusing it" >&2
    fi
    PORT="${OLD_PORT:-$PORT}"
    CONSOLE_PORT="${OLD_CONSOLE_PORT:-$CONSOLE_PORT}"
    if health; then
      echo "MinIO dev server already running (pid $OLD_PID, data in $DATA_DIR)"
      say_where
      exit 0
    fi
    echo "dev.sh: the dev server (pid $OLD_PID) lives but does not answer on port $PORT; stop it (kill $OLD_PID) and run this again" >&2
    exit 1
  fi
  echo "dev.sh: the dev server recorded in $PID_FILE (pid ${OLD_PID:-?}) is not running any more; starting a new one" >&2
  rm -f "$PID_FILE"
fi
if health; then
  echo "dev.sh: port $PORT already answers as a MinIO that this script did not start; stop it or set MINIO_PORT / MINIO_CONSOLE_PORT" >&2
  exit 1
fi

# Credentials: the environment's, else the file's from an earlier run, else new random ones (kept in the file).
if [[ -z "${MINIO_ROOT_PASSWORD:-}${BTC_TS_S3_SECRET_KEY:-}" && -f "$ENV_FILE" ]]; then
  # shellcheck disable=SC1090
  source "$ENV_FILE"
fi
if [[ -z "${MINIO_ROOT_PASSWORD:-}${BTC_TS_S3_SECRET_KEY:-}" ]]; then
  if [[ -n "$(ls -A "$DATA_DIR" 2>/dev/null)" ]]; then
    GENERATED="$OLD_DEFAULT_PASSWORD" # a data dir from before: its IAM data is sealed with the old password
  else
    GENERATED="$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')"
  fi
fi
export MINIO_ROOT_USER="${MINIO_ROOT_USER:-${BTC_TS_S3_ACCESS_KEY:-btcts-dev}}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-${BTC_TS_S3_SECRET_KEY:-$GENERATED}}"

# umask 077: the file is created 0600 (on Windows' Git Bash the mode is not enforced; see docs/windows.md).
(
  umask 077
  rm -f "$ENV_FILE"
  {
    echo "# written by infra/minio/dev.sh: the dev MinIO's credentials; \`source\` this file"
    printf 'export MINIO_ROOT_USER=%q MINIO_ROOT_PASSWORD=%q\n' "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
    printf 'export BTC_TS_S3_ENDPOINT=%q BTC_TS_S3_BUCKET=%q\n' "http://127.0.0.1:$PORT" "$BUCKET"
    printf 'export BTC_TS_S3_ACCESS_KEY=%q BTC_TS_S3_SECRET_KEY=%q\n' "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
  } >"$ENV_FILE"
)

MINIO="$("$HERE/ensure.sh")"
mkdir -p "$DATA_DIR"
"$MINIO" server "$DATA_DIR" --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$CONSOLE_PORT" --quiet &
PID=$!
echo "$PID $PORT $CONSOLE_PORT" >"$PID_FILE"
cleanup() {
  kill "$PID" 2>/dev/null || true
  # Only our own pid file: a later run may have written its own meanwhile.
  [[ "$(cut -d' ' -f1 "$PID_FILE" 2>/dev/null)" == "$PID" ]] && rm -f "$PID_FILE"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ready means our process still lives and the port answers: a server that died at once (port
# taken, bad data dir) must not pass for a running one.
for _ in $(seq 1 150); do
  kill -0 "$PID" 2>/dev/null || { echo "dev.sh: MinIO (pid $PID) exited during start; see its messages above" >&2; exit 1; }
  health && break
  sleep 0.2
done
kill -0 "$PID" 2>/dev/null && health || { echo "dev.sh: MinIO (pid $PID) did not become ready on port $PORT" >&2; exit 1; }

BTC_TS_S3_ENDPOINT="http://127.0.0.1:$PORT" BTC_TS_S3_BUCKET="$BUCKET" \
BTC_TS_S3_ACCESS_KEY="$MINIO_ROOT_USER" BTC_TS_S3_SECRET_KEY="$MINIO_ROOT_PASSWORD" \
  node "$ROOT/bin/tsnode.mjs" "$HERE/bootstrap.ts"

echo "MinIO is running (pid $PID, data in $DATA_DIR)"
say_where
echo "Ctrl-C stops it."
wait "$PID"
