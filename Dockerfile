# syntax=docker/dockerfile:1
#
# The sfn-agent image: nothing but /sfn-agent, a static binary to copy into any image.
#
#   docker build -t sfn-agent .
#
#   # in your image (see examples/docker/):
#   COPY --from=sfn-agent /sfn-agent /usr/local/bin/sfn-agent
#   ENTRYPOINT ["/usr/local/bin/sfn-agent", "--"]
#   CMD ["/app/job.sh"]
#
# The build stage runs exactly `make static` (scripts/static.sh), the same command as on a
# developer's machine and in CI, so the binary in the image is the one that was tested: musl,
# OpenSSL, libcurl and cJSON built from Debian 12's source packages, Debian's CA bundle built in.
#
# SFN_AGENT_BINARY=prebuilt takes the binaries `make static` already built instead, from a build
# context holding amd64/sfn-agent and/or arm64/sfn-agent (the platform's, by TARGETARCH); the
# last stage is the same either way.  `make dist` and the container tests build it so:
#
#   podman build --build-arg SFN_AGENT_BINARY=prebuilt --platform linux/arm64 -f Dockerfile DIR
ARG SFN_AGENT_BINARY=build

FROM debian:12 AS build
# The tools scripts/static.sh needs (it names the same list when one is missing).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      musl-tools gcc libc6-dev dpkg-dev perl make binutils file patch \
      ca-certificates debian-archive-keyring git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mount only keeps the built libraries between image builds (as ~/.cache does for
# `make static`); the step is the same without it.
RUN --mount=type=cache,target=/root/.cache/sfn-agent-deps \
    make static && mkdir -p /out && cp dist/sfn-agent /out/sfn-agent

FROM scratch AS prebuilt
ARG TARGETARCH
COPY ${TARGETARCH}/sfn-agent /out/sfn-agent

FROM ${SFN_AGENT_BINARY} AS binary

FROM scratch
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="sfn-agent" \
      org.opencontainers.image.description="Static entrypoint for ECS tasks run by AWS Step Functions (waitForTaskToken): runs the command, relays its logs, sends heartbeats, forwards signals, reaps zombies and reports exactly one result." \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=binary /out/sfn-agent /sfn-agent
ENTRYPOINT ["/sfn-agent"]
CMD ["--help"]
