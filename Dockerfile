# pdacrad — PDAC detection on portal-venous CT, Grand-Challenge / PANORAMA algorithm container.
#   ./build.sh   build the image          ./test.sh   run it on tests/container/input and compare outputs
#   ./export.sh  docker save | gzip, for upload (--model: the model tarball on its own)
#   make container-test   the whole check: build, run as GC does, invalid input, export, load, run the loaded image
#
# BASE_IMAGE contract: a Debian-family image with `python3.11` and its `venv` module on PATH; apt installs the rest.
# Default python:3.11-slim-bookworm, because:
#   - size: ~150 MB of Debian + CPython 3.11 (pyproject pins 3.11), against ~3 GB for an nvidia/cuda runtime;
#   - CUDA comes with torch's own wheels (nvidia-cublas, -cudnn, ... as pip packages), so a CUDA base image would
#     hold the same libraries twice;
#   - the driver is not in any image: the NVIDIA container toolkit injects it at `docker run --gpus all`.
# Where public registries are unreachable, docker/local-base.sh makes a qualifying local base (debootstrap'd
# bookworm + python3.11) and `./build.sh --build-arg BASE_IMAGE=...` swaps it in; nothing else differs.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python-base
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# ---- requirements: the runtime dependency set ([project].dependencies, no extras) as a requirements file, so
# ---- the install below is cached on that list and constraints.txt, not on every edit of pyproject.toml.
FROM python-base AS requirements
WORKDIR /build
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt

# ---- builder: compilers for the one sdist-only dependency (pyradiomics-bhklab has a C extension and no wheel
# ---- for every platform); the runtime stage copies the finished virtual environment, never the compilers.
FROM python-base AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && if [ ! -f "$(python3.11 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then \
           apt-get install -y --no-install-recommends python3.11-dev; fi \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Every version pinned by constraints.txt. Own layer: a code change never reinstalls torch. Left out, as nothing
# the image runs loads them (files deleted, no third-party module changed):
#   - triton (0.9 GB): serves only torch.compile, which inference never calls (eager CPU and CUDA do not load it);
#   - the test suites wheels ship in `tests/` folders (~190 MB: sympy, scikit-learn, scipy, networkx, ...);
#   - CUDA libraries that no library of torch or of the CUDA wheels links or names (checked with readelf and
#     strings): the multi-GPU solver libcusolverMg and nvrtc's "alt" build (~210 MB).
COPY constraints.txt ./
COPY --from=requirements /build/runtime-requirements.txt ./
RUN pip install -c constraints.txt -r runtime-requirements.txt \
    && pip uninstall -y triton \
    && site=/opt/venv/lib/python3.11/site-packages \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && rm -f "$site"/nvidia/cu13/lib/libcusolverMg.so.* "$site"/nvidia/cu13/lib/libnvrtc.alt.so.* \
        "$site"/nvidia/cu13/lib/libnvrtc-builtins.alt.so.*

# ---- package: pdacrad's own wheel (pure Python), built apart so that /opt/venv above stays byte-identical.
FROM builder AS package
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip wheel --no-deps -c constraints.txt --wheel-dir /build/dist .

# ---- runtime: no compiler, no headers, no training tree, non-root, no network needed at run time.
FROM python-base AS runtime
RUN groupadd --system algorithm \
    && useradd --system --gid algorithm --create-home --home-dir /home/algorithm algorithm \
    && mkdir -p /opt/ml/model
COPY --from=builder /opt/venv /opt/venv
COPY --from=package /build/dist/ /tmp/dist/
# The image holds no training tree (.dockerignore), so its console script goes too.
RUN pip install --no-deps --no-index /tmp/dist/*.whl \
    && rm -rf /tmp/dist /opt/venv/bin/pdacrad-train

WORKDIR /opt/algorithm
COPY resources/ resources/
COPY process.py ./

# The radiomics engine's numba kernels, compiled once here by one run of the pipeline on a synthetic phantom, into a
# seed cache that each run copies into its writable /tmp (numba needs a writable cache; without the seed every fresh
# container compiles them again: ~20 s per case measured). numba keys its cache by CPU model: on another CPU model
# the kernels compile at the first case, as without the seed.
RUN python -c "import os, SimpleITK as sitk; from pdacrad.synth.cohort import generate_case; \
ct = generate_case('warmup', 7, True, 'hypo', size_xyz=(160, 160, 48))[0]; \
os.makedirs('/tmp/warmup/images/venous-ct'); sitk.WriteImage(ct, '/tmp/warmup/images/venous-ct/warmup.mha')" \
    && NUMBA_CACHE_DIR=/opt/numba-cache-seed MPLCONFIGDIR=/tmp/matplotlib nnUNet_raw=/tmp/x nnUNet_preprocessed=/tmp/x \
       nnUNet_results=/tmp/x python process.py --input /tmp/warmup --output /tmp/warmup-out --device cpu \
    && chmod -R a+rX /opt/numba-cache-seed && rm -rf /tmp/warmup /tmp/warmup-out /tmp/x /tmp/matplotlib

# Everything the run writes goes under /tmp (a tmpfs with --read-only): nnU-Net's folders (unused but checked),
# matplotlib's and numba's caches. Model: /opt/ml/model/resources/ when Grand Challenge extracted a separately
# uploaded model tarball there (./export.sh --model), else resources/ above.
ENV nnUNet_raw=/tmp/nnUNet_raw \
    nnUNet_preprocessed=/tmp/nnUNet_preprocessed \
    nnUNet_results=/tmp/nnUNet_results \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    PDACRAD_NUMBA_CACHE_SEED=/opt/numba-cache-seed \
    HOME=/home/algorithm

USER algorithm

ENTRYPOINT ["python", "process.py"]
