# syntax=docker/dockerfile:1
# The posthog-operator image: built on Debian 12 with the distribution's -dev
# packages, meson and ninja, then copied into debian:12-slim with only the
# shared libraries the binary links. hack/build-release builds the same
# binary the same way (meson release build in build-release/), so the build
# stage is exercised by hack/ even where no container engine runs.
#
#   docker build -t posthog-operator:dev .

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config meson ninja-build \
      libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev libwebsockets-dev zlib1g-dev \
      librdkafka-dev libpq-dev libzookeeper-mt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore leaves out build output, charts, docs and tooling.
COPY . .
# Unit tests (Check) are not built here: hack/test runs them. werror is off
# for this -O3 build only (see hack/build-release); hack/test keeps it on.
RUN meson setup --buildtype=release -Dtests=disabled -Dwerror=false build-release \
 && ninja -C build-release operator/posthog-operator plugin/kubectl-posthog \
 && strip --strip-unneeded build-release/operator/posthog-operator build-release/plugin/kubectl-posthog \
 && build-release/operator/posthog-operator --version \
 && build-release/plugin/kubectl-posthog version

FROM debian:12-slim
# Exactly the runtime libraries the binary links (ldd): curl, cJSON, libyaml,
# OpenSSL, libwebsockets, librdkafka and libpq (the router); ca-certificates for TLS to anything outside the
# cluster (the in-cluster API server uses the service-account CA).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libcjson1 libyaml-0-2 libssl3 libwebsockets17 librdkafka1 libpq5 libzookeeper-mt2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /usr/share/doc/* /usr/share/man/*
COPY --from=build /src/build-release/operator/posthog-operator /usr/local/bin/posthog-operator
# The kubectl plugin (docs/kubectl-plugin.md) travels in the image too, so
# that `docker cp` or an init container can take it where no release
# download is possible; it links nothing the operator does not (plus zlib,
# which debian:12-slim has).
COPY --from=build /src/build-release/plugin/kubectl-posthog /usr/local/bin/kubectl-posthog
# 65532 is the conventional "nonroot" uid/gid; the chart runs it with a
# read-only root filesystem.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/posthog-operator"]
