#!/usr/bin/env bash
# Install the Debian and Python packages geak-c needs; safe to re-run.
set -euo pipefail

APT_PKGS=(build-essential pkg-config clang libclang-rt-14-dev
          libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev
          libcurl4-openssl-dev libcjson-dev libcmocka-dev redis-server iproute2 procps
          bubblewrap libseccomp-dev)
PY_PKGS=("torch==2.13.0" triton numpy pytest pyzmq pyyaml kubernetes-validate pyflakes)
# tests/py/test_k8s_manifests.py renders deploy/k8s with `kubectl kustomize`:
# Debian 12's kubernetes-client provides it, unless a kubectl is already
# installed (another package owning /usr/bin/kubectl would conflict).
if ! command -v kubectl >/dev/null 2>&1; then
    APT_PKGS+=(kubernetes-client)
fi

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
    echo "deps: Debian packages present"
fi

PY=${PYTHON:-python3}
if ! $PY - <<'PYEOF' 2>/dev/null
import importlib, sys
import torch, triton, numpy, pytest, zmq, yaml, kubernetes_validate, pyflakes
sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)
PYEOF
then
    echo "deps: installing Python packages: ${PY_PKGS[*]}"
    $PY -m pip install -q "${PY_PKGS[@]}"
else
    echo "deps: Python packages present"
fi

# The LiteLLM proxy, real LLM server software for tests/py/test_litellm.py
# (mock_response models answer the OpenAI and the Anthropic routes). In a
# venv of its own so its pins never meet torch's.
LITELLM_VENV=${GEAK_LITELLM_VENV:-$HOME/.cache/geak-c/litellm}
LITELLM_VERSION=1.108.7
if ! "$LITELLM_VENV/bin/python" -c "import litellm, importlib.metadata as m, sys; \
sys.exit(0 if m.version('litellm') == '$LITELLM_VERSION' else 1)" 2>/dev/null; then
    echo "deps: installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV"
    $PY -m venv "$LITELLM_VENV"
    "$LITELLM_VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
else
    echo "deps: LiteLLM proxy present ($LITELLM_VENV)"
fi
