# The one swarmgrad image: peers (`swarmgrad node`, the default) and the coordinator (`swarmgrad coordinator`), both
# through the one `swarmgrad` bin of the cli package.
#
# Nothing is downloaded while building. The build copies a workspace staged on the host by
# `deploy/docker/prepare-context.sh` (a `pnpm deploy` of the built cli package: compiled JavaScript and its production
# node_modules), so the same Dockerfile builds on a machine without any registry. The base image is the Node.js 22
# Debian bookworm image under its usual tag; where no registry is reachable, build one under that tag first (see
# README, "Local cluster").
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
COPY deploy/docker/app /opt/swarmgrad
# The staged app must load here, offline, or the build stops: both commands parse their options and print their help.
RUN node /opt/swarmgrad/bin/swarmgrad.js node --help >/dev/null \
 && node /opt/swarmgrad/bin/swarmgrad.js coordinator --help >/dev/null

FROM ${NODE_IMAGE}
RUN groupadd --system --gid 10001 swarmgrad \
 && useradd --system --uid 10001 --gid swarmgrad --home-dir /var/lib/swarmgrad --create-home --shell /usr/sbin/nologin swarmgrad \
 && mkdir -p /data /var/lib/swarmgrad/keys /var/lib/swarmgrad/state \
 && chown -R swarmgrad:swarmgrad /var/lib/swarmgrad \
 && chmod 0700 /var/lib/swarmgrad/keys
COPY --from=build /opt/swarmgrad /opt/swarmgrad
RUN ln -s /opt/swarmgrad/bin/swarmgrad.js /usr/local/bin/swarmgrad
COPY deploy/docker/healthcheck.mjs /opt/swarmgrad/healthcheck.mjs
# Inside a container the peer listens and serves /metrics on every interface of its own network namespace; outside
# containers both stay on 127.0.0.1 unless configured.
ENV NODE_ENV=production \
    SWARMGRAD_LOG_FORMAT=json \
    SWARMGRAD_HOST_LISTEN=/ip4/0.0.0.0/tcp/9000 \
    SWARMGRAD_HOST_IDENTITY_FILE=/var/lib/swarmgrad/keys/peer.key \
    SWARMGRAD_METRICS_HOST=0.0.0.0 \
    SWARMGRAD_METRICS_PORT=9464
USER swarmgrad
WORKDIR /var/lib/swarmgrad
EXPOSE 9000 9001 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/opt/swarmgrad/healthcheck.mjs"]
ENTRYPOINT ["node", "/usr/local/bin/swarmgrad"]
CMD ["node"]
