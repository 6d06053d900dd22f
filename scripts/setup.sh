#!/bin/bash
# Install what reco needs on a Debian 12 machine, then build (warnings are
# errors) and install the extension.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages="postgresql-15 postgresql-common postgresql-server-dev-15 libopenblas-dev
libopenblas-serial-dev pkg-config make gcc gzip libipc-run-perl gnuplot-nox python3-numpy"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

make -s clean
make -s COPT=-Werror
$sudo make -s install
