# Every runner's image: Python 3.11 + one framework's locked requirements + schemas/ and runners/ only.
# One Dockerfile for all frameworks; `bench images build --framework NAME` stages the build context
# (docs/docker.md) and passes FRAMEWORK=NAME and RUNNER_MODULE=runners.module_for(NAME):
#   Dockerfile                     this file
#   requirements.txt               cpu lock, every pin hashed (the file the venv backend's cpu venv installs)
#   requirements-cuda.txt          cuda lock (e.g. tensorflow[and-cuda], jax[cuda..], torch's CUDA build)
#   requirements*.in               the locks' direct pins (`make locks`); a cuda one may name the CUDA major
#   wheelhouse/                    local wheels for air-gapped builds (pip --find-links); may be empty
#   ca/                            ca-bundle.crt: an extra CA bundle for pip behind a proxy; may be empty
#   src/schemas, src/runners       the runner code
# Built with the classic builder as well as BuildKit (no RUN --mount).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
# The lock is installed as it is: every file hash-checked, nothing resolved beyond it (--no-deps;
# pip check proves it complete), so the image holds the same files as a venv from the same lock.
# cpu: requirements.txt; cuda: requirements-cuda.txt.
# When the lock pins torch (pytorch, keras-torch):
#   cpu: torch's CPU build (`+cpu`, its hash in the lock), from the wheelhouse when one is given,
#     else from TORCH_CPU_INDEX.
#   cuda: the lock names PyTorch's cu128 index itself: PyPI's default torch is the CUDA 13 build,
#     while TensorFlow's [and-cuda] libraries are CUDA 12. The build fails if torch's CUDA major is
#     not requirements-cuda.in's `# cuda-major:` line (what the orchestrator checks the driver against).
ARG VARIANT=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
# OFFLINE=1: resolve from the wheelhouse only, never contact an index (air-gapped hosts).
ARG OFFLINE=
COPY requirements* /build/
COPY wheelhouse/ /build/wheelhouse/
COPY ca/ /build/ca/
RUN set -eu; \
    if [ -s /build/ca/ca-bundle.crt ]; then export PIP_CERT=/build/ca/ca-bundle.crt; fi; \
    if [ -n "$OFFLINE" ]; then export PIP_NO_INDEX=1; fi; \
    case "$VARIANT" in \
        cpu) req=/build/requirements.txt ;; \
        cuda) req=/build/requirements-cuda.txt ;; \
        *) echo "error: VARIANT must be cpu or cuda, not $VARIANT" >&2; exit 1 ;; \
    esac; \
    torch=; \
    if grep -q '^torch==' "$req"; then torch=1; fi; \
    extra=""; \
    if [ -n "$torch" ] && [ "$VARIANT" = cpu ] && ! ls /build/wheelhouse/torch-*.whl >/dev/null 2>&1 \
        && [ -n "$TORCH_CPU_INDEX" ]; then \
        extra="--extra-index-url $TORCH_CPU_INDEX"; \
    fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
        --find-links /build/wheelhouse $extra -r "$req"; \
    /opt/venv/bin/pip check --disable-pip-version-check; \
    if [ -n "$torch" ]; then \
        cuda="$(/opt/venv/bin/python -c 'import torch; print(torch.version.cuda or "")')"; \
        if [ "$VARIANT" = cpu ] && [ -n "$cuda" ]; then \
            echo "error: VARIANT=cpu but pip chose a CUDA $cuda build of torch (give a CPU wheel: --wheelhouse)" >&2; exit 1; \
        fi; \
        if [ "$VARIANT" = cuda ] && [ -z "$cuda" ]; then \
            echo "error: VARIANT=cuda but pip chose a CPU build of torch (leave the CPU wheel out of the wheelhouse)" >&2; exit 1; \
        fi; \
        major="$(sed -n 's/^# *cuda-major: *\([0-9][0-9]*\) *$/\1/p' "${req%.txt}.in" | head -n 1)"; \
        if [ -n "$major" ] && [ "${cuda%%.*}" != "$major" ]; then \
            echo "error: torch is a CUDA $cuda build but $(basename "${req%.txt}.in") says cuda-major: $major" >&2; exit 1; \
        fi; \
    fi

FROM ${BASE_IMAGE}
# Only the finished venv comes over: no wheelhouse, no CA bundle, no pip cache in the image.
COPY --from=deps /opt/venv /opt/venv
# A fixed non-root user (the backend runs jobs as it, or as the invoking user's uid); HOME on the
# job's tmpfs because the root filesystem is read-only at run time.
RUN echo 'bench:x:10001:10001:bench runner:/tmp:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'bench:x:10001:' >> /etc/group
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/bench \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=bench
WORKDIR /opt/bench
COPY src/ /opt/bench/
# FRAMEWORK: the image's framework name (keras-jax); RUNNER_MODULE: its runner package
# (runners.keras_jax, runners.module_for(FRAMEWORK)). Both required.
ARG FRAMEWORK
ARG RUNNER_MODULE
RUN set -eu; \
    if [ -z "${FRAMEWORK:-}" ] || [ -z "${RUNNER_MODULE:-}" ]; then \
        echo "error: build with --build-arg FRAMEWORK=NAME --build-arg RUNNER_MODULE=runners.NAME (bench images build does)" >&2; exit 1; \
    fi; \
    python -m compileall -q /opt/bench && python -c "import ${RUNNER_MODULE}.session"
# What the entry point runs (the docker backend gives its own entrypoint; this is for `docker run`).
ENV BENCH_RUNNER_MODULE=${RUNNER_MODULE}
# Declared late: a changed label value must not invalidate the dependency layers above.
ARG VARIANT=cpu
ARG BASE_IMAGE
ARG SCHEMA_VERSION=unknown
ARG REQUIREMENTS_SHA256=unknown
ARG SOURCE_SHA256=unknown
LABEL org.opencontainers.image.title="bench ${FRAMEWORK} runner" \
      bench.framework=${FRAMEWORK} \
      bench.variant=${VARIANT} \
      bench.base_image=${BASE_IMAGE} \
      bench.schema_version=${SCHEMA_VERSION} \
      bench.requirements_sha256=${REQUIREMENTS_SHA256} \
      bench.source_sha256=${SOURCE_SHA256}
USER 10001:10001
# `docker run IMAGE --spec ...` = `python -m runners.<framework> --spec ...` (sh's $0 is "--").
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$BENCH_RUNNER_MODULE\" \"$@\"", "--"]
