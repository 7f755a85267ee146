# The runner image: envsync plus the engines' client tools, run by the
# CronJobs as a non-root user with a read-only root filesystem and a
# writable /tmp (an emptyDir), matching their securityContext:
#   runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001,
#   readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
#   capabilities: drop [ALL].

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/envsync ./cmd/envsync

# mongosh runs the Mongo sanitise and transform scripts (JavaScript); the
# runner itself needs no Mongo tool. Node.js comes with it from the same image.
FROM node:20-bookworm-slim AS mongosh
ARG MONGOSH_VERSION=2.12.0
RUN npm install --prefix /opt/mongosh --no-audit --no-fund "mongosh@${MONGOSH_VERSION}"

FROM debian:bookworm-slim
# pg_dump refuses a server of a newer major version than its own, and
# bookworm ships PostgreSQL 15. The PGDG repository's client of the newest
# major dumps and restores every older server, so the image takes it from
# there; raise PG_MAJOR when the estate's newest server goes past it.
# MariaDB's client (mariadb-dump, alias mysqldump) reads MySQL 8 servers.
ARG PG_MAJOR=17
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends ca-certificates curl; \
	install -d /usr/share/postgresql-common/pgdg; \
	curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
		https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
	echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
		>/etc/apt/sources.list.d/pgdg.list; \
	apt-get update; \
	apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" mariadb-client; \
	apt-get purge -y curl; \
	apt-get autoremove -y; \
	rm -rf /var/lib/apt/lists/*
COPY --from=build /out/envsync /usr/local/bin/envsync
COPY --from=mongosh /usr/local/bin/node /usr/local/bin/node
COPY --from=mongosh /opt/mongosh /opt/mongosh
RUN ln -s /opt/mongosh/node_modules/.bin/mongosh /usr/local/bin/mongosh

# The PGDG tools first, without Debian's pg_wrapper choosing for us.
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/tmp \
	TMPDIR=/tmp
# A numeric user, so that runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/envsync"]
CMD ["run", "--help"]
