# Strato's processes (api, worker, agents) share one image; the command picks the role.
FROM python:3.11-slim
WORKDIR /opt/strato
COPY pyproject.toml README.md ./
COPY strato ./strato
RUN pip install --no-cache-dir ".[server]" && useradd --system strato
USER strato
ENTRYPOINT ["strato"]
CMD ["api", "--host", "0.0.0.0", "--port", "8080"]
