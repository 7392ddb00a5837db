"""Runner images: names, labels, the staged build context, building and inspecting.

One image per (framework, variant), tagged `bench-<framework>:<variant>` (variant cpu or cuda). Its
labels say what it was built from, so a stale image is refused instead of silently benchmarking old
code or other pins:

    bench.requirements_sha256   envs.lock_hash: sha256 of the lock file installed
    bench.source_sha256         sha256 over every file of schemas/ and runners/ copied in
    bench.schema_version        the JobSpec/RunReport schema version the runner speaks

Every framework's image is built from one Dockerfile, images/runner.Dockerfile, with build args
FRAMEWORK and RUNNER_MODULE (runners.module_for(framework)); a framework has an image when it is
registered (runners.FRAMEWORKS) and has a lock, images/<framework>/requirements.txt. The build
context is staged into a folder (never the repository root): that Dockerfile (as `Dockerfile`), the
locks and their inputs (images/<framework>/requirements*.txt, *.in), src/schemas, src/runners, and
the optional wheelhouse/ and ca/ folders. The engine is reached through the Docker SDK
(`docker>=7`), imported only here and in backends/docker.py.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.envs import IMAGES, lock_file, lock_hash
from runners import FRAMEWORKS, module_for
from schemas.common import ROOT
from schemas.job import SCHEMA_VERSION

DOCKERFILE = IMAGES / "runner.Dockerfile"  # shared by every runner image
SOURCE_PACKAGES = ("schemas", "runners")
VARIANTS = ("cpu", "cuda")
CA_NAME = "ca-bundle.crt"
WHEEL_SUFFIXES = (".whl", ".tar.gz", ".zip")


class EngineUnavailable(RuntimeError):
    """No Docker engine answered (or the SDK is missing); the message is one line."""


class ImageBuildError(RuntimeError):
    """A build failed; the message names the step and the last lines of its output."""


# --- pure: names, hashes, labels, context -------------------------------------------------------


def image_tag(framework: str, variant: str) -> str:
    return f"bench-{framework}:{variant}"


def has_image(framework: str) -> bool:
    """A registered runner with a lock (images/<framework>/requirements.txt) gets an image."""
    return framework in FRAMEWORKS and (IMAGES / framework / "requirements.txt").is_file()


def frameworks_with_images() -> tuple[str, ...]:
    return tuple(sorted(fw for fw in FRAMEWORKS if has_image(fw)))


def _source_files() -> Iterator[tuple[str, Path]]:
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
                yield rel.as_posix(), path


def source_sha256() -> str:
    """Names and contents of what the image gets of schemas/ and runners/: a change to any runner
    file makes every image stale."""
    h = hashlib.sha256()
    for rel, path in _source_files():
        h.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def expected_labels(framework: str, variant: str) -> dict[str, str]:
    return {
        "bench.framework": framework,
        "bench.variant": variant,
        "bench.schema_version": str(SCHEMA_VERSION),
        "bench.requirements_sha256": lock_hash(framework, variant),
        "bench.source_sha256": source_sha256(),
    }


def staleness(labels: dict[str, str] | None, framework: str, variant: str) -> str | None:
    """Why an image with these labels must not run this checkout's jobs, or None."""
    labels = labels or {}
    want = expected_labels(framework, variant)
    why = {
        "bench.framework": "it is another framework's image",
        "bench.variant": "it is another variant",
        "bench.schema_version": "it speaks another schema version",
        "bench.requirements_sha256": f"{lock_file(framework, variant).relative_to(ROOT)} changed",
        "bench.source_sha256": "schemas/ or runners/ changed since it was built",
    }
    for key, reason in why.items():
        if labels.get(key) != want[key]:
            return reason
    return None


def build_args(framework: str, variant: str, base_image: str | None, offline: bool) -> dict[str, str]:
    args = {
        "FRAMEWORK": framework,
        "RUNNER_MODULE": module_for(framework),
        "VARIANT": variant,
        "SCHEMA_VERSION": str(SCHEMA_VERSION),
        "REQUIREMENTS_SHA256": lock_hash(framework, variant),
        "SOURCE_SHA256": source_sha256(),
    }
    if base_image:
        args["BASE_IMAGE"] = base_image
    if offline:
        args["OFFLINE"] = "1"
    return args


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.hardlink_to(src)  # a wheelhouse of several hundred MB need not be copied
    except OSError:
        shutil.copy2(src, dst)


