# syntax=docker/dockerfile:1

# One target, `api`: runs `switchboard serve`; ROLE chooses api, worker or all. The web console is
# a static export built here and served by the API process at `/`.
# The API has no build step: its TypeScript sources run through tsx.

FROM node:20-bookworm-slim AS base
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 \
    TURBO_TELEMETRY_DISABLED=1 \
    npm_config_update_notifier=false

# Every workspace's dependencies. argon2 is a native module set up by its install script, which
# compiles it when no prebuilt binary fits, so this stage has python3, make and g++.
FROM base AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/console/package.json apps/console/
COPY packages/core/package.json packages/core/
COPY packages/db/package.json packages/db/
RUN npm ci --no-audit --no-fund
COPY . .

FROM deps AS build
RUN npm run build -w @switchboard/console

FROM base AS api
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/data
COPY --from=build /app /app
# The embedded database's folder, used only when DATABASE_URL is unset (one process only).
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 4000
CMD ["node", "apps/api/bin/switchboard.mjs", "serve"]
