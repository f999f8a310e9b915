# infra/lib.sh: the shell helpers bin/vigil and the infra scripts share (sourced, never run).
# The caller defines `say` and `die` (each prefixes its own name).

# Run a command as root: directly when root, through password-less sudo when allowed; else fail.
privileged() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

# Install Debian packages (refreshing the package lists once if the first try fails), or stop
# with the exact command for someone who can.
apt_install() {
  say "installing Debian packages: $*"
  if ! privileged env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    privileged apt-get update -q >/dev/null || true
    privileged env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
      die "could not install packages; run: sudo apt-get install $*"
  fi
}
