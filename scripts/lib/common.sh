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

# release_build_flags: how scripts/install and scripts/bench build release binaries, as
# arguments to `swift build`, one per line. The Swift runtime is linked in
# (`--static-swift-stdlib`: the binaries run without Swift installed, and gantryd starts
# ~4 MB smaller). With the toolchain's lld the binaries export no symbols (the static
# runtime's link arguments export every symbol of the program: 2.8 MB of dynamic symbol
# tables that nothing loads them for) and, where the build host's glibc is 2.36 or later,
# relative relocations are packed (`-z pack-relative-relocs`: the 3.4 MB of `.rela.dyn`
# the loader reads at every start become 28 KB; such binaries need glibc ≥ 2.36 where they
# run). Together: idle gantryd 34.6 → 30.1 MB RSS.
release_build_flags() {
  local flags=(-c release --static-swift-stdlib)
  local swift_bin glibc
  swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
  if [ -x "$swift_bin/ld.lld" ] || command -v ld.lld >/dev/null 2>&1; then
    flags+=(-Xswiftc -use-ld=lld -Xlinker --no-export-dynamic)
    glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    if [ -n "$glibc" ] && [ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -n1)" = 2.36 ]; then
      flags+=(-Xlinker -z -Xlinker pack-relative-relocs)
    fi
  fi
  printf '%s\n' "${flags[@]}"
}
