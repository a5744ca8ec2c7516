# pdacrad — PDAC detection on portal-venous CT, Grand-Challenge / PANORAMA algorithm container.
#   ./build.sh   build the image        ./test.sh   run it on tests/container/input and compare outputs
#   ./export.sh  build + docker save | gzip, for upload to Grand Challenge
# Runs as a non-root user with --network none: the model (resources/) is baked in; nothing is downloaded at run time.
# torch's CUDA 13 wheels bring their own CUDA/cuDNN libraries; the base image supplies the matching user-space
# runtime for the NVIDIA container toolkit.
FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pdacrad pins Python 3.11 (pyproject requires-python); Ubuntu 24.04 ships 3.12, so take 3.11 from deadsnakes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gpg-agent software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && apt-get purge -y --auto-remove software-properties-common gpg-agent \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system algorithm \
    && useradd --system --gid algorithm --create-home --home-dir /home/algorithm algorithm \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/algorithm

# Dependencies first (own layer, cached while only our code changes), all pinned by constraints.txt.
COPY --chown=root:root pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY src/ src/
COPY training/ training/
RUN pip install --no-deps -c constraints.txt .

COPY resources/ resources/
COPY process.py ./

# nnU-Net warns when its folders are unset and matplotlib wants a writable cache; neither is used for inference.
ENV nnUNet_raw=/tmp/nnUNet_raw \
    nnUNet_preprocessed=/tmp/nnUNet_preprocessed \
    nnUNet_results=/tmp/nnUNet_results \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/home/algorithm

USER algorithm

ENTRYPOINT ["python", "process.py"]
