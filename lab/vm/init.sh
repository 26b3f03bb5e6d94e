#!/bin/busybox sh
# PID 1 of the lab's guest. The kernel command line gives sure_share (the
# host path of the writable share, mounted at the same path in the guest)
# and sure_stick (1 when a stick is attached at boot).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m 2>/dev/null || echo "vm: insmod $m failed"
done
H=/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=none hostroot $H || { echo "vm: cannot mount the host root"; poweroff -f; }
mount -t proc proc $H/proc
mount -t sysfs sys $H/sys
mount -t devtmpfs dev $H/dev
mkdir -p $H/dev/pts $H/dev/shm
mount -t devpts devpts $H/dev/pts
mount -t tmpfs tmpfs $H/dev/shm
mount -t debugfs debugfs $H/sys/kernel/debug
for d in tmp run var/tmp media mnt root home; do
	mount -t tmpfs -o mode=1777 tmpfs $H/$d
done
chmod 755 $H/run $H/media $H/mnt $H/root $H/home
mkdir -p $H$sure_share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none share $H$sure_share || { echo "vm: cannot mount the share"; poweroff -f; }
S=$H$sure_share
if [ "$sure_stick" = 1 ]; then
	n=0
	while [ ! -e /sys/block/sda/size ] || [ "$(cat /sys/block/sda/size)" = 0 ]; do
		n=$((n+1))
		[ $n -gt 1200 ] && { echo "vm: no stick after 120 s"; break; }
		sleep 0.1
	done
fi
echo "vm: ready"
: > $S/ready
# Jobs: the host writes N.job (a shell script run in the host root) and
# waits for N.rc; output goes to N.out.
while :; do
	for j in $S/jobs/*.job; do
		[ -e "$j" ] || continue
		n=${j%.job}
		mv "$j" "$n.run"
		if [ "$(cat "$n.run")" = poweroff ]; then
			sync
			poweroff -f
		fi
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot $H /bin/sh "${n#$H}.run" > "$n.out" 2>&1 < /dev/null
		echo $? > "$n.rc.tmp"
		mv "$n.rc.tmp" "$n.rc"
	done
	sleep 0.05
done