def stage_context(
    framework: str, dest: Path, wheelhouse: Path | None = None, ca_bundle: Path | None = None
) -> Path:
    """Write the build context of `framework` into `dest` (created, must not exist) and return it."""
    src_dir = IMAGES / framework
    if not has_image(framework):
        raise FileNotFoundError(
            f"no image for {framework!r}: not a registered runner with {src_dir / 'requirements.txt'}"
        )
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise FileNotFoundError(f"wheelhouse {wheelhouse} is not a directory")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise FileNotFoundError(f"CA bundle {ca_bundle} is not a file")
    dest.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, dest / "Dockerfile")
    for req in sorted(src_dir.glob("requirements*.txt")) + sorted(src_dir.glob("requirements*.in")):
        shutil.copy2(req, dest / req.name)
    for rel, path in _source_files():
        target = dest / "src" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for name in ("wheelhouse", "ca"):  # always present, so the Dockerfile's COPY never fails
        (dest / name).mkdir()
        (dest / name / "README").write_text(f"{name}: optional, filled by `bench images build`\n")
    if wheelhouse is not None:
        for wheel in sorted(wheelhouse.iterdir()):
            if wheel.is_file() and wheel.name.endswith(WHEEL_SUFFIXES):
                _link_or_copy(wheel, dest / "wheelhouse" / wheel.name)
    if ca_bundle is not None:
        shutil.copyfile(ca_bundle, dest / "ca" / CA_NAME)
    return dest


# --- engine ------------------------------------------------------------------------------------


def connect(timeout: float | None = 30) -> Any:
    """A DockerClient whose engine answered a ping; EngineUnavailable otherwise.

    `timeout` bounds every API call's socket reads; None for calls that may stay silent for long
    (streaming a quiet job's logs, a build step that downloads for minutes)."""
    try:
        import docker
    except ImportError:
        raise EngineUnavailable("the docker Python package is missing (pip install 'docker>=7')") from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException or a requests error, by transport
        raise EngineUnavailable(f"no Docker engine answered ({_one_line(exc)})") from None
    return client


def gpu_runtime(client: Any) -> bool:
    """Whether the engine can hand GPUs to containers: NVIDIA's runtime registered with it, or its
    prestart hook on the PATH (what `--gpus` / device requests use)."""
    runtimes = (client.info().get("Runtimes") or {}).keys()
    return "nvidia" in runtimes or shutil.which("nvidia-container-runtime-hook") is not None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    id: str  # sha256:... of the image config: what reports record as image_digest
    repo_digests: tuple[str, ...]
    created: str
    size_bytes: int
    labels: dict[str, str]

    @property
    def digest(self) -> str:
        """The registry digest when the image came from or went to a registry, else the image id
        (content-addressed too, and all that exists for a locally built image)."""
        return self.repo_digests[0] if self.repo_digests else self.id


def find_image(client: Any, tag: str) -> ImageInfo | None:
    from docker.errors import ImageNotFound

    try:
        attrs = client.api.inspect_image(tag)
    except ImageNotFound:
        return None
    return ImageInfo(
        tag=tag,
        id=attrs["Id"],
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        created=attrs.get("Created", "")[:19].replace("T", " "),
        size_bytes=int(attrs.get("Size") or 0),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
    )


def check_image(client: Any, framework: str, variant: str) -> tuple[ImageInfo | None, str | None]:
    """(image, None) when a current image exists, else (image or None, why it cannot be used)."""
    tag = image_tag(framework, variant)
    if not has_image(framework):
        return (
            None,
            f"{framework} has no image (no registered runner with images/{framework}/requirements.txt)",
        )
    info = find_image(client, tag)
    if info is None:
        return None, f"image {tag} is not built"
    reason = staleness(info.labels, framework, variant)
    return info, (f"image {tag} is stale: {reason}" if reason else None)


def build_image(
    client: Any,
    framework: str,
    variant: str,
    *,
    base_image: str | None = None,
    wheelhouse: Path | None = None,
    ca_bundle: Path | None = None,
    offline: bool = False,
    network: str | None = None,
    no_cache: bool = False,
    context_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> ImageInfo:
    """Build `bench-<framework>:<variant>` (the layer cache is reused unless no_cache)."""
    tag = image_tag(framework, variant)
    args = build_args(framework, variant, base_image, offline)
    scratch = None
    if context_dir is None:
        scratch = tempfile.mkdtemp(prefix=f"bench-{framework}-context-")
        context = stage_context(framework, Path(scratch) / "context", wheelhouse, ca_bundle)
    else:
        context = stage_context(framework, context_dir, wheelhouse, ca_bundle)
    tail: list[str] = []
    start = time.monotonic()
    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            buildargs=args,
            rm=True,
            forcerm=True,
            pull=False,  # FROM a local base (no registry) must work; `docker pull` it yourself
            nocache=no_cache,
            network_mode=network,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageBuildError(
                    f"building {tag} failed: {' '.join(str(detail).split())[:500]}"
                    + ("\n" + "\n".join(tail[-15:]) if tail else "")
                )
            text = chunk.get("stream")
            if text:
                for line in text.rstrip("\n").splitlines():
                    tail.append(line)
                    log(line)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    info = find_image(client, tag)
    if info is None:
        raise ImageBuildError(f"building {tag} reported no error but the image is not there")
    log(f"built {tag} {info.id} ({info.size_bytes / 1e9:.2f} GB) in {time.monotonic() - start:.0f}s")
    return info
