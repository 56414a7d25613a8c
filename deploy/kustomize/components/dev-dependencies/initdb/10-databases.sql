-- Runs once, when the PostgreSQL data volume is first initialised (docker-entrypoint-initdb.d),
-- as the superuser from the Secret `postgresql-credentials`. One database per service: a service
-- never reads another service's tables. Each service creates its schema itself (embedded
-- migrations at start-up, or the migrations component's Jobs).
CREATE DATABASE catalog;
CREATE DATABASE ordering;
CREATE DATABASE provisioning;
CREATE DATABASE notification;
CREATE DATABASE gateway;
