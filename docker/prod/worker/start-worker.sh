#!/bin/sh
# Starts workers/main.ts with an identity unique per container: replicas of `--scale worker=N` share the host's
# network (hence its hostname) and all run as pid 1, so the SDK's default identity (pid@hostname) would be the same
# for every replica and the Web UI / DescribeTaskQueue would show one poller. The identity names the container
# (its id, from the engine's bind mount of /etc/hostname); CORTEX_WORKER_IDENTITY overrides it.
cid=$(grep -o 'containers/[0-9a-f]\{64\}' /proc/self/mountinfo | head -1 | cut -c12-23)
[ -n "$cid" ] || cid=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
exec node --import tsx /app/workers/main.ts --identity "${CORTEX_WORKER_IDENTITY:-rollback-worker-$cid@$(hostname)}" "$@"
