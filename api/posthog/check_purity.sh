#!/bin/sh
# The PostHog API library does no I/O: none of its objects calls into libc's
# files, sockets, processes or threads, nor into libcurl, librdkafka or
# libpq. (That it needs nothing from pkg/kube's client, pkg/manager or the
# ClickHouse client is proved by api_link_check linking at all.)
# Usage: check_purity.sh LIBPOSTHOG_API.a API_LINK_CHECK
set -eu
lib=$1 exe=$2
forbidden='^(open|openat|fopen|fdopen|freopen|read|write|pread|pwrite|close|socket|connect|bind|listen|accept|accept4|send|sendto|recv|recvfrom|getaddrinfo|fork|execve|execvp|system|popen|pthread_create|unlink|rename|mkdir|opendir|fwrite|fread|fputs|puts|printf|fprintf|curl_.*|rd_kafka_.*|PQ.*|kube_.*|manager_.*|ch_new|ch_exec|ch_query|ch_free|log_.*)$'
bad=$(nm -u "$lib" | awk '$1 == "U" { print $2 }' | sort -u | grep -E "$forbidden" |
      grep -vx 'kube_quantity_canonical' || true)
if [ -n "$bad" ]; then
  echo "the PostHog API library calls out of its purity: $bad" >&2
  exit 1
fi
n=$("$exe")
[ "$n" -gt 0 ] || { echo "api_link_check rendered no objects" >&2; exit 1; }
echo "ok: no I/O symbols; api_link_check linked and rendered $n objects"
