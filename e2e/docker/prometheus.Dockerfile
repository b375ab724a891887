# A stand-in for prom/prometheus built from Debian's `prometheus` binary (no image registry is reachable in CI). The
# test builds it under the tag docker-compose.yml names; same entry point, user and storage path as the real one.
FROM node:22-bookworm-slim
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
