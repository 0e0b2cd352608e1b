# instalab: the app image. docker-compose.yml runs it as `app` (HTTP + /ws/) and `worker` (RQ).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1

WORKDIR /srv/instalab

# The lock alone first, so a code change does not reinstall every dependency.
COPY requirements.lock requirements-s3.lock ./
RUN pip install -r requirements.lock
# Media in an S3-compatible bucket (MEDIA_STORAGE=s3, compose's `scale` profile) adds
# django-storages and boto3; the default image keeps media on a volume and goes without.
ARG WITH_S3=0
RUN if [ "$WITH_S3" = "1" ]; then pip install -r requirements-s3.lock; fi

# Only what runs: no .venv, no var/ (the embedded servers' data), no reports.
COPY manage.py pyproject.toml ./
COPY app ./app
COPY ops ./ops
COPY seed ./seed

RUN useradd --create-home --uid 10001 instalab \
    && mkdir -p /srv/instalab/var/media /srv/instalab/var/prometheus \
    && chown -R instalab:instalab /srv/instalab/var
USER instalab

EXPOSE 8000 8001
# Migrate, then serve. Only the app container runs this; the worker overrides the command
# and waits for the app to be healthy, so two containers never migrate at once.
CMD ["sh", "-c", "python manage.py migrate --no-input && exec python -m ops.serve"]
