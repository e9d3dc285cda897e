# The service image: the API (uvicorn) and the Celery worker run from it.
# Built from the repository root: docker build -f docker/service.Dockerfile .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# PIP_OPTS=--no-index when scripts/build-images prepared wheels/service on the host.
ARG PIP_OPTS=
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY wheels/service/ /tmp/wheels/
COPY pyproject.toml README.md /src/
COPY codefeedback /src/codefeedback
COPY service /src/service
COPY workers /src/workers
COPY runners /src/runners
RUN python3 -m venv /opt/venv \
 && if ls /tmp/wheels/codefeedback-*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-cache-dir $PIP_OPTS --find-links /tmp/wheels \
        "$(ls /tmp/wheels/codefeedback-*.whl)[server]"; \
    else /opt/venv/bin/pip install --no-cache-dir "/src[server]"; fi \
 && rm -rf /tmp/wheels /root/.cache
RUN echo 'cfs:x:10002:10002:codefeedback:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'cfs:x:10002:' >> /etc/group
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin
WORKDIR /tmp
EXPOSE 8000
CMD ["uvicorn", "service.app:app", "--host", "0.0.0.0", "--port", "8000"]
