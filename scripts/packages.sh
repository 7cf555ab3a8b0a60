# Sourced by setup.sh and cross-setup.sh: what a Debian (or Ubuntu) machine has, and one
# way to install what it lacks.
have() { command -v "$1" >/dev/null 2>&1; }

# install_packages WHO PACKAGE...: apt-get installs them (through sudo unless root), saying
# WHO asked; nothing when no package is named.
install_packages() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "$who: installing $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
