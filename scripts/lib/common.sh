# shellcheck shell=bash
# Shared helpers for Gantry's scripts. Source it; safe under `set -euo pipefail`.
# All progress goes to stderr so callers can keep stdout for results.

gantry_log() { printf '[gantry] %s\n' "$*" >&2; }

# Echo the cache dir (creating it): $GANTRY_CACHE, else $XDG_CACHE_HOME/gantry, else ~/.cache/gantry.
gantry_cache_dir() {
  local d="${GANTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry}"
  mkdir -p "$d"
  printf '%s\n' "$d"
}

# Run a command as root (sudo only when we are not root already).
_gantry_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_GANTRY_APT_UPDATED=${_GANTRY_APT_UPDATED:-0}

# ensure_apt PKG...: install only the Debian packages that are not installed yet.
ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  gantry_log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Try straight away (lists may already be there); update once if that fails.
  if [ "$_GANTRY_APT_UPDATED" = 1 ] || ! _gantry_as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    if [ "$_GANTRY_APT_UPDATED" != 1 ]; then
      _gantry_as_root apt-get update -q >&2
      _GANTRY_APT_UPDATED=1
    fi
    _gantry_as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
}

_gantry_venv_ok() {
  [ -f "$1/.gantry-venv-ok" ] && "$1/bin/python" -c 'import sys' >/dev/null 2>&1
}

# _gantry_venv_create VENV: (re)create the venv; callers hold the venv lock.
_gantry_venv_create() {
  local venv="$1"
  _gantry_venv_ok "$venv" && return 0
  command -v python3 >/dev/null 2>&1 || ensure_apt python3
  # Debian's python3 has `venv` but no `ensurepip` until python3-venv is installed.
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || ensure_apt python3-venv
  gantry_log "creating venv at $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  touch "$venv/.gantry-venv-ok"
}

# ensure_venv: create the venv at "$(gantry_cache_dir)/venv" if needed; echo its python.
ensure_venv() {
  local venv
  venv="$(gantry_cache_dir)/venv"
  if ! _gantry_venv_ok "$venv"; then
    ( flock 9; _gantry_venv_create "$venv" ) 9>"$venv.lock"
  fi
  printf '%s\n' "$venv/bin/python"
}

# ensure_pip NAME==VER...: pip install into the venv only what is missing or at another version.
ensure_pip() {
  local py spec name want have todo=()
  py="$(ensure_venv)"
  for spec in "$@"; do
    name="${spec%%==*}"
    want="${spec#*==}"
    have="$("$py" -c 'import sys
from importlib.metadata import version, PackageNotFoundError
try: print(version(sys.argv[1]))
except PackageNotFoundError: pass' "$name" 2>/dev/null || true)"
    if [ "$spec" = "$name" ]; then
      [ -n "$have" ] || todo+=("$spec")
    elif [ "$have" != "$want" ]; then
      todo+=("$spec")
    fi
  done
  [ "${#todo[@]}" -eq 0 ] && return 0
  gantry_log "pip: installing ${todo[*]}"
  ( flock 9; "$py" -m pip install -q --disable-pip-version-check "${todo[@]}" >&2 ) 9>"${py%/bin/python}.lock"
}
