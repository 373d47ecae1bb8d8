# syntax=docker/dockerfile:1
# gputel's container image: one image for every role (streamer, collector,
# gateway, start, and the client and admin commands), chosen by its arguments:
#   docker run IMAGE gateway --etcd http://etcd:2379 --api-keys-file /run/secrets/api-keys
#
# Two stages on the same base image: better-sqlite3 (the embedded store of
# `gputel start`) is a native module, so it is installed where it runs: same
# Debian (bookworm), same glibc, same Node ABI. The build stage also has the
# compilers in case no prebuilt binary matches and node-gyp has to build it.
# The base is pinned to an exact Node release; pin its digest too
# (node:20.20.2-bookworm-slim@sha256:…) where your registry policy asks for it.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The lock file alone first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY web ./web
# tsc compiles src, test and bench (tsconfig.json); the image keeps only dist/src and dist/web.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GPUTEL_DATA_DIR=/data \
    GPUTEL_PORT=8080
WORKDIR /app
# What `npm pack` would ship (package.json "files"), plus the pruned production node_modules.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/web ./dist/web
COPY --from=build /src/web/graphiql ./web/graphiql
COPY --from=build /src/web/dashboard/favicon.svg ./web/dashboard/favicon.svg
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
# The embedded store of `gputel start` (the separate roles keep nothing on disk).
# 1000 is the base image's `node` user; numeric so that Kubernetes' runAsNonRoot can check it.
RUN mkdir -p /data && chown 1000:1000 /data
VOLUME ["/data"]
USER 1000:1000
# 8080: the gateway's API (and `gputel start`), and the ops port (/healthz, /readyz, /metrics)
# of the streamer and collector, which take a free port unless GPUTEL_PORT says (it does here).
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "bin/gputel.js"]
CMD ["start", "--host", "0.0.0.0"]
