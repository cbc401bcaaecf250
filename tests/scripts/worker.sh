#!/bin/sh
# A worker for `fsjobstore work -- ./worker.sh`: the request JSON arrives on stdin.
# Prints "<job id>|<attempt>|<request>" (the fulfilment value); a request that
# contains "fail" fails the attempt with a message on stderr.
request=$(cat)
case "$request" in
  *fail*)
    echo "cannot do $request (attempt $FSJOBSTORE_ATTEMPT)" >&2
    exit 3
    ;;
esac
printf '%s|%s|%s' "$FSJOBSTORE_JOB_ID" "$FSJOBSTORE_ATTEMPT" "$request"
