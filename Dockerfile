# syntax=docker/dockerfile:1.7
# AIDiary release images, built by the staging stack (infra/docker/app-image.ts) or by CI for prod:
#   docker build --target app  -t <registry>/aidiary-app:<tag>  .
#   docker build --target edge -t <registry>/aidiary-edge:<tag> .
# Node.js 26, the Active LTS line (Node.js 20 reached end of life in April 2026). The bundles
# target node20 (scripts/build.mjs), so they also run on the Node.js 20 of developer machines.
ARG NODE_IMAGE=node:26-trixie-slim
# `resolve` on an upstream server needs nginx >= 1.27.3 (open source); 1.28 is the stable line.
ARG NGINX_IMAGE=nginx:1.28-alpine

# --- build: dev dependencies + esbuild bundle (dist/app.mjs, dist/cli.mjs) ---------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY app ./app
COPY infra ./infra
COPY nginx ./nginx
RUN node scripts/build.mjs
# Static files for the edge image (absent is fine: nginx then answers 404 under /static/).
RUN mkdir -p /out/static && if [ -d app/static ]; then cp -a app/static/. /out/static/; fi

# --- prod-deps: runtime node_modules only ------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /srv/aidiary
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- edge: nginx + static files; config comes from the stack (upload / ConfigMap) --------------
FROM ${NGINX_IMAGE} AS edge
COPY --from=build /out/static /usr/share/aidiary/static
RUN mkdir -p /etc/nginx/aidiary && chown -R 101:101 /etc/nginx/aidiary
# Unprivileged: the rendered config listens on 8080 and writes only under /tmp.
USER 101
EXPOSE 8080
CMD ["nginx", "-p", "/etc/nginx/aidiary/", "-c", "/etc/nginx/aidiary/nginx.conf"]

# --- app (default target): the Node server and the aidiary CLI ----------------------------------
FROM ${NODE_IMAGE} AS app
ENV NODE_ENV=production
WORKDIR /srv/aidiary
COPY --from=prod-deps /srv/aidiary/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --from=build /src/dist ./dist
# Templates, static files and migrations are read from the source tree at run time.
COPY app ./app
COPY bin ./bin
# The image's `node` user (uid 1000): never root.
USER node
EXPOSE 3000
# infra/topology/app-runtime.ts appCommand (test/infra/stack-files.test.ts checks they match).
CMD ["node", "--heap-growing-percent=50", "--max-semi-space-size=4", "dist/app.mjs"]
