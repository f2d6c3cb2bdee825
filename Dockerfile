# The proactax service image (worker, and later portal and bot), for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
# Every dependency pinned and hash-checked (docs/security.md, "Dependencies").
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY proactax proactax
COPY core core
COPY ops ops
COPY devtools devtools
COPY tax tax
COPY contracts contracts
COPY streams streams
COPY agents agents
COPY storage storage
COPY notifier notifier
COPY portal portal
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
USER nobody
CMD ["proactax", "worker"]
