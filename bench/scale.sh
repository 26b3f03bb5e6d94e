#!/usr/bin/env bash
# Times sure cp against cp + sync -f on a very large job, one run each,
# onto a fresh ext4 on a loop file, with GNU time (wall, CPU, peak RSS)
# and the cache flushes the loop device received (/sys/block/loopN/stat,
# which counts ext4's own journal commits too). See docs/bench.md,
# "A million files and a 50 GiB sparse file".
#
#   bench/scale.sh tree DIRS PERDIR   # DIRS*PERDIR files of 0-4 KiB
#   bench/scale.sh sparse             # 50 GiB, 4 GiB of data in 32 extents
#
# Needs root. WORK (default /var/tmp/sure-scale) holds the source image
# (16 GiB, sparse), made once and kept for the next call, and the destination
# image, made fresh for each run; SURE is the binary under test (default:
# built from this checkout). Remove WORK when done.
set -euo pipefail
WORK=${WORK:-/var/tmp/sure-scale}
mkdir -p "$WORK"
cd "$(dirname "$0")/.."
if [ -z "${SURE:-}" ]; then
	SURE=$WORK/sure
	go build -o "$SURE" ./cmd/sure
fi
cd "$WORK"
if [ ! -e src.img ]; then
	truncate -s 16G src.img
	mkfs.ext4 -q -F -N 1500000 src.img
fi
mkdir -p src dst
mountpoint -q src || mount -o loop src.img src

case $1 in
tree)
	dirs=$2 per=$3
	job=tree-$dirs-$per
	what=src/$job
	if [ ! -d "$what" ]; then
		# File i holds (i*7919) mod 4097 bytes, i's first and last byte
		# set apart from a fixed pattern.
		python3 - "$what" "$dirs" "$per" <<'PY'
import os, sys
root, dirs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pat = bytes((i * 131 + (i >> 8)) & 255 for i in range(4097))
for d in range(dirs):
    p = os.path.join(root, "d%04d" % d)
    os.makedirs(p)
    for f in range(per):
        i = d * per + f
        n = i * 7919 % 4097
        b = bytearray(pat[:n])
        if n:
            b[0], b[-1] = i & 255, (i >> 8) & 255
        with open(os.path.join(p, "f%07d" % i), "wb") as out:
            out.write(b)
PY
	fi
	cpflags=(-r) sureflags=(-r) inodes=$((dirs * per + dirs + 100000))
	;;
sparse)
	job=sparse
	what=src/sparse
	if [ ! -e "$what" ]; then
		truncate -s 50G "$what"
		for i in $(seq 0 31); do
			dd if=/dev/urandom of="$what" bs=1M count=128 seek=$((i * 1600)) conv=notrunc status=none
		done
	fi
	cpflags=(--sparse=always) sureflags=() inodes=65536
	;;
*)
	echo "usage: $0 tree DIRS PERDIR | sparse" >&2
	exit 2
	;;
esac

# One run of "$@" onto a fresh file system.
one() {
	local name=$1 dev b f0 f1
	shift
	truncate -s 8G dst.img
	mkfs.ext4 -q -F -N "$inodes" dst.img
	dev=$(losetup -f --show dst.img)
	b=$(basename "$dev")
	mount "$dev" dst
	sync -f dst
	echo 3 >/proc/sys/vm/drop_caches
	f0=$(awk '{print $16}' "/sys/block/$b/stat")
	"$@"
	f1=$(awk '{print $16}' "/sys/block/$b/stat")
	echo "$name $job: flushes on $b: $((f1 - f0)); copy: $(du -sk --apparent-size "dst/$(basename "$what")" | cut -f1) KiB, allocated $(du -sk "dst/$(basename "$what")" | cut -f1) KiB; source allocated $(du -sk "$what" | cut -f1) KiB"
	umount dst
	losetup -d "$dev"
	rm -f dst.img
}
t=(/usr/bin/time -f '%C: %e s, user %U s, sys %S s, peak RSS %M KiB')
one "sure cp" "${t[@]}" "$SURE" cp -q "${sureflags[@]}" "$what" dst/
one "cp + sync -f" sh -c "${t[*]@Q} cp ${cpflags[*]} $what dst/ && ${t[*]@Q} sync -f dst"
