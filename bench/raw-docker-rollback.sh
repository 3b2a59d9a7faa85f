#!/usr/bin/env bash
# Baseline for the benchmark: the runbook's Scenario 1 as a plain script with the docker CLI —
# stop, remove, run the target with the same env, poll /health until healthy (every POLL seconds, 0.1 unless
# given; the workflow polls every 0.02 s in the first second).
# Usage: raw-docker-rollback.sh NAME TARGET_IMAGE PORT [POLL]
set -euo pipefail
name=$1 image=$2 port=$3 poll=${4:-0.1}
docker stop -t 10 "$name" >/dev/null
docker rm "$name" >/dev/null
docker run -d --name "$name" --network host --restart unless-stopped \
  -e PORT="$port" -e HOST=127.0.0.1 "$image" >/dev/null
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then exit 0; fi
  sleep "$poll"
done
echo "not healthy" >&2
exit 1
